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

-- Which local account a person at an upstream issuer is: keyed by the
-- issuer and its `sub`, never by the provider record or an email, so
-- re-pointing a provider at another issuer breaks its links instead of
-- handing them over. provider_id records through which provider the link
-- was made. No foreign key to accounts: a /bulk import replaces the
-- accounts with the same ids, and the links must survive it.
CREATE TABLE federated_links (
    issuer          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    provider_id     TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX federated_links_account ON federated_links (account_id);
