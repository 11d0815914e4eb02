package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/store"
)

// The store makes each step of a cycle one call; without it the Service
// would make them of the record methods.
var _ store.CycleStore = (*Store)(nil)

// The steps of a challenge cycle (store.CycleStore). Where one script may
// declare every key a step touches (Store.oneScript: a single node; on a
// Cluster, IDs and keys that carry the user's tag) BeginChallenge and
// ConsumeChallenge are one script each, GetChallengeCredential one
// pipeline. Otherwise they are made of the single-slot operations of the
// other methods, in steps; see the package doc for what each costs.

// maxBeginRuns bounds the runs of challengeBegin in one BeginChallenge:
// each run after the first follows one that found a hint to read or an
// idempotency key held by a lost challenge, which a concurrent change can
// bring again.
const maxBeginRuns = 4

// BeginChallenge implements [store.CycleStore]. Where one script may declare
// the challenge's key, the user's credential and pending indexes, the
// counter and the idempotency key, it is one script (challengeBegin) that
// reads the counter and the kinds in the user's credential index and
// creates the challenge, index entry and idempotency key included, when
// they allow it. A repeat of an idempotency key costs one more round trip,
// to read the earlier challenge; an index entry that is a hint (see
// credentialHint) one more, to read its record, and another run. Otherwise
// it reads the counter and the user's index in one pipeline, the index's
// records in another, and creates the challenge with CreateChallenge.
func (s *Store) BeginChallenge(ctx context.Context, b store.Begin, now time.Time) (store.Begun, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Begun{}, err
	}
	c := b.Challenge
	keys, counterAt, idempotencyAt := s.beginKeys(b)
	if !s.oneScript(keys...) {
		return s.beginInSteps(ctx, b, now)
	}
	f, err := encodeChallenge(c)
	if err != nil {
		return store.Begun{}, wrap("BeginChallenge", err)
	}
	stale := ""                               // a holder of the idempotency key whose record is gone
	read := map[string]store.CredentialKind{} // hints read: ID → kind, "" for none
	for range maxBeginRuns {
		v, err := s.run(ctx, s.beginCall(b, keys, counterAt, idempotencyAt, f, now, stale, read)).Result()
		if err != nil {
			return store.Begun{}, wrap("BeginChallenge", err)
		}
		status, holder, list, res, err := beginReply(v)
		if err != nil {
			return store.Begun{}, wrap("BeginChallenge", err)
		}
		switch status {
		case "skip":
			return res, nil
		case "created":
			if err := s.recordApart(ctx, "BeginChallenge", c, c.Record != nil && s.recordWith(keys, *c.Record)); err != nil {
				return store.Begun{}, err
			}
			res.Challenge = storedChallenge(c)
			return res, nil
		case "conflict":
			return store.Begun{}, store.ErrConflict
		case "verify":
			if err := s.readHints(ctx, c.UserID, list, read); err != nil {
				return store.Begun{}, wrap("BeginChallenge: credentials", err)
			}
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
	return store.Begun{}, fmt.Errorf("redisstore: BeginChallenge: user %q's credentials or idempotency key kept changing in %d runs", c.UserID, maxBeginRuns)
}

// beginKeys returns the keys challengeBegin declares for b and the
// positions (from 1; 0 for none) of the counter and the idempotency key
// among them.
func (s *Store) beginKeys(b store.Begin) (keys []string, counterAt, idempotencyAt int) {
	c := b.Challenge
	keys = []string{s.keys.challenge(c.ID), s.keys.userCredentials(c.UserID), s.keys.userPending(c.UserID)}
	if b.Counter != "" {
		keys = append(keys, s.keys.counter(b.Counter))
		counterAt = len(keys)
	}
	if c.IdempotencyKey != "" {
		keys = append(keys, s.keys.idempotency(c.UserID, c.IdempotencyKey))
		idempotencyAt = len(keys)
	}
	return keys, counterAt, idempotencyAt
}

// beginCall is challengeBegin for b over keys, b's challenge's fields being
// f, with the hints read so far.
func (s *Store) beginCall(b store.Begin, keys []string, counterAt, idempotencyAt int, f fields, now time.Time,
	stale string, read map[string]store.CredentialKind) call {
	c := b.Challenge
	kinds := -1
	if b.Kinds != nil {
		kinds = len(b.Kinds)
	}
	indexed := "0"
	if c.UserID != "" {
		indexed = "1"
	}
	args := make([]any, 0, 14+2*len(read)+len(b.Kinds)+len(f))
	args = append(args,
		now.UnixMilli(), s.keys.wakeChannel(), c.ID, counterAt, idempotencyAt, b.CounterLimit, kinds,
		ttl(c.ExpiresAt, now, challengeGrace), c.ExpiresAt.UnixMilli(), "("+unixMilli(now.Add(-challengeGrace)),
		ttl(c.ExpiresAt, now, challengeGrace), stale, indexed, len(read))
	for id, kind := range read {
		args = append(args, id, string(kind))
	}
	for _, k := range b.Kinds {
		args = append(args, string(k))
	}
	rec, more := s.recordArgs(c, now, keys)
	args = append(args, rec...)
	return call{challengeBegin, append(slices.Clip(keys), more...), append(args, f...)}
}

// readHints reads the records of credential index entries that are hints
// (ids) into read: each one's kind when the record exists and is userID's,
// else "".
func (s *Store) readHints(ctx context.Context, userID string, ids []string, read map[string]store.CredentialKind) error {
	cmds := make([]*redis.SliceCmd, len(ids))
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.keys.credential(id), fieldID, fieldUser, fieldKind)
		}
		return nil
	})
	for i, cmd := range cmds {
		v, err := cmd.Result()
		if err != nil {
			return err
		}
		kind, _ := credentialKindOf(v, userID)
		read[ids[i]] = kind
	}
	return nil
}

