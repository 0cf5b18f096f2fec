-- Key-bound sessions (issue 6): the access token lifetime the session
-- chose, and when it ends, refreshes included. NULL for other families.
ALTER TABLE grants ADD COLUMN session_seconds BIGINT;
ALTER TABLE grants ADD COLUMN session_ends BIGINT;
