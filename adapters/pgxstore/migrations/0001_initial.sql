-- deviceauth schema, version 1. Run by Migrate inside one transaction with
-- search_path set to the target schema, so names here are unqualified.
-- Identifiers compare byte-wise (COLLATE "C"), as the store contract orders
-- by ID.

CREATE TABLE credentials (
    id           text COLLATE "C" PRIMARY KEY,
    user_id      text COLLATE "C" NOT NULL,
    kind         text NOT NULL,
    algorithm    text NOT NULL,
    public_key   bytea,
    name         text NOT NULL,
    platform     text NOT NULL,
    push_token   text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,          -- NULL until first use
    sign_count   bigint NOT NULL,
    flags        bigint NOT NULL,
    passkey      bytea
);
CREATE INDEX credentials_by_user ON credentials (user_id, created_at, id);

CREATE TABLE challenges (
    id                   text COLLATE "C" PRIMARY KEY,
    user_id              text COLLATE "C" NOT NULL,   -- '' for an unclaimed QR challenge
    action               text NOT NULL,
    state                text NOT NULL,
    method               text NOT NULL,
    methods              text[],
    nonce                bytea,
    details              bytea,
    details_digest       bytea,
    verification_code    text NOT NULL,
    idempotency_key      text NOT NULL,
    client_ip            text NOT NULL,
    user_agent           text NOT NULL,
    origin               text NOT NULL,
    created_at           timestamptz NOT NULL,
    expires_at           timestamptz NOT NULL,
    credential_id        text NOT NULL,
    deny_reason          text NOT NULL,
    answered_at          timestamptz,          -- NULL until answered
    attempts             integer NOT NULL,
    claimed_by           text NOT NULL,
    claim_secret_hash    bytea,
    browser_binding_hash bytea,
    passkey              bytea
);
CREATE INDEX challenges_pending_by_user ON challenges (user_id, created_at, id) WHERE state = 'PENDING';
CREATE INDEX challenges_by_expiry ON challenges (expires_at);

-- One row per (user, idempotency key): the challenge that holds the key
-- until expires_at (the challenge's own). A new challenge takes the key over
-- only once that has passed, decided by INSERT … ON CONFLICT, which is atomic
-- under racing creates.
CREATE TABLE challenge_idempotency (
    user_id      text COLLATE "C" NOT NULL,
    key          text COLLATE "C" NOT NULL,
    challenge_id text COLLATE "C" NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX challenge_idempotency_by_expiry ON challenge_idempotency (expires_at);

CREATE TABLE registration_tokens (
    hash       bytea PRIMARY KEY,   -- SHA-256 of the token
    user_id    text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX registration_tokens_by_expiry ON registration_tokens (expires_at);

CREATE TABLE counters (
    key        text COLLATE "C" PRIMARY KEY,
    value      bigint NOT NULL,
    window_end timestamptz NOT NULL
);
CREATE INDEX counters_by_window_end ON counters (window_end);

CREATE TABLE nonces (
    nonce      text COLLATE "C" PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX nonces_by_expiry ON nonces (expires_at);

-- Every insert or update of a challenge notifies the schema's channel (named
-- after the schema) with the challenge ID, in the writer's transaction: a
-- rolled-back change wakes nobody, and every writer wakes every instance.
CREATE FUNCTION notify_challenge_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA, NEW.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER challenges_notify
    AFTER INSERT OR UPDATE ON challenges
    FOR EACH ROW EXECUTE FUNCTION notify_challenge_change();