// credentialKindOf reads the reply of HMGET id, user, kind of a credential:
// its kind and true when it exists and is userID's, else "" and false.
func credentialKindOf(v []any, userID string) (store.CredentialKind, bool) {
	id, _ := v[0].(string)
	user, _ := v[1].(string)
	kind, _ := v[2].(string)
	if id == "" || user != userID {
		return "", false
	}
	return store.CredentialKind(kind), true
}

// beginReply reads challengeBegin's {status, counter, holder, kind, …} (for
// "verify", the IDs to read in list instead of kinds).
func beginReply(v any) (status, holder string, list []string, res store.Begun, err error) {
	r, ok := v.([]any)
	if !ok || len(r) < 3 {
		return "", "", nil, store.Begun{}, fmt.Errorf("unexpected script reply %v", v)
	}
	status, ok1 := r[0].(string)
	counter, ok2 := r[1].(int64)
	holder, ok3 := r[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return "", "", nil, store.Begun{}, fmt.Errorf("unexpected script reply %v", v)
	}
	list = make([]string, 0, len(r)-3)
	for _, e := range r[3:] {
		str, ok := e.(string)
		if !ok {
			return "", "", nil, store.Begun{}, fmt.Errorf("unexpected element %v in a script reply", e)
		}
		list = append(list, str)
	}
	res = store.Begun{Counter: counter, Kinds: []store.CredentialKind{}}
	if status != "verify" {
		for _, k := range list {
			res.Kinds = append(res.Kinds, store.CredentialKind(k))
		}
		slices.Sort(res.Kinds)
	}
	return status, holder, list, res, nil
}

