package redisstore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/store"
)

// The steps of a challenge cycle (store.CycleStore). On a single node each
// is one round trip: BeginChallenge and ConsumeChallenge are one script
// each, GetChallengeCredential one pipeline. Elsewhere (a Cluster) they are
// made of the single-slot operations of the other methods, in steps; see
// the package doc for what each costs.

// BeginChallenge implements [store.CycleStore]. On a single node it is one
// script (challengeBegin) that reads the counter and the kinds in the
// user's credential index and creates the challenge, index and idempotency
// key included, when they allow it; a repeat of an idempotency key costs
// one more round trip, to read the earlier challenge. Elsewhere it reads
// the counter and the user's index in one pipeline, the index's records in
// another, and creates the challenge with CreateChallenge.
func (s *Store) BeginChallenge(ctx context.Context, b store.Begin, now time.Time) (store.Begun, error) {
	if err := s.check(ctx); err != nil {
		return store.Begun{}, err
	}
	if !s.oneSlot {
		return s.beginInSteps(ctx, b, now)
	}
	c := b.Challenge
	f, err := encodeChallenge(c)
	if err != nil {
		return store.Begun{}, wrap("BeginChallenge", err)
	}
	stale := "" // a holder of the idempotency key whose record is gone
	for range 3 {
		v, err := s.run(ctx, s.beginCall(b, f, now, stale)).Result()
		if err != nil {
			return store.Begun{}, wrap("BeginChallenge", err)
		}
		status, holder, res, err := beginReply(v)
		if err != nil {
			return store.Begun{}, wrap("BeginChallenge", err)
		}
		switch status {
		case "skip":
			return res, nil
		case "created":
			res.Challenge = cloneChallenge(c)
			return res, nil
		case "conflict":
			return store.Begun{}, store.ErrConflict
		case "held":
			h, err := s.client.HGetAll(ctx, s.keys.challenge(holder)).Result()
			if err != nil {
				return store.Begun{}, wrap("BeginChallenge: idempotency key", err)
			}
			if len(h) > 0 {
				res.Challenge, err = decodeChallenge(h, now)
				if err != nil {
					return store.Begun{}, err
				}
				return res, nil
			}
			// The holder's record was lost: take the key over.
			stale = holder
		default:
			return store.Begun{}, fmt.Errorf("redisstore: BeginChallenge: unexpected script status %q", status)
		}
	}
	return store.Begun{}, fmt.Errorf("redisstore: BeginChallenge: idempotency key of user %q keeps naming missing challenges", c.UserID)
}

// beginCall is challengeBegin for b, whose challenge's fields are f.
func (s *Store) beginCall(b store.Begin, f fields, now time.Time, stale string) call {
	c := b.Challenge
	keys := []string{s.keys.challenge(c.ID), s.keys.userCredentials(c.UserID), s.keys.userPending(c.UserID)}
	counterAt, idempotencyAt := 0, 0
	if b.Counter != "" {
		keys = append(keys, s.keys.counter(b.Counter))
		counterAt = len(keys)
	}
	if c.IdempotencyKey != "" {
		keys = append(keys, s.keys.idempotency(c.UserID, c.IdempotencyKey))
		idempotencyAt = len(keys)
	}
	kinds := -1
	if b.Kinds != nil {
		kinds = len(b.Kinds)
	}
	indexed := "0"
	if c.UserID != "" {
		indexed = "1"
	}
	args := make([]any, 0, 13+len(b.Kinds)+len(f))
	args = append(args,
		now.UnixMilli(), s.keys.wakeChannel(), c.ID, counterAt, idempotencyAt, b.CounterLimit, kinds,
		ttl(c.ExpiresAt, now, challengeGrace), c.ExpiresAt.UnixMilli(), "("+unixMilli(now.Add(-challengeGrace)),
		ttl(c.ExpiresAt, now, challengeGrace), stale, indexed)
	for _, k := range b.Kinds {
		args = append(args, string(k))
	}
	return call{challengeBegin, keys, append(args, f...)}
}

