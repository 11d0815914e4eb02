package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

const challengeColumns = `id, user_id, action, state, method, methods, nonce, details, details_digest,
	verification_code, idempotency_key, client_ip, user_agent, origin, created_at, expires_at,
	credential_id, deny_reason, answered_at, attempts, claimed_by, claim_secret_hash,
	browser_binding_hash, passkey, version`

// CreateChallenge implements [store.ChallengeStore]. Without an idempotency
// key it is one INSERT; with one, the lookup of the user's unexpired
// challenge with that key and the insert share an immediate transaction.
func (s *Store) CreateChallenge(ctx context.Context, c store.Challenge, now time.Time) (store.Challenge, error) {
	methods, err := json.Marshal(nonNil(c.Methods))
	if err != nil {
		return store.Challenge{}, fmt.Errorf("sqlitestore: create challenge: methods: %w", err)
	}
	if err := s.lockWrites(ctx); err != nil {
		return store.Challenge{}, err
	}
	defer s.unlockWrites()
	if c.IdempotencyKey == "" {
		if err := s.insertChallenge(ctx, nil, c, methods); err != nil {
			return store.Challenge{}, err
		}
		s.wake(c.ID, 1)
		return storedChallenge(c), nil
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return store.Challenge{}, s.fail(ctx, "create challenge", err)
	}
	defer tx.Rollback()
	existing, _, err := scanChallenge(s.queryRow(ctx, tx, `SELECT `+challengeColumns+` FROM challenges
		WHERE user_id = ? AND idempotency_key = ? AND idempotency_key <> '' AND expires_at > ?
		ORDER BY created_at, id LIMIT 1`, c.UserID, c.IdempotencyKey, now.UnixMilli()))
	switch {
	case err == nil:
		s.rollback(tx)
		return existing, nil
	case !errors.Is(err, sql.ErrNoRows):
		return store.Challenge{}, s.fail(ctx, "create challenge", err)
	}
	if err := s.insertChallenge(ctx, tx, c, methods); err != nil {
		return store.Challenge{}, err
	}
	if err := s.commit(tx); err != nil {
		return store.Challenge{}, s.fail(ctx, "create challenge", err)
	}
	s.wake(c.ID, 1)
	return storedChallenge(c), nil
}

// insertChallenge inserts c (inside tx when it is not nil) as a new record
// of version 1; ErrConflict when its ID exists.
func (s *Store) insertChallenge(ctx context.Context, tx *sql.Tx, c store.Challenge, methods []byte) error {
	res, err := s.exec(ctx, tx, `INSERT INTO challenges (`+challengeColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (id) DO NOTHING`,
		c.ID, c.UserID, c.Action, string(c.State), c.Method, string(methods), c.Nonce, c.Details, c.DetailsDigest,
		c.VerificationCode, c.IdempotencyKey, c.ClientIP, c.UserAgent, c.Origin, millis(c.CreatedAt), millis(c.ExpiresAt),
		c.CredentialID, c.DenyReason, millis(c.AnsweredAt), int64(c.Attempts), c.ClaimedBy, c.ClaimSecretHash,
		c.BrowserBindingHash, c.Passkey)
	if err != nil {
		return s.fail(ctx, "create challenge", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, "create challenge", err)
	}
	if n == 0 {
		return store.ErrConflict
	}
	return nil
}

// GetChallenge implements [store.ChallengeStore].
func (s *Store) GetChallenge(ctx context.Context, id string, now time.Time) (store.Challenge, error) {
	if err := s.check(ctx); err != nil {
		return store.Challenge{}, err
	}
	c, _, err := scanChallenge(s.queryRow(ctx, nil, `SELECT `+challengeColumns+` FROM challenges WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Challenge{}, store.ErrNotFound
	}
	if err != nil {
		return store.Challenge{}, s.fail(ctx, "get challenge", err)
	}
	if !c.State.Final() && c.ExpiresAt.UnixMilli() <= now.UnixMilli() {
		c.State = store.StateExpired
	}
	return c, nil
}

// TransitionChallenge implements [store.ChallengeStore]: one conditional
// UPDATE … RETURNING; only when it changes nothing does a second read tell
// ErrNotFound from ErrConflict.
func (s *Store) TransitionChallenge(ctx context.Context, id string, t store.Transition, now time.Time) (store.Challenge, error) {
	if t.From.Final() {
		if err := s.check(ctx); err != nil {
			return store.Challenge{}, err
		}
		return store.Challenge{}, s.missingOrConflict(ctx, "transition challenge", id)
	}
	if err := s.lockWrites(ctx); err != nil {
		return store.Challenge{}, err
	}
	// The user ID, when given, must match — or fill an empty one (QR).
	c, version, err := scanChallenge(s.queryRow(ctx, nil, `UPDATE challenges SET
			state = ?1,
			user_id = CASE WHEN ?2 <> '' THEN ?2 ELSE user_id END,
			credential_id = CASE WHEN ?3 <> '' THEN ?3 ELSE credential_id END,
			deny_reason = CASE WHEN ?4 <> '' THEN ?4 ELSE deny_reason END,
			claimed_by = CASE WHEN ?5 <> '' THEN ?5 ELSE claimed_by END,
			answered_at = coalesce(?6, answered_at),
			version = version + 1
		WHERE id = ?7 AND state = ?8 AND expires_at > ?9
			AND (?2 = '' OR user_id = '' OR user_id = ?2)
		RETURNING `+challengeColumns,
		string(t.To), t.UserID, t.CredentialID, t.DenyReason, t.ClaimedBy, millis(t.AnsweredAt),
		id, string(t.From), now.UnixMilli()))
	s.unlockWrites()
	if errors.Is(err, sql.ErrNoRows) {
		return store.Challenge{}, s.missingOrConflict(ctx, "transition challenge", id)
	}
	if err != nil {
		return store.Challenge{}, s.fail(ctx, "transition challenge", err)
	}
	s.wake(id, version)
	return c, nil
}

