-- A keyed audit chain (issue 15, finding 6). The head records where the
-- keyed chain starts (the sealing event's seq; NULL before it is sealed),
-- where pruning left the chain (moved here from the `audit.pruned` setting,
-- which a configuration import replaced), that anchor's MAC under the chain
-- key, and the last period a checkpoint was written for, so one instance
-- writes each.
ALTER TABLE audit_head ADD COLUMN keyed_from INTEGER;
ALTER TABLE audit_head ADD COLUMN pruned_seq INTEGER;
ALTER TABLE audit_head ADD COLUMN pruned_hash BLOB;
ALTER TABLE audit_head ADD COLUMN pruned_mac BLOB;
ALTER TABLE audit_head ADD COLUMN checkpoint_period INTEGER NOT NULL DEFAULT 0;
UPDATE audit_head SET
    pruned_seq = (SELECT CAST(json_extract(value, '$.seq') AS INTEGER) FROM settings WHERE key = 'audit.pruned'),
    pruned_hash = (SELECT unhex(json_extract(value, '$.hash')) FROM settings WHERE key = 'audit.pruned')
WHERE id = 1;
DELETE FROM settings WHERE key = 'audit.pruned';

-- The chain key and the checkpoint signing key, sealed under the
-- key-encryption key. One row: the first instance to start writes it.
CREATE TABLE audit_keys (
    id                  INTEGER PRIMARY KEY,
    chain_sealed        BLOB NOT NULL,
    checkpoint_sealed   BLOB NOT NULL,
    created_at          INTEGER NOT NULL
);
