-- Additive only: the release before this one runs unchanged beside it.
--
-- The token that replaced a spent refresh token, while it may still be
-- handed out again within the refresh reuse interval (issue 18). Cleared
-- once it has been: a token is reissued at most once.
ALTER TABLE refresh_tokens ADD COLUMN successor_hash BYTEA;

-- A signing key published ahead of its use (scheduled rotation): it signs
-- from this time on. NULL: from its creation.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT;