// beginReply reads challengeBegin's {status, counter, holder, kind, …}.
func beginReply(v any) (status, holder string, res store.Begun, err error) {
	list, ok := v.([]any)
	if !ok || len(list) < 3 {
		return "", "", store.Begun{}, fmt.Errorf("unexpected script reply %v", v)
	}
	status, ok1 := list[0].(string)
	counter, ok2 := list[1].(int64)
	holder, ok3 := list[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return "", "", store.Begun{}, fmt.Errorf("unexpected script reply %v", v)
	}
	res = store.Begun{Counter: counter, Kinds: make([]store.CredentialKind, 0, len(list)-3)}
	for _, k := range list[3:] {
		kind, ok := k.(string)
		if !ok {
			return "", "", store.Begun{}, fmt.Errorf("unexpected kind %v in a script reply", k)
		}
		res.Kinds = append(res.Kinds, store.CredentialKind(kind))
	}
	slices.Sort(res.Kinds)
	return status, holder, res, nil
}

// beginInSteps is BeginChallenge where a script may not span hash tags:
// the counter and the IDs in the user's index in one pipeline, then the
// user and kind of each of those records in another (the index is a hint
// there: a record is the truth), then CreateChallenge.
func (s *Store) beginInSteps(ctx context.Context, b store.Begin, now time.Time) (store.Begun, error) {
	userID := b.Challenge.UserID
	var (
		counter *redis.SliceCmd
		ids     *redis.StringSliceCmd
	)
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		if b.Counter != "" {
			counter = p.HMGet(ctx, s.keys.counter(b.Counter), fieldCounterValue, fieldWindowEnd)
		}
		ids = p.HKeys(ctx, s.keys.userCredentials(userID))
		return nil
	})
	res := store.Begun{Kinds: []store.CredentialKind{}}
	if counter != nil {
		n, err := counterValue(counter, now)
		if err != nil {
			return store.Begun{}, wrap("BeginChallenge: counter", err)
		}
		res.Counter = n
	}
	if err := ids.Err(); err != nil {
		return store.Begun{}, wrap("BeginChallenge: credentials", err)
	}
	if len(ids.Val()) > 0 {
		creds := make([]*redis.SliceCmd, len(ids.Val()))
		_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids.Val() {
				creds[i] = p.HMGet(ctx, s.keys.credential(id), fieldID, fieldUser, fieldKind)
			}
			return nil
		})
		for _, cmd := range creds {
			v, err := cmd.Result()
			if err != nil {
				return store.Begun{}, wrap("BeginChallenge: credentials", err)
			}
			id, _ := v[0].(string)
			user, _ := v[1].(string)
			kind, _ := v[2].(string)
			if v[0] != nil && id != "" && user == userID && !slices.Contains(res.Kinds, store.CredentialKind(kind)) {
				res.Kinds = append(res.Kinds, store.CredentialKind(kind))
			}
		}
		slices.Sort(res.Kinds)
	}
	if len(res.Kinds) == 0 || (b.CounterLimit != 0 && res.Counter >= b.CounterLimit) ||
		(b.Kinds != nil && !store.SameKinds(res.Kinds, b.Kinds)) {
		return res, nil
	}
	c, err := s.CreateChallenge(ctx, b.Challenge, now)
	if err != nil {
		return store.Begun{}, err
	}
	res.Challenge = c
	return res, nil
}

// GetChallengeCredential implements [store.CycleStore]: the two HGETALLs in
// one pipeline (one round trip on a single node; on a Cluster, one to each
// of the two nodes, side by side).
func (s *Store) GetChallengeCredential(ctx context.Context, id, credentialID string, now time.Time) (store.Challenge, store.Credential, error) {
	if err := s.check(ctx); err != nil {
		return store.Challenge{}, store.Credential{}, err
	}
	var ch, cred *redis.MapStringStringCmd
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		ch = p.HGetAll(ctx, s.keys.challenge(id))
		cred = p.HGetAll(ctx, s.keys.credential(credentialID))
		return nil
	})
	if err := cmp.Or(ch.Err(), cred.Err()); err != nil {
		return store.Challenge{}, store.Credential{}, wrap("GetChallengeCredential", err)
	}
	if len(ch.Val()) == 0 || len(cred.Val()) == 0 {
		return store.Challenge{}, store.Credential{}, store.ErrNotFound
	}
	c, err := decodeChallenge(ch.Val(), now)
	if err != nil {
		return store.Challenge{}, store.Credential{}, err
	}
	k, err := decodeCredential(cred.Val())
	if err != nil {
		return store.Challenge{}, store.Credential{}, err
	}
	return c, k, nil
}

