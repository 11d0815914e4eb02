package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/store"
)

// CreateChallenge implements [store.ChallengeStore]. The record is stored
// first; then the user's pending index and, with an idempotency key, the
// key's mapping are written by one script in the user's tag. Without an
// idempotency key both go in one pipeline. (BeginChallenge is the one
// script that does it all, where it may.)
func (s *Store) CreateChallenge(ctx context.Context, c store.Challenge, now time.Time) (store.Challenge, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Challenge{}, err
	}
	f, err := encodeChallenge(c)
	if err != nil {
		return store.Challenge{}, wrap("CreateChallenge", err)
	}
	keys := []string{s.keys.challenge(c.ID)}
	rec, more := s.recordArgs(c, now, keys)
	args := append([]any{ttl(c.ExpiresAt, now, challengeGrace), s.keys.wakeChannel(), c.ID}, rec...)
	create := call{challengeCreate, append(keys, more...), append(args, f...)}
	if c.IdempotencyKey != "" {
		return s.createIdempotent(ctx, c, create, now)
	}
	calls := []call{create}
	if c.UserID != "" {
		calls = append(calls, s.indexCall(c, now, false, ""))
	}
	cmds := s.runPipelined(ctx, calls...)
	created, err := cmds[0].Int()
	if err != nil {
		return store.Challenge{}, wrap("CreateChallenge", err)
	}
	if created == 0 {
		return store.Challenge{}, store.ErrConflict
	}
	if len(cmds) > 1 && cmds[1].Err() != nil {
		return store.Challenge{}, wrap("CreateChallenge: indexing", cmds[1].Err())
	}
	if err := s.recordApart(ctx, "CreateChallenge", c, len(more) > 0); err != nil {
		return store.Challenge{}, err
	}
	return storedChallenge(c), nil
}

// createIdempotent creates c, whose idempotency key is set, unless an
// unexpired challenge of its user holds the key: that one is returned and
// c's record, whose ID nobody knows yet, deleted again. The record is
// stored before the key is claimed, so the holder of a key always has a
// record to return.
func (s *Store) createIdempotent(ctx context.Context, c store.Challenge, create call, now time.Time) (store.Challenge, error) {
	stale := "" // a holder of the key whose record is gone
	for attempt := range 3 {
		created, err := s.run(ctx, create).Int()
		if err != nil {
			return store.Challenge{}, wrap("CreateChallenge", err)
		}
		if created == 0 {
			if attempt == 0 {
				return s.repeatOfExistingID(ctx, c, now)
			}
			return store.Challenge{}, store.ErrConflict
		}
		holder, err := s.run(ctx, s.indexCall(c, now, true, stale)).Text()
		if err != nil {
			return store.Challenge{}, wrap("CreateChallenge: idempotency key", err)
		}
		if holder == "" {
			if err := s.recordApart(ctx, "CreateChallenge", c, len(create.keys) > 1); err != nil {
				return store.Challenge{}, err
			}
			return storedChallenge(c), nil
		}
		var (
			existing *redis.MapStringStringCmd
			deleted  *redis.IntCmd
		)
		_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			existing = p.HGetAll(ctx, s.keys.challenge(holder))
			deleted = p.Del(ctx, s.keys.challenge(c.ID))
			return nil
		})
		if err := cmp.Or(existing.Err(), deleted.Err()); err != nil {
			return store.Challenge{}, wrap("CreateChallenge: idempotency key", err)
		}
		if len(existing.Val()) > 0 {
			return decodeChallenge(existing.Val(), now)
		}
		// The holder's record was lost: take the key over with c, stored
		// again.
		stale = holder
	}
	return store.Challenge{}, fmt.Errorf("redisstore: CreateChallenge: idempotency key of user %q keeps naming missing challenges", c.UserID)
}

// repeatOfExistingID answers a create whose ID exists: the challenge that
// holds c's idempotency key when there is one unexpired, else ErrConflict.
func (s *Store) repeatOfExistingID(ctx context.Context, c store.Challenge, now time.Time) (store.Challenge, error) {
	v, err := s.client.Get(ctx, s.keys.idempotency(c.UserID, c.IdempotencyKey)).Result()
	if errors.Is(err, redis.Nil) {
		return store.Challenge{}, store.ErrConflict
	}
	if err != nil {
		return store.Challenge{}, wrap("CreateChallenge: idempotency key", err)
	}
	exp, holder, ok := strings.Cut(v, " ")
	ms, perr := strconv.ParseInt(exp, 10, 64)
	if !ok || perr != nil || ms <= now.UnixMilli() {
		return store.Challenge{}, store.ErrConflict
	}
	h, err := s.client.HGetAll(ctx, s.keys.challenge(holder)).Result()
	if err != nil {
		return store.Challenge{}, wrap("CreateChallenge: idempotency key", err)
	}
	if len(h) == 0 {
		return store.Challenge{}, store.ErrConflict
	}
	return decodeChallenge(h, now)
}

