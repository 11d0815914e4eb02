-- A registration token minted while the user had no credential enrols only
-- while the user still has none. Tokens of the previous release read as false.
ALTER TABLE registration_tokens ADD COLUMN first_device boolean NOT NULL DEFAULT false;

-- Recovery codes, by SHA-256 only; a user's set is replaced as a whole.
CREATE TABLE recovery_codes (
    user_id text NOT NULL,
    hash    bytea NOT NULL,
    PRIMARY KEY (user_id, hash)
);
