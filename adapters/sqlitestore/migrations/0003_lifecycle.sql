-- A registration token minted while the user had no credential enrols only
-- while the user still has none. Tokens of the previous release read as 0.
ALTER TABLE registration_tokens ADD COLUMN first_device INTEGER NOT NULL DEFAULT 0;

-- Recovery codes, by SHA-256 only; a user's set is replaced as a whole.
CREATE TABLE recovery_codes (
	user_id TEXT NOT NULL,
	hash    BLOB NOT NULL,
	PRIMARY KEY (user_id, hash)
) STRICT, WITHOUT ROWID;
