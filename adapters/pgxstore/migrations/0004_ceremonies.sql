-- Ceremonies (a passkey registration's or sign-in's state between its two
-- requests), a record of their own: before, they were challenges marked
-- CEREMONY. user_id is '' when nobody is known yet. Taken once: a DELETE …
-- RETURNING of an unexpired row.
CREATE TABLE ceremonies (
    id           text COLLATE "C" PRIMARY KEY,
    user_id      text COLLATE "C" NOT NULL,
    kind         text NOT NULL,
    data         bytea,
    first_device boolean NOT NULL,
    created_at   timestamptz,
    expires_at   timestamptz
);
CREATE INDEX ceremonies_by_expiry ON ceremonies (expires_at);
