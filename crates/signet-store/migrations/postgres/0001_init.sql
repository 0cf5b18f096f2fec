-- signet's first schema (PostgreSQL). Times are Unix seconds; flags are 0/1 integers.
CREATE TABLE environments (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    username        TEXT NOT NULL,
    password_hash   TEXT,
    active          BIGINT NOT NULL,
    admin           BIGINT NOT NULL,
    roles           TEXT NOT NULL,
    auditor         BIGINT NOT NULL,
    totp_sealed     BYTEA,
    totp_confirmed  BIGINT NOT NULL,
    totp_last_step  BIGINT NOT NULL,
    failed_attempts BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (environment_id, username)
);

CREATE TABLE applications (
    id              TEXT PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    secret_hash     BYTEA,
    redirect_uris   TEXT NOT NULL,
    grant_types     TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    roles           TEXT NOT NULL,
    admin_api       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    public_jwk      TEXT NOT NULL,
    private_sealed  BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    retired_at      BIGINT
);
CREATE INDEX signing_keys_env ON signing_keys (environment_id);

CREATE TABLE grants (
    id              TEXT PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    scope           TEXT NOT NULL,
    auth_time       BIGINT NOT NULL,
    amr             TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);

CREATE TABLE refresh_tokens (
    hash        BYTEA PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

CREATE TABLE auth_codes (
    hash            BYTEA PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    nonce           TEXT,
    code_challenge  TEXT,
    auth_time       BIGINT NOT NULL,
    amr             TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT,
    grant_id        TEXT
);

CREATE TABLE device_codes (
    device_hash     BYTEA PRIMARY KEY,
    user_code       TEXT NOT NULL UNIQUE,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    scope           TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    interval_secs   BIGINT NOT NULL,
    last_polled_at  BIGINT,
    status          TEXT NOT NULL,
    account_id      TEXT,
    auth_time       BIGINT,
    amr             TEXT
);

CREATE TABLE revoked_jtis (
    jti         TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE login_flows (
    id              TEXT PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    cookie_hash     BYTEA NOT NULL,
    csrf            TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    step            TEXT NOT NULL,
    version         BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);

CREATE TABLE browser_sessions (
    hash            BYTEA PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    auth_time       BIGINT NOT NULL,
    amr             TEXT NOT NULL,
    expires_at      BIGINT NOT NULL
);

CREATE TABLE settings (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);

CREATE TABLE audit_head (
    id      BIGINT PRIMARY KEY,
    seq     BIGINT NOT NULL,
    hash    BYTEA NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '\x'::bytea);

CREATE TABLE audit_events (
    seq             BIGINT PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    at              BIGINT NOT NULL,
    environment_id  TEXT,
    body            TEXT NOT NULL,
    prev_hash       BYTEA NOT NULL,
    hash            BYTEA NOT NULL
);
