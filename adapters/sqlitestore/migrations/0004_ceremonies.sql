-- Ceremonies (a passkey registration's or sign-in's state between its two
-- requests), a record of their own: before, they were challenges marked
-- CEREMONY. user_id is '' when nobody is known yet. Taken once: a DELETE …
-- RETURNING of an unexpired row.
CREATE TABLE ceremonies (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL,
	kind         TEXT NOT NULL,
	data         BLOB,
	first_device INTEGER NOT NULL,
	created_at   INTEGER,
	expires_at   INTEGER
) STRICT;

CREATE INDEX ceremonies_expiry ON ceremonies (expires_at);
