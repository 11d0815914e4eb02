package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// The store makes each step of a cycle one call; without it the Service
// would make them of the record methods.
var _ store.CycleStore = (*Store)(nil)

// counterValue is the SQL of BeginChallenge's counter read (as Counter
// reads it, 0 for an empty key), with key and now the placeholders of the
// counter's key and of now in unix milliseconds.
func counterValue(key, now string) string {
	return `coalesce((SELECT value FROM counters WHERE ` + key + ` <> '' AND key = ` + key +
		` AND window_end > ` + now + `), 0)`
}

// userKinds is the SQL of BeginChallenge's kinds read: the distinct kinds
// of the credentials of the user of placeholder user, as a JSON array in
// no particular order.
func userKinds(user string) string {
	return `(SELECT json_group_array(DISTINCT kind) FROM credentials WHERE user_id = ` + user + `)`
}

// beginInsert is BeginChallenge's one statement: the INSERT of
// insertChallenge (placeholders ?1 … ?25, challengeArgs), made only when the
// counter ?26 at now ?27 is below the limit ?28 (or ?28 is 0), the user ?2
// has a credential, and its kinds are exactly those of the JSON array ?29
// (or ?29 is NULL), and when the user has no unexpired challenge with the
// idempotency key ?11 (an empty key is none). It returns the counter and
// the kinds when it inserted.
var beginInsert = `INSERT INTO challenges (` + challengeColumns + `)
	SELECT ` + challengeValues + `
	WHERE (?28 = 0 OR ` + counterValue("?26", "?27") + ` < ?28)
		AND EXISTS (SELECT 1 FROM credentials WHERE user_id = ?2)
		AND (?29 IS NULL OR (
			NOT EXISTS (SELECT 1 FROM credentials
				WHERE user_id = ?2 AND kind NOT IN (SELECT value FROM json_each(?29)))
			AND NOT EXISTS (SELECT 1 FROM json_each(?29)
				WHERE value NOT IN (SELECT kind FROM credentials WHERE user_id = ?2))))
		AND (?11 = '' OR NOT EXISTS (SELECT 1 FROM challenges
			WHERE user_id = ?2 AND idempotency_key = ?11 AND idempotency_key <> '' AND expires_at > ?27))
	ON CONFLICT (id) DO NOTHING
	RETURNING ` + counterValue("?26", "?27") + `, ` + userKinds("?2")

// beginRead is BeginChallenge's read when beginInsert inserted nothing: the
// counter ?1 at now ?2 and the kinds of user ?3.
var beginRead = `SELECT ` + counterValue("?1", "?2") + `, ` + userKinds("?3")

// BeginChallenge implements [store.CycleStore]. When the challenge is new
// and allowed, it is one INSERT … SELECT whose WHERE reads the counter, the
// user's credential kinds and the idempotency key, atomic under SQLite's
// write lock, and whose RETURNING reports the counter and the kinds. When
// that inserts nothing, a read of the counter and the kinds decides: a
// challenge they allow is then created by CreateChallenge, which replays
// the challenge of the same idempotency key or reports ErrConflict for an
// existing ID (or creates it, when the counter or the credentials changed
// between the two statements).
func (s *Store) BeginChallenge(ctx context.Context, b store.Begin, now time.Time) (store.Begun, error) {
	args, err := challengeArgs(b.Challenge)
	if err != nil {
		return store.Begun{}, err
	}
	var wantKinds any // NULL: any kinds
	if b.Kinds != nil {
		list, err := json.Marshal(b.Kinds)
		if err != nil {
			return store.Begun{}, fmt.Errorf("sqlitestore: begin challenge: kinds: %w", err)
		}
		wantKinds = string(list)
	}
	if err := s.lockWrites(ctx); err != nil {
		return store.Begun{}, err
	}
	var (
		res   store.Begun
		kinds string
	)
	if b.Challenge.Record == nil {
		err = s.queryRow(ctx, nil, beginInsert,
			append(args, b.Counter, now.UnixMilli(), b.CounterLimit, wantKinds)...).Scan(&res.Counter, &kinds)
	} else {
		err = s.beginWithRecord(ctx, b, args, wantKinds, now, &res, &kinds)
	}
	s.unlockWrites()
	switch {
	case err == nil:
		if res.Kinds, err = parseKinds(kinds); err != nil {
			return store.Begun{}, s.fail(ctx, "begin challenge", err)
		}
		s.wake(b.Challenge.ID, 1)
		res.Challenge = storedChallenge(b.Challenge)
		return res, nil
	case !errors.Is(err, sql.ErrNoRows):
		return store.Begun{}, s.fail(ctx, "begin challenge", err)
	}

	if err := s.queryRow(ctx, nil, beginRead, b.Counter, now.UnixMilli(), b.Challenge.UserID).Scan(&res.Counter, &kinds); err != nil {
		return store.Begun{}, s.fail(ctx, "begin challenge", err)
	}
	if res.Kinds, err = parseKinds(kinds); err != nil {
		return store.Begun{}, s.fail(ctx, "begin challenge", err)
	}
	if !b.Allows(res.Counter, res.Kinds) {
		return res, nil
	}
	if res.Challenge, err = s.CreateChallenge(ctx, b.Challenge, now); err != nil {
		return store.Begun{}, err
	}
	return res, nil
}

