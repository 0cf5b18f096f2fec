-- Vault-compatible login MFA (seed 002): methods, the login enforcements
-- that require them, and people's TOTP enrolments. A method's secrets
-- (PingID token and key, Okta API token, Duo keys) are sealed with the
-- key-encryption key; what a read shows is in settings.
CREATE TABLE mfa_methods (
    id               TEXT PRIMARY KEY,
    method_type      TEXT NOT NULL,
    name             TEXT NOT NULL,
    username_format  TEXT NOT NULL,
    settings         TEXT NOT NULL,
    secrets_sealed   BYTEA NOT NULL,
    version          BIGINT NOT NULL,
    created_at       BIGINT NOT NULL
);
-- method_name is unique when given.
CREATE UNIQUE INDEX mfa_methods_name ON mfa_methods (name) WHERE name <> '';
CREATE INDEX mfa_methods_type ON mfa_methods (method_type, id);

CREATE TABLE mfa_enforcements (
    name        TEXT PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    document    TEXT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
-- Which methods each enforcement uses: a method in use cannot be deleted.
CREATE TABLE mfa_enforcement_methods (
    enforcement  TEXT NOT NULL REFERENCES mfa_enforcements(name) ON DELETE CASCADE,
    method_id    TEXT NOT NULL REFERENCES mfa_methods(id),
    PRIMARY KEY (enforcement, method_id)
);
CREATE INDEX mfa_enforcement_methods_method ON mfa_enforcement_methods (method_id);

-- A person's secret for one TOTP method, made when they enrol at sign-on,
-- with the method's parameters as they were then (params, JSON), so a later
-- change of the method does not break authenticators already set up.
-- last_step refuses a code's reuse; failures count toward the method's
-- max_validation_attempts until failed_until passes.
CREATE TABLE mfa_totp_enrolments (
    method_id      TEXT NOT NULL REFERENCES mfa_methods(id) ON DELETE CASCADE,
    account_id     TEXT NOT NULL,
    params         TEXT NOT NULL,
    secret_sealed  BYTEA NOT NULL,
    last_step      BIGINT NOT NULL,
    failures       BIGINT NOT NULL,
    failed_until   BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (method_id, account_id)
);

-- Bumped by every write of methods or enforcements, so an instance can
-- tell whether what it built from them (a LIST answer) is still current.
CREATE TABLE mfa_generation (
    id          BIGINT PRIMARY KEY,
    generation  BIGINT NOT NULL
);
INSERT INTO mfa_generation (id, generation) VALUES (1, 0);