// indexCall adds c to its user's pending index (when it has a user) and,
// with idempotency, claims c's idempotency key unless another unexpired
// challenge than stale holds it.
func (s *Store) indexCall(c store.Challenge, now time.Time, idempotency bool, stale string) call {
	keys := []string{s.keys.userPending(c.UserID)}
	if idempotency {
		keys = append(keys, s.keys.idempotency(c.UserID, c.IdempotencyKey))
	}
	indexed := "0"
	if c.UserID != "" {
		indexed = "1"
	}
	keep := ttl(c.ExpiresAt, now, challengeGrace)
	return call{challengeIndex, keys, []any{
		c.ID, c.ExpiresAt.UnixMilli(), now.UnixMilli(), "(" + unixMilli(now.Add(-challengeGrace)),
		keep, keep, stale, indexed,
	}}
}

// GetChallenge implements [store.ChallengeStore] with one HGETALL.
func (s *Store) GetChallenge(ctx context.Context, id string, now time.Time) (store.Challenge, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Challenge{}, err
	}
	h, err := s.client.HGetAll(ctx, s.keys.challenge(id)).Result()
	if err != nil {
		return store.Challenge{}, wrap("GetChallenge", err)
	}
	if len(h) == 0 {
		return store.Challenge{}, store.ErrNotFound
	}
	return decodeChallenge(h, now)
}

// TransitionChallenge implements [store.ChallengeStore]: one script on the
// challenge's key, which also publishes the wake-up. With
// t.CredentialUsed, where one script may declare the challenge's and the
// credential's keys (a single node; elsewhere IDs that carry one tag) the
// same script records the last use; otherwise a script on the credential's
// key does it next, when the transition was made. A claim
// (the transition that gives a challenge its user) then adds the challenge
// to the claimer's pending index; a failure of that step is logged, not
// returned, since the claim stands. If recording the credential's use
// fails, the error says so and the transition stands.
func (s *Store) TransitionChallenge(ctx context.Context, id string, t store.Transition, now time.Time) (store.Challenge, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Challenge{}, err
	}
	answered := ""
	if !t.AnsweredAt.IsZero() {
		answered = unixMilli(t.AnsweredAt)
	}
	keys := []string{s.keys.challenge(id)}
	used := t.CredentialUsed && t.CredentialID != ""
	// The credential is declared to record its use and to give the
	// challenge's action record its kind.
	withCred := t.CredentialID != "" && s.oneScript(keys[0], s.keys.credential(t.CredentialID))
	if withCred {
		keys = append(keys, s.keys.credential(t.CredentialID))
	}
	together, useFlag := used && withCred, ""
	if together {
		useFlag = "1"
	}
	recordAt := 0 // the action record of the same ID, kept in step where one script may declare it
	if rec := s.keys.action(id); s.oneScript(keys[0], rec) {
		keys = append(keys, rec)
		recordAt = len(keys)
	}
	v, err := s.run(ctx, call{challengeTransition, keys, []any{
		now.UnixMilli(), s.keys.wakeChannel(), id, string(t.From), finalFlag(t.From), string(t.To),
		t.UserID, t.CredentialID, t.DenyReason, t.ClaimedBy, answered, recordAt, useFlag,
	}}).Result()
	if err != nil {
		return store.Challenge{}, wrap("TransitionChallenge", err)
	}
	c, claimed, err := challengeReply(v, now)
	if err != nil {
		return store.Challenge{}, err
	}
	if claimed {
		// The claim is made and is the truth; the pending index only
		// helps ListPendingChallenges, and the claiming device already
		// has the challenge. Failing the claim here would tell the device
		// it failed when it did not, so the miss is logged instead.
		if err := s.run(ctx, s.indexCall(c, now, false, "")).Err(); err != nil {
			s.log.WarnContext(ctx, "redisstore: a QR challenge was claimed but indexing it for its user failed; ListPendingChallenges will not list it",
				"challengeId", id, "error", err.Error())
		}
	}
	if used && !together {
		// credentialUpdate checks the credential's user and removes the
		// field for an empty value, as challengeTransition does. Not
		// found (gone, or another user's) leaves the transition alone.
		err := s.run(ctx, call{credentialUpdate, []string{s.keys.credential(t.CredentialID)},
			[]any{c.UserID, "", fieldLastUsedAt, answered}}).Err()
		if err != nil {
			return store.Challenge{}, wrap("TransitionChallenge: the transition was made, recording the credential's use failed", err)
		}
	}
	return c, nil
}

