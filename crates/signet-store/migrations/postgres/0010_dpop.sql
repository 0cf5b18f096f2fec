-- DPoP (RFC 9449, issue 6). Each proof's jti is spent once, across every
-- instance on this database: the key is the SHA-256 of the key's
-- thumbprint and the jti, kept until the proof could no longer be fresh.
CREATE TABLE dpop_jtis (
    key         BYTEA PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX dpop_jtis_expiry ON dpop_jtis (expires_at);

-- A family bound to a DPoP key: its refresh tokens need proofs of it.
ALTER TABLE grants ADD COLUMN jkt TEXT;
