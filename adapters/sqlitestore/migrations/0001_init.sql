-- 0001: the first schema. Times are unix milliseconds (NULL for the zero
-- time); byte slices are BLOBs; Challenge.Methods is a JSON array.

CREATE TABLE credentials (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL,
	kind         TEXT NOT NULL,
	algorithm    TEXT NOT NULL,
	public_key   BLOB,
	name         TEXT NOT NULL,
	platform     TEXT NOT NULL,
	push_token   TEXT NOT NULL,
	created_at   INTEGER,
	last_used_at INTEGER,
	sign_count   INTEGER NOT NULL,
	flags        INTEGER NOT NULL,
	passkey      BLOB
) STRICT;

CREATE INDEX credentials_by_user ON credentials (user_id, created_at, id);

CREATE TABLE challenges (
	id                   TEXT PRIMARY KEY,
	user_id              TEXT NOT NULL,
	action               TEXT NOT NULL,
	state                TEXT NOT NULL,
	method               TEXT NOT NULL,
	methods              TEXT NOT NULL,
	nonce                BLOB,
	details              BLOB,
	details_digest       BLOB,
	verification_code    TEXT NOT NULL,
	idempotency_key      TEXT NOT NULL,
	client_ip            TEXT NOT NULL,
	user_agent           TEXT NOT NULL,
	origin               TEXT NOT NULL,
	created_at           INTEGER,
	expires_at           INTEGER,
	credential_id        TEXT NOT NULL,
	deny_reason          TEXT NOT NULL,
	answered_at          INTEGER,
	attempts             INTEGER NOT NULL,
	claimed_by           TEXT NOT NULL,
	claim_secret_hash    BLOB,
	browser_binding_hash BLOB,
	passkey              BLOB,
	-- version goes up by one at every change; Watch pollers compare it.
	version              INTEGER NOT NULL
) STRICT;

CREATE INDEX challenges_pending ON challenges (user_id, state, created_at, id);
CREATE INDEX challenges_idempotency ON challenges (user_id, idempotency_key) WHERE idempotency_key <> '';
CREATE INDEX challenges_expiry ON challenges (expires_at);

CREATE TABLE registration_tokens (
	hash       BLOB PRIMARY KEY,
	user_id    TEXT NOT NULL,
	created_at INTEGER,
	expires_at INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX registration_tokens_expiry ON registration_tokens (expires_at);

CREATE TABLE counters (
	key        TEXT PRIMARY KEY,
	value      INTEGER NOT NULL,
	window_end INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX counters_expiry ON counters (window_end);

CREATE TABLE nonces (
	nonce      TEXT PRIMARY KEY,
	expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX nonces_expiry ON nonces (expires_at);
