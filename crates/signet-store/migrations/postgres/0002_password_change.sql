-- A password set by someone else (break-glass recovery) must be replaced at the next sign-on.
ALTER TABLE accounts ADD COLUMN password_change_required BIGINT NOT NULL DEFAULT 0;