// RecordAttempt implements [store.ChallengeStore]: one script on the
// challenge's key, which also publishes the wake-up. From a final state it
// is always ErrConflict.
func (s *Store) RecordAttempt(ctx context.Context, id string, from store.State, now time.Time) (store.Challenge, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Challenge{}, err
	}
	v, err := s.run(ctx, call{challengeAttempt, []string{s.keys.challenge(id)}, []any{
		now.UnixMilli(), s.keys.wakeChannel(), id, string(from), finalFlag(from),
	}}).Result()
	if err != nil {
		return store.Challenge{}, wrap("RecordAttempt", err)
	}
	c, _, err := challengeReply(v, now)
	return c, err
}

// finalFlag tells a script that a state is final ("1"), so that the list
// of final states has one home: store.State.Final.
func finalFlag(s store.State) string {
	if s.Final() {
		return "1"
	}
	return "0"
}

// recordApart ends the creation of c's action record: it stores the
// record by itself when the script that created c could not declare its
// keys (declared is false: on a Cluster, for a challenge whose ID does not
// carry its user's tag), and lists a record held for review in the review
// index (which PutAction does too).
func (s *Store) recordApart(ctx context.Context, method string, c store.Challenge, declared bool) error {
	if c.Record == nil {
		return nil
	}
	err := s.indexReview(ctx, *c.Record)
	if !declared {
		err = s.PutAction(ctx, *c.Record)
	}
	if err != nil {
		return fmt.Errorf("redisstore: %s: the action record: %w", method, err)
	}
	return nil
}

// storedChallenge is c as reads return it: its own copy, without its
// Record.
func storedChallenge(c store.Challenge) store.Challenge {
	c = c.Clone()
	c.Record = nil
	return c
}

// challengeReply reads the reply of challengeTransition or challengeAttempt.
func challengeReply(v any, now time.Time) (c store.Challenge, claimed bool, err error) {
	r, err := parseReply(v)
	if err != nil {
		return store.Challenge{}, false, err
	}
	switch r.status {
	case "notfound":
		return store.Challenge{}, false, store.ErrNotFound
	case "conflict":
		return store.Challenge{}, false, store.ErrConflict
	case "ok":
	default:
		return store.Challenge{}, false, fmt.Errorf("redisstore: unexpected script status %q", r.status)
	}
	if len(r.rest) == 0 {
		return store.Challenge{}, false, errors.New("redisstore: script reply without a record")
	}
	h, err := hashOf(r.rest[1:])
	if err != nil {
		return store.Challenge{}, false, err
	}
	c, err = decodeChallenge(h, now)
	return c, r.rest[0] == "1", err
}

// ListPendingChallenges implements [store.ChallengeStore]: it reads the
// IDs of the user's pending index whose ExpiresAt is after now, then the
// records in one pipeline, and keeps those that are, by the record itself,
// the user's, PENDING and unexpired.
func (s *Store) ListPendingChallenges(ctx context.Context, userID string, now time.Time) ([]store.Challenge, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	ids, err := s.client.ZRangeByScore(ctx, s.keys.userPending(userID), &redis.ZRangeBy{
		Min: "(" + unixMilli(now), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, wrap("ListPendingChallenges", err)
	}
	list := make([]store.Challenge, 0, len(ids))
	if len(ids) == 0 {
		return list, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.keys.challenge(id))
		}
		return nil
	})
	for _, cmd := range cmds {
		h, err := cmd.Result()
		if err != nil {
			return nil, wrap("ListPendingChallenges", err)
		}
		if len(h) == 0 {
			continue // gone: the index is only a hint
		}
		c, err := decodeChallenge(h, now)
		if err != nil {
			return nil, err
		}
		if c.UserID == userID && c.State == store.StatePending {
			list = append(list, c)
		}
	}
	slices.SortFunc(list, func(a, b store.Challenge) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return list, nil
}
