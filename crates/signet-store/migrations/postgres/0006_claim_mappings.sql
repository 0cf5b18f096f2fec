-- Claim-mapping expressions (ExpressionAdmin): evaluated when tokens are
-- issued, one custom claim each, per environment.
CREATE TABLE claim_mappings (
    id              TEXT PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments(id),
    claim           TEXT NOT NULL,
    expression      TEXT NOT NULL,
    version         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (environment_id, claim)
);

-- What expressions read about a person: a JSON object per account, set by
-- Admins on end users; kept apart so token paths without mappings never read it.
CREATE TABLE account_attributes (
    account_id  TEXT PRIMARY KEY REFERENCES accounts(id),
    value       TEXT NOT NULL
);
