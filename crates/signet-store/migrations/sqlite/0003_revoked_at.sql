-- When an access token was revoked, so instances can pick up revocations made elsewhere.
ALTER TABLE revoked_jtis ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX revoked_jtis_revoked_at ON revoked_jtis (revoked_at);
CREATE INDEX grants_revoked_at ON grants (revoked_at);
