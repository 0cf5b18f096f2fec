-- Key-bound sessions (issue 6): the access token lifetime the session
-- chose, and when it ends, refreshes included. NULL for other families.
ALTER TABLE grants ADD COLUMN session_seconds BIGINT;
ALTER TABLE grants ADD COLUMN session_ends BIGINT;
-- The family a token exchange minted this one from; revoked with it.
ALTER TABLE grants ADD COLUMN parent_id TEXT;
CREATE INDEX grants_parent ON grants (parent_id);
