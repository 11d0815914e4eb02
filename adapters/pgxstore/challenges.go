package pgxstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deviceauth/deviceauth/store"
)

// CreateChallenge implements [store.ChallengeStore] in one statement that
// claims the idempotency key and inserts the challenge. When the key is
// held by an unexpired challenge, a second statement reads that challenge.
func (s *Store) CreateChallenge(ctx context.Context, c store.Challenge, now time.Time) (store.Challenge, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Challenge{}, err
	}
	return s.createChallenge(ctx, c, now, false)
}

// createChallenge is CreateChallenge after the checks. held says that a
// first statement already found the idempotency key held by another
// challenge (which it could not read), so the holder is read first.
func (s *Store) createChallenge(ctx context.Context, c store.Challenge, now time.Time, held bool) (store.Challenge, error) {
	// The holder of the key can only vanish between the two statements if a
	// Sweep with a later clock deletes it; then the key is free: try again.
	for range 3 {
		if !held {
			var inserted bool
			err := s.pool.QueryRow(ctx, s.q.createChallenge, append(challengeArgs(c, now), recordArgs(c)...)...).Scan(&inserted)
			switch {
			case isUniqueViolation(err):
				return store.Challenge{}, store.ErrConflict
			case err != nil:
				return store.Challenge{}, wrap("create challenge", err)
			case inserted:
				return storedChallenge(c), nil
			}
		}
		held = false
		existing, err := scanChallenge(s.pool.QueryRow(ctx, s.q.idempotentChallenge, c.UserID, c.IdempotencyKey, now))
		if err == nil {
			return existing, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Challenge{}, wrap("create challenge", err)
		}
	}
	return store.Challenge{}, wrap("create challenge", errors.New("idempotency key held by a challenge that keeps disappearing"))
}

// challengeArgs are the parameters of createChallengeCTEs: c's
// challengeColumns but the last, then now, then more, then c's
// attestation_required ({attest}).
func challengeArgs(c store.Challenge, now time.Time, more ...any) []any {
	args := append([]any{c.ID, c.UserID, c.Action, string(c.State), c.Method, c.Methods, c.Nonce, c.Details,
		c.DetailsDigest, c.VerificationCode, c.IdempotencyKey, c.ClientIP, c.UserAgent, c.Origin,
		c.CreatedAt, c.ExpiresAt, c.CredentialID, c.DenyReason, nullTime(c.AnsweredAt), c.Attempts,
		c.ClaimedBy, c.ClaimSecretHash, c.BrowserBindingHash, c.Passkey, now}, more...)
	return append(args, c.AttestationRequired)
}

// GetChallenge implements [store.ChallengeStore].
func (s *Store) GetChallenge(ctx context.Context, id string, now time.Time) (store.Challenge, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Challenge{}, err
	}
	c, err := scanChallenge(s.pool.QueryRow(ctx, s.q.getChallenge, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Challenge{}, store.ErrNotFound
	}
	if err != nil {
		return store.Challenge{}, wrap("get challenge", err)
	}
	c.State = c.StateAt(now)
	return c, nil
}

// TransitionChallenge implements [store.ChallengeStore] as one
// UPDATE … WHERE id AND state AND expires_at > now RETURNING, with, in the
// same statement, the credential's UPDATE that t.CredentialUsed asks for.
// Only when it matches nothing does a second statement tell ErrNotFound
// from ErrConflict.
func (s *Store) TransitionChallenge(ctx context.Context, id string, t store.Transition, now time.Time) (store.Challenge, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Challenge{}, err
	}
	if !t.From.Final() {
		c, err := scanChallenge(s.pool.QueryRow(ctx, s.q.transitionChallenge, id, string(t.From), string(t.To),
			t.UserID, t.CredentialID, t.DenyReason, t.ClaimedBy, nullTime(t.AnsweredAt), now, t.CredentialUsed))
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Challenge{}, wrap("transition challenge", err)
		}
	}
	return store.Challenge{}, s.missingOrConflict(ctx, id, "transition challenge")
}

// RecordAttempt implements [store.ChallengeStore] as one UPDATE, like
// TransitionChallenge.
func (s *Store) RecordAttempt(ctx context.Context, id string, from store.State, now time.Time) (store.Challenge, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Challenge{}, err
	}
	if from.Final() {
		return store.Challenge{}, s.missingOrConflict(ctx, id, "record attempt")
	}
	c, err := scanChallenge(s.pool.QueryRow(ctx, s.q.recordAttempt, id, string(from), now))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Challenge{}, wrap("record attempt", err)
	}
	return store.Challenge{}, s.missingOrConflict(ctx, id, "record attempt")
}

// missingOrConflict is the error of a compare-and-set on challenge id that
// matched nothing: ErrNotFound when there is no such challenge, ErrConflict
// otherwise.
func (s *Store) missingOrConflict(ctx context.Context, id, what string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, s.q.challengeExists, id).Scan(&exists); err != nil {
		return wrap(what, err)
	}
	if exists {
		return store.ErrConflict
	}
	return store.ErrNotFound
}

// ListPendingChallenges implements [store.ChallengeStore].
func (s *Store) ListPendingChallenges(ctx context.Context, userID string, now time.Time) ([]store.Challenge, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, s.q.listPending, userID, now)
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Challenge, error) {
		return scanChallenge(row)
	})
	if err != nil {
		return nil, wrap("list pending challenges", err)
	}
	if list == nil {
		list = []store.Challenge{}
	}
	return list, nil
}

// scanChallenge reads one row of challengeColumns.
func scanChallenge(row pgx.Row) (store.Challenge, error) {
	var r challengeRow
	if err := row.Scan(r.targets()...); err != nil {
		return store.Challenge{}, err
	}
	return r.challenge(), nil
}

// challengeRow holds the scan targets of challengeColumns.
type challengeRow struct {
	c        store.Challenge
	state    string
	answered *time.Time
}

// targets are the scan targets of challengeColumns, in order.
func (r *challengeRow) targets() []any {
	c := &r.c
	return []any{&c.ID, &c.UserID, &c.Action, &r.state, &c.Method, &c.Methods, &c.Nonce, &c.Details,
		&c.DetailsDigest, &c.VerificationCode, &c.IdempotencyKey, &c.ClientIP, &c.UserAgent, &c.Origin,
		&c.CreatedAt, &c.ExpiresAt, &c.CredentialID, &c.DenyReason, &r.answered, &c.Attempts, &c.ClaimedBy,
		&c.ClaimSecretHash, &c.BrowserBindingHash, &c.Passkey, &c.AttestationRequired}
}

// challenge is the scanned challenge.
func (r *challengeRow) challenge() store.Challenge {
	c := r.c
	c.State = store.State(r.state)
	c.CreatedAt, c.ExpiresAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC()
	c.AnsweredAt = fromNullTime(r.answered)
	return c
}

// storedChallenge is c as a later read returns it: its own copy of every
// slice, times to the microsecond.
func storedChallenge(c store.Challenge) store.Challenge {
	c = c.Clone()
	c.Record = nil
	c.CreatedAt, c.ExpiresAt = storedTime(c.CreatedAt), storedTime(c.ExpiresAt)
	c.AnsweredAt = storedTime(c.AnsweredAt)
	return c
}
