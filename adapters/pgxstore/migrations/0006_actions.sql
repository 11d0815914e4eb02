-- Action records (store.ActionStore): every tracked action, kept for the
-- user's history and the rules' signals until expires_at. passed_at and
-- reviewed_at are NULL until they happen.
CREATE TABLE actions (
    id          text PRIMARY KEY,
    user_id     text NOT NULL,
    action      text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    outcome     text NOT NULL,
    prefix      text NOT NULL,
    browser     text NOT NULL,
    result      text NOT NULL DEFAULT '',
    passed_at   timestamptz,
    kind        text NOT NULL DEFAULT '',
    review      text NOT NULL DEFAULT '',
    reviewer    text NOT NULL DEFAULT '',
    review_note text NOT NULL DEFAULT '',
    reviewed_at timestamptz,
    binding     bytea,
    data        bytea
);

CREATE INDEX actions_user_created ON actions (user_id, created_at DESC, id DESC);
CREATE INDEX actions_user_passed ON actions (user_id, passed_at) WHERE passed_at IS NOT NULL;
CREATE INDEX actions_pending_reviews ON actions (created_at, id) WHERE review = 'PENDING';
CREATE INDEX actions_expiry ON actions (expires_at);

-- When a challenge's state changes, so does the result of the action
-- record of the same ID (if any), in the same statement: its kind becomes
-- the answering credential's, and a consume (state CONSUMED) sets
-- passed_at to the statement's now, which ConsumeChallenge writes to
-- challenges.changed_at. The function finds the tables in the schema of
-- the table that fired it.
ALTER TABLE challenges ADD COLUMN changed_at timestamptz;

CREATE FUNCTION action_follows_challenge() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UPDATE %1$I.actions a SET
            result = $1,
            kind = COALESCE((SELECT cr.kind FROM %1$I.credentials cr WHERE cr.id = $2), a.kind),
            passed_at = CASE WHEN $1 = ''CONSUMED'' THEN $3 ELSE a.passed_at END
        WHERE a.id = $4 AND a.user_id = $5', TG_TABLE_SCHEMA)
    USING NEW.state, NEW.credential_id, NEW.changed_at, NEW.id, NEW.user_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER challenges_action_result
    AFTER UPDATE OF state ON challenges
    FOR EACH ROW WHEN (NEW.state IS DISTINCT FROM OLD.state)
    EXECUTE FUNCTION action_follows_challenge();
