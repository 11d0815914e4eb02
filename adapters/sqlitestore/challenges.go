package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

const challengeColumns = `id, user_id, action, state, method, methods, nonce, details, details_digest,
	verification_code, idempotency_key, client_ip, user_agent, origin, created_at, expires_at,
	credential_id, deny_reason, answered_at, attempts, claimed_by, claim_secret_hash,
	browser_binding_hash, passkey, attestation_required, version`

// CreateChallenge implements [store.ChallengeStore]. Without an idempotency
// key or a record it is one INSERT; with one, the lookup of the user's
// unexpired challenge with that key, the insert and the record's insert
// share an immediate transaction.
func (s *Store) CreateChallenge(ctx context.Context, c store.Challenge, now time.Time) (store.Challenge, error) {
	args, err := challengeArgs(c)
	if err != nil {
		return store.Challenge{}, err
	}
	if err := s.lockWrites(ctx); err != nil {
		return store.Challenge{}, err
	}
	defer s.unlockWrites()
	if c.IdempotencyKey == "" && c.Record == nil {
		if err := s.insertChallenge(ctx, nil, args); err != nil {
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
	if err := s.insertChallenge(ctx, tx, args); err != nil {
		return store.Challenge{}, err
	}
	if c.Record != nil {
		if err := s.insertAction(ctx, tx, *c.Record); err != nil {
			return store.Challenge{}, err
		}
	}
	if err := s.commit(tx); err != nil {
		return store.Challenge{}, s.fail(ctx, "create challenge", err)
	}
	s.wake(c.ID, 1)
	return storedChallenge(c), nil
}

// challengeValues are the placeholders ?1 … ?25 of a new challenge's
// columns (challengeArgs), and version 1.
const challengeValues = `?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
	?21, ?22, ?23, ?24, ?25, 1`

// challengeArgs are the values of c's columns, in challengeColumns' order
// without version: the arguments ?1 … ?25 of challengeValues.
func challengeArgs(c store.Challenge) ([]any, error) {
	methods, err := json.Marshal(nonNil(c.Methods))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: create challenge: methods: %w", err)
	}
	return []any{c.ID, c.UserID, c.Action, string(c.State), c.Method, string(methods), c.Nonce, c.Details, c.DetailsDigest,
		c.VerificationCode, c.IdempotencyKey, c.ClientIP, c.UserAgent, c.Origin, millis(c.CreatedAt), millis(c.ExpiresAt),
		c.CredentialID, c.DenyReason, millis(c.AnsweredAt), int64(c.Attempts), c.ClaimedBy, c.ClaimSecretHash,
		c.BrowserBindingHash, c.Passkey, c.AttestationRequired}, nil
}

// insertChallenge inserts the challenge of args (challengeArgs), inside tx
// when it is not nil, as a new record of version 1; ErrConflict when its
// ID exists.
func (s *Store) insertChallenge(ctx context.Context, tx *sql.Tx, args []any) error {
	res, err := s.exec(ctx, tx, `INSERT INTO challenges (`+challengeColumns+`)
		VALUES (`+challengeValues+`)
		ON CONFLICT (id) DO NOTHING`, args...)
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
	if err := s.closed.Check(ctx); err != nil {
		return store.Challenge{}, err
	}
	c, err := s.getChallenge(ctx, id, now)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Challenge{}, s.fail(ctx, "get challenge", err)
	}
	return c, err
}

