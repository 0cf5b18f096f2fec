-- signet's first schema (SQLite). Times are Unix seconds; flags are 0/1 integers.
CREATE TABLE environments (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    username        TEXT NOT NULL,
    password_hash   TEXT,
    active          INTEGER NOT NULL,
    admin           INTEGER NOT NULL,
    roles           TEXT NOT NULL,
    auditor         INTEGER NOT NULL,
    totp_sealed     BLOB,
    totp_confirmed  INTEGER NOT NULL,
    totp_last_step  INTEGER NOT NULL,
    failed_attempts INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (environment_id, username)
);

CREATE TABLE applications (
    id              TEXT PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    secret_hash     BLOB,
    redirect_uris   TEXT NOT NULL,
    grant_types     TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    roles           TEXT NOT NULL,
    admin_api       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    public_jwk      TEXT NOT NULL,
    private_sealed  BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    retired_at      INTEGER
);
CREATE INDEX signing_keys_env ON signing_keys (environment_id);

CREATE TABLE grants (
    id              TEXT PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    scope           TEXT NOT NULL,
    auth_time       INTEGER NOT NULL,
    amr             TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER
);

CREATE TABLE refresh_tokens (
    hash        BLOB PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

CREATE TABLE auth_codes (
    hash            BLOB PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    nonce           TEXT,
    code_challenge  TEXT,
    auth_time       INTEGER NOT NULL,
    amr             TEXT NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER,
    grant_id        TEXT
);

CREATE TABLE device_codes (
    device_hash     BLOB PRIMARY KEY,
    user_code       TEXT NOT NULL UNIQUE,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    scope           TEXT NOT NULL,
    expires_at      INTEGER NOT NULL,
    interval_secs   INTEGER NOT NULL,
    last_polled_at  INTEGER,
    status          TEXT NOT NULL,
    account_id      TEXT,
    auth_time       INTEGER,
    amr             TEXT
);

CREATE TABLE revoked_jtis (
    jti         TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE login_flows (
    id              TEXT PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    cookie_hash     BLOB NOT NULL,
    csrf            TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    step            TEXT NOT NULL,
    version         INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);

CREATE TABLE browser_sessions (
    hash            BLOB PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    auth_time       INTEGER NOT NULL,
    amr             TEXT NOT NULL,
    expires_at      INTEGER NOT NULL
);

CREATE TABLE settings (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);

CREATE TABLE audit_head (
    id      INTEGER PRIMARY KEY,
    seq     INTEGER NOT NULL,
    hash    BLOB NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, X'');

CREATE TABLE audit_events (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    at              INTEGER NOT NULL,
    environment_id  TEXT,
    body            TEXT NOT NULL,
    prev_hash       BLOB NOT NULL,
    hash            BLOB NOT NULL
);
