-- Notify only the changes of challenges somebody watches (docs/stores.md,
-- "Wake-ups and NOTIFY"). Up to version 3 every insert and update of a
-- challenge sent a NOTIFY, and PostgreSQL serialises the commits of
-- notifying transactions server-wide: each cycle queued three times behind
-- every other session's. Now Store.Watch sets watched on the challenge (it
-- never goes back), and only updates of a row that was already watched
-- notify: not inserts (a challenge's ID is unknown outside the call that
-- creates it until then), not the update that sets watched, not the changes
-- of challenges nobody waits for. Watch's update and a writer's update take
-- the same row lock, so a change committed after Watch returns is always
-- one of a watched row.

ALTER TABLE challenges ADD COLUMN watched boolean NOT NULL DEFAULT false;

DROP TRIGGER challenges_notify ON challenges;
CREATE TRIGGER challenges_notify
    AFTER UPDATE ON challenges
    FOR EACH ROW WHEN (OLD.watched)
    EXECUTE FUNCTION notify_challenge_change();