// beginWithRecord is beginInsert and, when it inserted, the insert of
// b.Challenge.Record, in one immediate transaction. The caller holds the
// write semaphore.
func (s *Store) beginWithRecord(ctx context.Context, b store.Begin, args []any, wantKinds any, now time.Time, res *store.Begun, kinds *string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.queryRow(ctx, tx, beginInsert,
		append(args, b.Counter, now.UnixMilli(), b.CounterLimit, wantKinds)...).Scan(&res.Counter, kinds); err != nil {
		return err
	}
	if err := s.insertAction(ctx, tx, *b.Challenge.Record); err != nil {
		return err
	}
	return s.commit(tx)
}

// parseKinds is the JSON array of kinds userKinds read, in ascending order.
func parseKinds(list string) ([]store.CredentialKind, error) {
	kinds := []store.CredentialKind{}
	if err := json.Unmarshal([]byte(list), &kinds); err != nil {
		return nil, fmt.Errorf("credential kinds %q: %w", list, err)
	}
	slices.Sort(kinds)
	return kinds, nil
}

// GetChallengeCredential implements [store.CycleStore]: one SELECT of the
// challenge joined with the credential, which finds no row when either is
// missing.
func (s *Store) GetChallengeCredential(ctx context.Context, id, credentialID string, now time.Time) (store.Challenge, store.Credential, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Challenge{}, store.Credential{}, err
	}
	var (
		ch   challengeRow
		cred credentialRow
	)
	err := s.queryRow(ctx, nil, `SELECT * FROM
		(SELECT `+challengeColumns+` FROM challenges WHERE id = ?1),
		(SELECT `+credentialColumns+` FROM credentials WHERE id = ?2)`,
		id, credentialID).Scan(append(ch.dest(), cred.dest()...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Challenge{}, store.Credential{}, store.ErrNotFound
	}
	if err != nil {
		return store.Challenge{}, store.Credential{}, s.fail(ctx, "get challenge and credential", err)
	}
	c, _, err := ch.record()
	if err != nil {
		return store.Challenge{}, store.Credential{}, s.fail(ctx, "get challenge and credential", err)
	}
	return asOf(c, now), cred.record(), nil
}

