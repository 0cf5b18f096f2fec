-- External OpenID providers people of an environment sign on through
-- (issue 7). The client secret is sealed with the key-encryption key;
-- settings holds the scopes, just-in-time creation and MFA trust as JSON.
-- An environment's providers go with it.
CREATE TABLE identity_providers (
    id              TEXT PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    issuer          TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    secret_sealed   BYTEA NOT NULL,
    settings        TEXT NOT NULL,
    version         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (environment_id, name)
);