// ConsumeChallenge implements [store.CycleStore]. On a single node it is
// one script (challengeConsume) on the challenge's key and the user's
// credential index, which the user known up front names: the index is kept
// with the records in the same atomic steps there, so an ID in it is a
// credential of the user's. Elsewhere it reads the challenge (and checks
// it), then the credential it names — the record, which a delete removes
// before its index entry — and then runs the script on the challenge's key
// alone, which checks everything again and applies the verdict. A
// credential deleted between the second step and the third was deleted
// while this call ran: either answer is right.
func (s *Store) ConsumeChallenge(ctx context.Context, id string, b store.Binding, now time.Time) (store.Challenge, store.CredentialKind, error) {
	if err := s.check(ctx); err != nil {
		return store.Challenge{}, "", err
	}
	args := []any{
		now.UnixMilli(), s.keys.wakeChannel(), id, b.UserID, b.Action, string(b.DetailsDigest),
		string(store.StateApproved), string(store.StateConsumed), string(store.StateFailed),
	}
	if s.oneSlot {
		v, err := s.run(ctx, call{challengeConsume, []string{s.keys.challenge(id), s.keys.userCredentials(b.UserID)},
			append(args, "", "")}).Result()
		if err != nil {
			return store.Challenge{}, "", wrap("ConsumeChallenge", err)
		}
		return consumeReply(v, now)
	}

	h, err := s.client.HGetAll(ctx, s.keys.challenge(id)).Result()
	if err != nil {
		return store.Challenge{}, "", wrap("ConsumeChallenge", err)
	}
	if len(h) == 0 {
		return store.Challenge{}, "", store.ErrNotFound
	}
	c, err := decodeChallenge(h, now)
	if err != nil {
		return store.Challenge{}, "", err
	}
	if c.UserID == "" || c.UserID != b.UserID || c.Action != b.Action ||
		!bytes.Equal(c.DetailsDigest, b.DetailsDigest) || c.State != store.StateApproved {
		return c, "", store.ErrConflict
	}
	v, err := s.client.HMGet(ctx, s.keys.credential(c.CredentialID), fieldID, fieldUser, fieldKind).Result()
	if err != nil {
		return store.Challenge{}, "", wrap("ConsumeChallenge: credential", err)
	}
	verdict, kind := store.StateFailed, store.CredentialKind("")
	if user, _ := v[1].(string); v[0] != nil && user == b.UserID {
		k, _ := v[2].(string)
		verdict, kind = store.StateConsumed, store.CredentialKind(k)
	}
	r, err := s.run(ctx, call{challengeConsume, []string{s.keys.challenge(id)},
		append(args, c.CredentialID, string(verdict))}).Result()
	if err != nil {
		return store.Challenge{}, "", wrap("ConsumeChallenge", err)
	}
	c, _, err = consumeReply(r, now)
	if err != nil {
		return c, "", err
	}
	return c, kind, nil
}

// consumeReply reads challengeConsume's reply: the record, with the kind of
// its credential when it was consumed, and ErrNotFound, ErrConflict or
// ErrRevoked.
func consumeReply(v any, now time.Time) (store.Challenge, store.CredentialKind, error) {
	r, err := parseReply(v)
	if err != nil {
		return store.Challenge{}, "", err
	}
	var outcome error
	switch r.status {
	case "notfound":
		return store.Challenge{}, "", store.ErrNotFound
	case "conflict":
		outcome = store.ErrConflict
	case "revoked":
		outcome = store.ErrRevoked
	case "ok":
	default:
		return store.Challenge{}, "", fmt.Errorf("redisstore: unexpected script status %q", r.status)
	}
	if len(r.rest) == 0 {
		return store.Challenge{}, "", errors.New("redisstore: script reply without a record")
	}
	kind, ok := r.rest[0].(string)
	if !ok {
		return store.Challenge{}, "", fmt.Errorf("redisstore: unexpected kind %T in a script reply", r.rest[0])
	}
	h, err := hashOf(r.rest[1:])
	if err != nil {
		return store.Challenge{}, "", err
	}
	c, err := decodeChallenge(h, now)
	if err != nil {
		return store.Challenge{}, "", err
	}
	return c, store.CredentialKind(kind), outcome
}