// ConsumeChallenge implements [store.CycleStore]: one conditional UPDATE …
// RETURNING that moves an approved, bound, unexpired challenge to CONSUMED
// when its credential is still the user's and to FAILED when it is not,
// and returns the credential's kind, atomic under SQLite's write lock.
// Only when it changes nothing does a second read return the record as it
// is (or ErrNotFound).
func (s *Store) ConsumeChallenge(ctx context.Context, id string, b store.Binding, now time.Time) (store.Challenge, store.CredentialKind, error) {
	// Two rounds at most: a challenge found consumable by the read after a
	// refused update was approved between the two statements, and the
	// second update then consumes it, or another caller did.
	for round := 0; ; round++ {
		if err := s.lockWrites(ctx); err != nil {
			return store.Challenge{}, "", err
		}
		var (
			row  challengeRow
			kind string
		)
		err := s.queryRow(ctx, nil, `UPDATE challenges SET
				state = CASE WHEN EXISTS (SELECT 1 FROM credentials WHERE id = challenges.credential_id AND user_id = ?2)
					THEN ?6 ELSE ?7 END,
				changed_at = ?8,
				version = version + 1
			WHERE id = ?1 AND state = ?5 AND expires_at > ?8
				AND user_id <> '' AND user_id = ?2 AND action = ?3
				AND coalesce(details_digest, x'') = coalesce(?4, x'')
				AND (NOT EXISTS (SELECT 1 FROM credentials WHERE id = challenges.credential_id AND user_id = ?2)
					OR EXISTS (SELECT 1 FROM credentials WHERE id = challenges.credential_id AND user_id = ?2
						AND (?9 = '' OR instr(?9, ',' || kind || ',') > 0)
						AND (?10 = 0 OR kind = ?11 OR challenges.verification_code <> '')))
			RETURNING `+challengeColumns+`,
				coalesce((SELECT kind FROM credentials WHERE id = challenges.credential_id AND user_id = ?2), '')`,
			id, b.UserID, b.Action, b.DetailsDigest,
			string(store.StateApproved), string(store.StateConsumed), string(store.StateFailed), now.UnixMilli(),
			kindList(b.Kinds), b.VerificationCode, string(store.KindPasskey),
		).Scan(append(row.dest(), &kind)...)
		s.unlockWrites()
		if err == nil {
			c, version, err := row.record()
			if err != nil {
				return store.Challenge{}, "", s.fail(ctx, "consume challenge", err)
			}
			s.wake(id, version)
			if c.State != store.StateConsumed {
				return c, "", store.ErrRevoked
			}
			return c, store.CredentialKind(kind), nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return store.Challenge{}, "", s.fail(ctx, "consume challenge", err)
		}
		if s.consumeRefused != nil {
			s.consumeRefused()
		}
		c, credKind, err := s.consumeRead(ctx, id, b.UserID, now)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return store.Challenge{}, "", err
		case err != nil:
			return store.Challenge{}, "", s.fail(ctx, "consume challenge", err)
		case round == 0 && consumable(c, credKind, b):
			continue
		}
		return c, "", store.ErrConflict
	}
}

// consumeRead reads challenge id as of now and the kind of its credential
// when that is userID's ("" when it is gone).
func (s *Store) consumeRead(ctx context.Context, id, userID string, now time.Time) (store.Challenge, store.CredentialKind, error) {
	var (
		row  challengeRow
		kind string
	)
	err := s.queryRow(ctx, nil, `SELECT `+challengeColumns+`,
			coalesce((SELECT kind FROM credentials WHERE id = challenges.credential_id AND user_id = ?2), '')
		FROM challenges WHERE id = ?1`, id, userID).Scan(append(row.dest(), &kind)...)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Challenge{}, "", store.ErrNotFound
	}
	if err != nil {
		return store.Challenge{}, "", err
	}
	c, _, err := row.record()
	if err != nil {
		return store.Challenge{}, "", err
	}
	return asOf(c, now), store.CredentialKind(kind), nil
}

// consumable reports whether ConsumeChallenge's UPDATE would change c, read
// as of now with its credential's kind (empty: gone): approved (so
// unexpired), bound to b, and answered as b admits unless its credential
// is gone.
func consumable(c store.Challenge, kind store.CredentialKind, b store.Binding) bool {
	return c.State == store.StateApproved && b.Binds(c) && (kind == "" || b.Admits(c, kind))
}

// kindList is kinds as the ConsumeChallenge statement matches them:
// ",device,passkey," ("" for any kind).
func kindList(kinds []store.CredentialKind) string {
	if len(kinds) == 0 {
		return ""
	}
	var b strings.Builder
	for _, k := range kinds {
		b.WriteString("," + string(k))
	}
	return b.String() + ","
}
