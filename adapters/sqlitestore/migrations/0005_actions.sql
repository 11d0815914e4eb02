-- Action records (store.ActionStore): every tracked action, kept for the
-- user's history and the rules' signals until expires_at. Times are UNIX
-- milliseconds; passed_at and reviewed_at are NULL until they happen.
CREATE TABLE actions (
	id          TEXT PRIMARY KEY,
	user_id     TEXT NOT NULL,
	action      TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	outcome     TEXT NOT NULL,
	prefix      TEXT NOT NULL,
	browser     TEXT NOT NULL,
	result      TEXT NOT NULL DEFAULT '',
	passed_at   INTEGER,
	kind        TEXT NOT NULL DEFAULT '',
	review      TEXT NOT NULL DEFAULT '',
	reviewer    TEXT NOT NULL DEFAULT '',
	review_note TEXT NOT NULL DEFAULT '',
	reviewed_at INTEGER,
	binding     BLOB,
	data        BLOB
) STRICT;

CREATE INDEX actions_user_created ON actions (user_id, created_at DESC, id DESC);
CREATE INDEX actions_user_passed ON actions (user_id, passed_at) WHERE passed_at IS NOT NULL;
CREATE INDEX actions_pending_reviews ON actions (created_at, id) WHERE review = 'PENDING';
CREATE INDEX actions_expiry ON actions (expires_at);

-- When a challenge's state changes, so does the result of the action
-- record of the same ID (if any), in the same statement: its kind becomes
-- the answering credential's, and a consume (state CONSUMED) sets
-- passed_at to the statement's now, which ConsumeChallenge writes to
-- challenges.changed_at.
ALTER TABLE challenges ADD COLUMN changed_at INTEGER;

CREATE TRIGGER challenges_action_result AFTER UPDATE OF state ON challenges
WHEN NEW.state <> OLD.state
BEGIN
	UPDATE actions SET
		result = NEW.state,
		kind = coalesce((SELECT kind FROM credentials WHERE id = NEW.credential_id), kind),
		passed_at = CASE WHEN NEW.state = 'CONSUMED' THEN NEW.changed_at ELSE passed_at END
	WHERE id = NEW.id AND user_id = NEW.user_id;
END;