// getChallenge is GetChallenge without the check and with the driver's
// error unwrapped (ErrNotFound when there is no such challenge).
func (s *Store) getChallenge(ctx context.Context, id string, now time.Time) (store.Challenge, error) {
	c, _, err := scanChallenge(s.queryRow(ctx, nil, `SELECT `+challengeColumns+` FROM challenges WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Challenge{}, store.ErrNotFound
	}
	if err != nil {
		return store.Challenge{}, err
	}
	return asOf(c, now), nil
}

// asOf is c as a read at now returns it: StateExpired when it is not final
// and its ExpiresAt is not after now.
func asOf(c store.Challenge, now time.Time) store.Challenge {
	if !c.State.Final() && c.ExpiresAt.UnixMilli() <= now.UnixMilli() {
		c.State = store.StateExpired
	}
	return c
}

// TransitionChallenge implements [store.ChallengeStore]: one conditional
// UPDATE … RETURNING; only when it changes nothing does a second read tell
// ErrNotFound from ErrConflict. With t.CredentialUsed (and a
// t.CredentialID), that UPDATE and the UPDATE of the credential's
// last_used_at share an immediate transaction: BEGIN, the two updates,
// COMMIT.
func (s *Store) TransitionChallenge(ctx context.Context, id string, t store.Transition, now time.Time) (store.Challenge, error) {
	if t.From.Final() {
		if err := s.closed.Check(ctx); err != nil {
			return store.Challenge{}, err
		}
		return store.Challenge{}, s.missingOrConflict(ctx, "transition challenge", id)
	}
	if err := s.lockWrites(ctx); err != nil {
		return store.Challenge{}, err
	}
	var (
		c       store.Challenge
		version int64
		err     error
	)
	if t.CredentialUsed && t.CredentialID != "" {
		c, version, err = s.transitionUsingCredential(ctx, id, t, now)
	} else {
		c, version, err = s.transition(ctx, nil, id, t, now)
	}
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

// transition runs TransitionChallenge's compare-and-set, inside tx when it
// is not nil, and returns the new record and version; sql.ErrNoRows when
// it changed nothing. The user ID, when given, must match — or fill an
// empty one (QR). It writes now to changed_at, which the trigger of
// migration 0005 gives the challenge's action record as its pass time when
// the new state is CONSUMED (as ConsumeChallenge's does).
func (s *Store) transition(ctx context.Context, tx *sql.Tx, id string, t store.Transition, now time.Time) (store.Challenge, int64, error) {
	return scanChallenge(s.queryRow(ctx, tx, `UPDATE challenges SET
			state = ?1,
			user_id = CASE WHEN ?2 <> '' THEN ?2 ELSE user_id END,
			credential_id = CASE WHEN ?3 <> '' THEN ?3 ELSE credential_id END,
			deny_reason = CASE WHEN ?4 <> '' THEN ?4 ELSE deny_reason END,
			claimed_by = CASE WHEN ?5 <> '' THEN ?5 ELSE claimed_by END,
			answered_at = coalesce(?6, answered_at),
			changed_at = ?9,
			version = version + 1
		WHERE id = ?7 AND state = ?8 AND expires_at > ?9
			AND (?2 = '' OR user_id = '' OR user_id = ?2)
		RETURNING `+challengeColumns,
		string(t.To), t.UserID, t.CredentialID, t.DenyReason, t.ClaimedBy, millis(t.AnsweredAt),
		id, string(t.From), now.UnixMilli()))
}

// transitionUsingCredential is transition with t.CredentialUsed: in one
// immediate transaction, the compare-and-set and, when it was made, the
// update of credential t.CredentialID's last_used_at to t.AnsweredAt when
// that credential is the challenge user's (otherwise the update changes no
// row and the transition stands). The caller holds the write semaphore.
func (s *Store) transitionUsingCredential(ctx context.Context, id string, t store.Transition, now time.Time) (store.Challenge, int64, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return store.Challenge{}, 0, err
	}
	defer tx.Rollback()
	c, version, err := s.transition(ctx, tx, id, t, now)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			s.rollback(tx)
		}
		return store.Challenge{}, 0, err
	}
	if _, err := s.exec(ctx, tx, `UPDATE credentials SET last_used_at = ? WHERE id = ? AND user_id = ?`,
		millis(t.AnsweredAt), t.CredentialID, c.UserID); err != nil {
		return store.Challenge{}, 0, err
	}
	if err := s.commit(tx); err != nil {
		return store.Challenge{}, 0, err
	}
	return c, version, nil
}

// RecordAttempt implements [store.ChallengeStore], like TransitionChallenge:
// a final state never changes, not even its Attempts.
func (s *Store) RecordAttempt(ctx context.Context, id string, from store.State, now time.Time) (store.Challenge, error) {
	if from.Final() {
		if err := s.closed.Check(ctx); err != nil {
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
	if err := s.closed.Check(ctx); err != nil {
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
	var row challengeRow
	if err := r.Scan(row.dest()...); err != nil {
		return store.Challenge{}, 0, err
	}
	return row.record()
}

// challengeRow receives the columns of challengeColumns, for statements
// that return them beside other columns.
type challengeRow struct {
	c                          store.Challenge
	state, methods             string
	created, expires, answered sql.NullInt64
	attempts, version          int64
}

// dest is the Scan destinations of challengeColumns.
func (r *challengeRow) dest() []any {
	c := &r.c
	return []any{&c.ID, &c.UserID, &c.Action, &r.state, &c.Method, &r.methods, &c.Nonce, &c.Details, &c.DetailsDigest,
		&c.VerificationCode, &c.IdempotencyKey, &c.ClientIP, &c.UserAgent, &c.Origin, &r.created, &r.expires,
		&c.CredentialID, &c.DenyReason, &r.answered, &r.attempts, &c.ClaimedBy, &c.ClaimSecretHash,
		&c.BrowserBindingHash, &c.Passkey, &c.AttestationRequired, &r.version}
}

// record is the scanned record and its version.
func (r *challengeRow) record() (store.Challenge, int64, error) {
	c := r.c
	if err := json.Unmarshal([]byte(r.methods), &c.Methods); err != nil {
		return store.Challenge{}, 0, fmt.Errorf("challenge %s: methods %q: %w", c.ID, r.methods, err)
	}
	if len(c.Methods) == 0 {
		c.Methods = nil
	}
	c.State = store.State(r.state)
	c.CreatedAt, c.ExpiresAt, c.AnsweredAt = fromMillis(r.created), fromMillis(r.expires), fromMillis(r.answered)
	c.Attempts = int(r.attempts)
	return c, r.version, nil
}

// storedChallenge is c as a read returns it after an insert: times in UTC
// at millisecond precision, slices not shared with the caller.
func storedChallenge(c store.Challenge) store.Challenge {
	c = c.Clone()
	c.Record = nil
	c.CreatedAt, c.ExpiresAt, c.AnsweredAt = stored(c.CreatedAt), stored(c.ExpiresAt), stored(c.AnsweredAt)
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
