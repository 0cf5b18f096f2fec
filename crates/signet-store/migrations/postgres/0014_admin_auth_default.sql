-- The admin API's authentication: a new installation takes native Basic and
-- the OAuth tokens of its own Administrators environment, and its bootstrap
-- writes that down. A store bootstrapped before this step had no settings
-- row, which meant native alone: that is written down here, so an upgrade
-- keeps exactly what it had. A store not bootstrapped yet is left alone.
INSERT INTO settings (key, value)
SELECT 'admin_api.authentication', '{"schemes":["native"]}'
WHERE EXISTS (SELECT 1 FROM environments)
  AND NOT EXISTS (SELECT 1 FROM settings WHERE key = 'admin_api.authentication');