// RecordAttempt implements [store.ChallengeStore], like TransitionChallenge:
// a final state never changes, not even its Attempts.
func (s *Store) RecordAttempt(ctx context.Context, id string, from store.State, now time.Time) (store.Challenge, error) {
	if from.Final() {
		if err := s.check(ctx); err != nil {
			return store.Challenge{}, err
		}
		return store.Challenge{}, s.missingOrConflict(ctx, "record attempt", id)
	}
	if err := s.lockWrites(ctx); err != nil {
		return store.Challenge{}, err
	}
	c, version, err := scanChallenge(s.queryRow(ctx, nil, `UPDATE challenges
		SET attempts = attempts + 1, version = version + 1
		WHERE id = ? AND state = ? AND expires_at > ?
		RETURNING `+challengeColumns,
		id, string(from), now.UnixMilli()))
	s.unlockWrites()
	if errors.Is(err, sql.ErrNoRows) {
		return store.Challenge{}, s.missingOrConflict(ctx, "record attempt", id)
	}
	if err != nil {
		return store.Challenge{}, s.fail(ctx, "record attempt", err)
	}
	s.wake(id, version)
	return c, nil
}

// missingOrConflict is the error of a compare-and-set on challenge id that
// changed nothing: ErrNotFound when there is no such challenge, else
// ErrConflict. It is a read, made without the write semaphore.
func (s *Store) missingOrConflict(ctx context.Context, op, id string) error {
	var exists bool
	if err := s.queryRow(ctx, nil, `SELECT EXISTS (SELECT 1 FROM challenges WHERE id = ?)`, id).Scan(&exists); err != nil {
		return s.fail(ctx, op, err)
	}
	if !exists {
		return store.ErrNotFound
	}
	return store.ErrConflict
}

// ListPendingChallenges implements [store.ChallengeStore].
func (s *Store) ListPendingChallenges(ctx context.Context, userID string, now time.Time) ([]store.Challenge, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, nil, `SELECT `+challengeColumns+` FROM challenges
		WHERE user_id = ? AND state = ? AND expires_at > ?
		ORDER BY created_at, id`, userID, string(store.StatePending), now.UnixMilli())
	if err != nil {
		return nil, s.fail(ctx, "list pending challenges", err)
	}
	defer rows.Close()
	list := make([]store.Challenge, 0)
	for rows.Next() {
		c, _, err := scanChallenge(rows)
		if err != nil {
			return nil, s.fail(ctx, "list pending challenges", err)
		}
		list = append(list, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "list pending challenges", err)
	}
	return list, nil
}

// scanChallenge reads a row of challengeColumns and returns the record and
// its version.
func scanChallenge(r rowScanner) (store.Challenge, int64, error) {
	var (
		c                          store.Challenge
		state, methods             string
		created, expires, answered sql.NullInt64
		attempts, version          int64
	)
	err := r.Scan(&c.ID, &c.UserID, &c.Action, &state, &c.Method, &methods, &c.Nonce, &c.Details, &c.DetailsDigest,
		&c.VerificationCode, &c.IdempotencyKey, &c.ClientIP, &c.UserAgent, &c.Origin, &created, &expires,
		&c.CredentialID, &c.DenyReason, &answered, &attempts, &c.ClaimedBy, &c.ClaimSecretHash,
		&c.BrowserBindingHash, &c.Passkey, &version)
	if err != nil {
		return store.Challenge{}, 0, err
	}
	if err := json.Unmarshal([]byte(methods), &c.Methods); err != nil {
		return store.Challenge{}, 0, fmt.Errorf("challenge %s: methods %q: %w", c.ID, methods, err)
	}
	if len(c.Methods) == 0 {
		c.Methods = nil
	}
	c.State = store.State(state)
	c.CreatedAt, c.ExpiresAt, c.AnsweredAt = fromMillis(created), fromMillis(expires), fromMillis(answered)
	c.Attempts = int(attempts)
	return c, version, nil
}

// storedChallenge is c as a read returns it after an insert: times in UTC
// at millisecond precision, slices not shared with the caller.
func storedChallenge(c store.Challenge) store.Challenge {
	c.CreatedAt, c.ExpiresAt, c.AnsweredAt = stored(c.CreatedAt), stored(c.ExpiresAt), stored(c.AnsweredAt)
	c.Methods = slices.Clone(c.Methods)
	c.Nonce = bytes.Clone(c.Nonce)
	c.Details = bytes.Clone(c.Details)
	c.DetailsDigest = bytes.Clone(c.DetailsDigest)
	c.ClaimSecretHash = bytes.Clone(c.ClaimSecretHash)
	c.BrowserBindingHash = bytes.Clone(c.BrowserBindingHash)
	c.Passkey = bytes.Clone(c.Passkey)
	return c
}

// nonNil is list, or an empty list for nil, so that it is stored as
// JSON [] rather than null.
func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}
