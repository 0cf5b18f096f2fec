-- Access tokens that carry no grant family (a worker's client-credentials
-- tokens) are revoked by subject: every token of `subject` issued at or
-- before `revoked_at` is refused, e.g. after its secret is rotated.
CREATE TABLE revoked_subjects (
    subject     TEXT PRIMARY KEY,
    revoked_at  BIGINT NOT NULL
);
