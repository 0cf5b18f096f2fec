-- Bumped by every change to an account's credentials, roles or state: the
-- admin API's ETag, and what keeps a cached password verification valid.
ALTER TABLE accounts ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