// beginInSteps is BeginChallenge where one script may not declare its keys:
// the counter and the IDs in the user's index in one pipeline, then the
// user and kind of each of those records in another (every entry is taken
// for a hint there: a record is the truth), then CreateChallenge.
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
		read := make(map[string]store.CredentialKind, len(ids.Val()))
		if err := s.readHints(ctx, userID, ids.Val(), read); err != nil {
			return store.Begun{}, wrap("BeginChallenge: credentials", err)
		}
		for _, kind := range read {
			if kind != "" && !slices.Contains(res.Kinds, kind) {
				res.Kinds = append(res.Kinds, kind)
			}
		}
		slices.Sort(res.Kinds)
	}
	if !b.Allows(res.Counter, res.Kinds) {
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
// one pipeline (one round trip; on a Cluster whose keys live on two nodes,
// one to each, side by side).
func (s *Store) GetChallengeCredential(ctx context.Context, id, credentialID string, now time.Time) (store.Challenge, store.Credential, error) {
	if err := s.closed.Check(ctx); err != nil {
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

// ConsumeChallenge implements [store.CycleStore]. Where one script may
// declare the challenge's key and the user's credential index (which the
// binding's user names up front: a single node; on a Cluster, a challenge
// ID that carries that user's tag) it is one script (challengeConsume): an
// index entry written with its record in one script is exact, so the
// credential is the user's when its ID is there and gone when it is not.
// Otherwise, and when the credential's entry is a hint (see
// credentialHint), the credential's record is read next — the record, which
// a delete removes before its index entry, is the truth — and the script
// runs again on the challenge's key alone, checks everything again and
// applies the verdict. Without that one script the challenge is read (and
// checked) first. A credential deleted between the read of its record and
// the last step was deleted while this call ran: either answer is right.
func (s *Store) ConsumeChallenge(ctx context.Context, id string, b store.Binding, now time.Time) (store.Challenge, store.CredentialKind, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Challenge{}, "", err
	}
	args := []any{
		now.UnixMilli(), s.keys.wakeChannel(), id, b.UserID, b.Action, string(b.DetailsDigest),
		string(store.StateApproved), string(store.StateConsumed), string(store.StateFailed),
	}
	kinds, code := "", ""
	if len(b.Kinds) > 0 {
		for _, k := range b.Kinds {
			kinds += "," + string(k)
		}
		kinds += ","
	}
	if b.VerificationCode {
		code = "1"
	}
	if keys := []string{s.keys.challenge(id), s.keys.userCredentials(b.UserID)}; s.oneScript(keys...) {
		keys, at := s.withRecordKeys(keys, id, b.UserID)
		v, err := s.run(ctx, call{challengeConsume, keys, append(args, "", "", kinds, code, at[0], at[1], "")}).Result()
		if err != nil {
			return store.Challenge{}, "", wrap("ConsumeChallenge", err)
		}
		c, kind, verify, err := consumeReply(v, now)
		if !verify {
			return c, kind, err
		}
		// The credential's entry is a hint: the script found the challenge
		// bound and approved, and changed nothing.
		return s.consumeWithRecord(ctx, id, b, c, args, now)
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
	if !b.Binds(c) || c.State != store.StateApproved {
		return c, "", store.ErrConflict
	}
	return s.consumeWithRecord(ctx, id, b, c, args, now)
}

// consumeWithRecord ends a ConsumeChallenge that found challenge c bound to
// b and approved: it reads the record of c's credential, then runs
// challengeConsume on the challenge's key with the verdict.
func (s *Store) consumeWithRecord(ctx context.Context, id string, b store.Binding, c store.Challenge, args []any, now time.Time) (store.Challenge, store.CredentialKind, error) {
	v, err := s.client.HMGet(ctx, s.keys.credential(c.CredentialID), fieldID, fieldUser, fieldKind).Result()
	if err != nil {
		return store.Challenge{}, "", wrap("ConsumeChallenge: credential", err)
	}
	verdict := store.StateFailed
	kind, ok := credentialKindOf(v, b.UserID)
	if ok {
		if !b.Admits(c, kind) { // kinds and codes never change: refused as read
			return c, "", store.ErrConflict
		}
		verdict = store.StateConsumed
	}
	keys, at := s.withRecordKeys([]string{s.keys.challenge(id)}, id, b.UserID)
	r, err := s.run(ctx, call{challengeConsume, keys,
		append(args, c.CredentialID, string(verdict), "", "", at[0], at[1], string(kind))}).Result()
	if err != nil {
		return store.Challenge{}, "", wrap("ConsumeChallenge", err)
	}
	c, _, _, err = consumeReply(r, now)
	if err != nil {
		return c, "", err
	}
	return c, kind, nil
}

// recordWith reports whether a script that declares keys may declare the
// keys of action record a too.
func (s *Store) recordWith(keys []string, a store.ActionRecord) bool {
	return s.oneScript(append(slices.Clone(keys), s.keys.action(a.ID), s.keys.userActions(a.UserID))...)
}

// withRecordKeys adds to keys, a consume's, the keys of challenge id's
// action record and of userID's passed index, where one script may declare
// them all, and returns their positions (0, 0 when not added).
func (s *Store) withRecordKeys(keys []string, id, userID string) ([]string, [2]int) {
	more := []string{s.keys.action(id), s.keys.userPassed(userID)}
	if !s.oneScript(append(slices.Clone(keys), more...)...) {
		return keys, [2]int{}
	}
	keys = append(keys, more...)
	return keys, [2]int{len(keys) - 1, len(keys)}
}

// consumeReply reads challengeConsume's reply: the record, with the kind of
// its credential when it was consumed, and ErrNotFound, ErrConflict or
// ErrRevoked; or, with verify, the record unchanged, bound and approved,
// whose credential's index entry is a hint.
func consumeReply(v any, now time.Time) (c store.Challenge, kind store.CredentialKind, verify bool, err error) {
	r, err := parseReply(v)
	if err != nil {
		return store.Challenge{}, "", false, err
	}
	var outcome error
	switch r.status {
	case "notfound":
		return store.Challenge{}, "", false, store.ErrNotFound
	case "conflict":
		outcome = store.ErrConflict
	case "revoked":
		outcome = store.ErrRevoked
	case "verify":
		verify = true
	case "ok":
	default:
		return store.Challenge{}, "", false, fmt.Errorf("redisstore: unexpected script status %q", r.status)
	}
	if len(r.rest) == 0 {
		return store.Challenge{}, "", false, errors.New("redisstore: script reply without a record")
	}
	k, ok := r.rest[0].(string)
	if !ok {
		return store.Challenge{}, "", false, fmt.Errorf("redisstore: unexpected kind %T in a script reply", r.rest[0])
	}
	h, err := hashOf(r.rest[1:])
	if err != nil {
		return store.Challenge{}, "", false, err
	}
	c, err = decodeChallenge(h, now)
	if err != nil {
		return store.Challenge{}, "", false, err
	}
	return c, store.CredentialKind(k), verify, outcome
}
