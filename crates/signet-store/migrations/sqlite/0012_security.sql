-- Issue 15 (an outside attack's findings).
-- Where and when a device authorization was asked for, to show the person
-- approving it in the Administrators environment (device-code phishing).
ALTER TABLE device_codes ADD COLUMN requested_from TEXT;
ALTER TABLE device_codes ADD COLUMN requested_at INTEGER NOT NULL DEFAULT 0;
-- The lock's second budget and its bookkeeping: second-factor failures,
-- which only someone who gave the right password can spend; attempts
-- refused during the current lock, counted for the trail, not recorded each.
ALTER TABLE accounts ADD COLUMN otp_failed_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN otp_locked_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN lock_refused INTEGER NOT NULL DEFAULT 0;
-- Attempts being checked right now, per budget, reserved before the check:
-- parallel guesses cannot all pass the lock before any is counted. A
-- reservation older than a minute is a crashed request's, and lapses.
ALTER TABLE accounts ADD COLUMN pending_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN pending_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN otp_pending_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN otp_pending_since INTEGER NOT NULL DEFAULT 0;
-- A browser that completed a sign-on for an account carries a device
-- cookie; its failures count here, against it alone, not the account.
CREATE TABLE device_lockouts (
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    device_hash     BLOB NOT NULL,
    failed_attempts INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    pending_attempts INTEGER NOT NULL DEFAULT 0,
    pending_since   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, device_hash)
);
-- PKCE for confidential clients too (RFC 9700 §2.1.1), unless an
-- application opts out explicitly.
ALTER TABLE applications ADD COLUMN pkce_required INTEGER NOT NULL DEFAULT 1;
