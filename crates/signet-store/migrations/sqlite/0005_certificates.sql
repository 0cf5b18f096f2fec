-- Certificates managed by CryptoAdmins: imported, exported and deleted
-- through the admin API. Those trusted for mutual TLS are the admin API's
-- client-certificate trust anchors. A private key, when imported with its
-- certificate, is sealed with the key-encryption key before it gets here.
CREATE TABLE certificates (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    pem                 TEXT NOT NULL,
    sha256              TEXT NOT NULL UNIQUE,
    subject             TEXT NOT NULL,
    issuer              TEXT NOT NULL,
    not_before          BIGINT NOT NULL,
    not_after           BIGINT NOT NULL,
    trusted_for_mtls    BIGINT NOT NULL,
    private_key_sealed  BLOB,
    created_at          BIGINT NOT NULL
);
