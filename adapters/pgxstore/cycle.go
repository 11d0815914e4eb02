package pgxstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/deviceauth/deviceauth/store"
)

// The store makes each step of a cycle one call; without it the Service
// would make them of the record methods.
var _ store.CycleStore = (*Store)(nil)

// BeginChallenge implements [store.CycleStore] in one statement (see
// beginChallenge in queries.go): it reads the counter, the user's credential
// kinds and the challenge holding the idempotency key, and creates the
// challenge as CreateChallenge does when they allow it. Only when a racing
// create committed the key's holder after the statement began (so that the
// statement could neither see the holder nor claim the key) does a second
// statement read the holder, as in CreateChallenge.
func (s *Store) BeginChallenge(ctx context.Context, b store.Begin, now time.Time) (store.Begun, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Begun{}, err
	}
	var kinds []string
	if b.Kinds != nil {
		kinds = make([]string, len(b.Kinds))
		for i, k := range b.Kinds {
			kinds[i] = string(k)
		}
	}
	var (
		res               store.Begun
		userKinds         []string
		allowed, inserted bool
		held              challengeRecord
	)
	err := s.pool.QueryRow(ctx, s.q.beginChallenge, append(challengeArgs(b.Challenge, now, b.Counter, b.CounterLimit, kinds),
		recordArgs(b.Challenge)...)...).
		Scan(&res.Counter, &userKinds, &allowed, &inserted, &held)
	switch {
	case isUniqueViolation(err):
		return store.Begun{}, store.ErrConflict
	case err != nil:
		return store.Begun{}, wrap("begin challenge", err)
	}
	res.Kinds = make([]store.CredentialKind, len(userKinds))
	for i, k := range userKinds {
		res.Kinds[i] = store.CredentialKind(k)
	}
	switch {
	case !allowed:
	case inserted:
		res.Challenge = storedChallenge(b.Challenge)
	case held.valid:
		res.Challenge = held.row.challenge()
	case b.Challenge.IdempotencyKey == "":
		// Without a key the insert either happens or fails with a unique
		// violation.
		return store.Begun{}, wrap("begin challenge", errors.New("challenge neither created nor found"))
	default:
		// The key is held by a challenge committed after the statement's
		// snapshot was taken.
		c, err := s.createChallenge(ctx, b.Challenge, now, true)
		if err != nil {
			return store.Begun{}, err
		}
		res.Challenge = c
	}
	return res, nil
}

// GetChallengeCredential implements [store.CycleStore] as one SELECT of
// both rows.
func (s *Store) GetChallengeCredential(ctx context.Context, id, credentialID string, now time.Time) (store.Challenge, store.Credential, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Challenge{}, store.Credential{}, err
	}
	var (
		ch   challengeRow
		cred credentialRow
	)
	err := s.pool.QueryRow(ctx, s.q.getChallengeCredential, id, credentialID).
		Scan(append(ch.targets(), cred.targets()...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Challenge{}, store.Credential{}, store.ErrNotFound
	}
	if err != nil {
		return store.Challenge{}, store.Credential{}, wrap("get challenge and credential", err)
	}
	c := ch.challenge()
	c.State = c.StateAt(now)
	return c, cred.credential(), nil
}

// ConsumeChallenge implements [store.CycleStore] in one statement (see
// consumeChallenge in queries.go): one compare-and-set that moves the
// challenge to CONSUMED or, when its credential is gone, to FAILED, and
// that returns the challenge as it is when it matched nothing. A second
// statement runs only when that record shows the challenge consumable:
// it was approved after the statement's snapshot was taken, so the
// compare-and-set, which only sees rows of that snapshot, missed it.
func (s *Store) ConsumeChallenge(ctx context.Context, id string, b store.Binding, now time.Time) (store.Challenge, store.CredentialKind, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Challenge{}, "", err
	}
	// A challenge is approved once, so a second statement sees the approval
	// and decides; the third try is a bound, not a path.
	for range 3 {
		var (
			changed bool
			ch      challengeRow
			kind    *string
		)
		err := s.pool.QueryRow(ctx, s.q.consumeChallenge, id, b.UserID, b.Action, b.DetailsDigest, now,
			kindStrings(b.Kinds), b.VerificationCode).
			Scan(append(append([]any{&changed}, ch.targets()...), &kind)...)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.Challenge{}, "", store.ErrNotFound
		}
		if err != nil {
			return store.Challenge{}, "", wrap("consume challenge", err)
		}
		c := ch.challenge()
		switch {
		case changed && c.State == store.StateConsumed:
			// kind and the state come from one snapshot: a consumed
			// challenge's credential was read.
			if kind == nil {
				return store.Challenge{}, "", wrap("consume challenge", errors.New("consumed without a credential kind"))
			}
			return c, store.CredentialKind(*kind), nil
		case changed:
			return c, "", store.ErrRevoked
		case c.StateAt(now) != c.State: // expired
			c.State = c.StateAt(now)
			return c, "", store.ErrConflict
		case c.State != store.StateApproved || !b.Binds(c) || (kind != nil && !b.Admits(c, store.CredentialKind(*kind))):
			// The kind read with the record is of a credential that
			// exists: an answer the binding refuses stays approved.
			return c, "", store.ErrConflict
		}
	}
	return store.Challenge{}, "", wrap("consume challenge", errors.New("challenge approved but never consumable"))
}

// kindStrings is kinds as the statement's text[] parameter (empty: any).
func kindStrings(kinds []store.CredentialKind) []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return out
}

// challengeRecord is a scan target for a challenge passed as one record
// of challengeColumns (a whole-row reference), which may be NULL: pgx
// decodes a record, in binary, field by field into ScanIndex's targets.
type challengeRecord struct {
	row   challengeRow
	dests []any
	valid bool // not NULL
}

// ScanNull implements [pgtype.CompositeIndexScanner].
func (r *challengeRecord) ScanNull() error {
	r.valid = false
	return nil
}

// ScanIndex implements [pgtype.CompositeIndexScanner].
func (r *challengeRecord) ScanIndex(i int) any {
	if r.dests == nil {
		r.dests = r.row.targets()
	}
	r.valid = true
	if i >= len(r.dests) {
		return nil // an extra field is skipped; it cannot happen with challengeColumns
	}
	return r.dests[i]
}

var _ pgtype.CompositeIndexScanner = (*challengeRecord)(nil)
