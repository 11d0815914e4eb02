-- Notify a challenge's changes only while a waiter watches it
-- (docs/stores.md, "Wake-ups and NOTIFY"). Up to version 3 every insert and
-- update of a challenge sent a NOTIFY, and PostgreSQL serialises the
-- commits of notifying transactions server-wide: each cycle queued three
-- times behind every other session's. Now watchers counts the waiters
-- watching the challenge, across all instances (Store.Watch adds one and
-- takes it back when the waiter leaves), and only an update of a row that
-- counts a waiter notifies: not inserts (a challenge's ID is unknown outside
-- the call that creates it until then), not a change of the count itself,
-- not the changes of challenges nobody waits for. Watch's update and a
-- writer's update take the same row lock, so a change committed after Watch
-- returns is one of a row that counts the waiter.

ALTER TABLE challenges ADD COLUMN watchers integer NOT NULL DEFAULT 0;

DROP TRIGGER challenges_notify ON challenges;
CREATE TRIGGER challenges_notify
    AFTER UPDATE ON challenges
    FOR EACH ROW WHEN (OLD.watchers > 0 AND NEW.watchers = OLD.watchers)
    EXECUTE FUNCTION notify_challenge_change();
