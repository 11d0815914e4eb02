package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// Action records (store.ActionStore, store.SignalStore): the actions
// table of migration 0005; a trigger on challenges keeps each record's
// result in step with its challenge.

var (
	_ store.ActionStore = (*Store)(nil)
	_ store.SignalStore = (*Store)(nil)
)

const actionColumns = `id, user_id, action, created_at, expires_at, outcome, prefix, browser, result, passed_at,
	kind, review, reviewer, review_note, reviewed_at, binding, data`

// actionArgs are the values of a's columns, in actionColumns' order.
func actionArgs(a store.ActionRecord) []any {
	return []any{a.ID, a.UserID, a.Action, a.CreatedAt.UnixMilli(), a.ExpiresAt.UnixMilli(), a.Outcome, a.Prefix, a.Browser,
		string(a.Result), millis(a.PassedAt), string(a.Kind), string(a.Review), a.Reviewer, a.ReviewNote, millis(a.ReviewedAt),
		a.Binding, a.Data}
}

// insertAction inserts a, inside tx when it is not nil; ErrConflict when
// its ID exists.
func (s *Store) insertAction(ctx context.Context, tx *sql.Tx, a store.ActionRecord) error {
	res, err := s.exec(ctx, tx, `INSERT INTO actions (`+actionColumns+`)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
		ON CONFLICT (id) DO NOTHING`, actionArgs(a)...)
	if err != nil {
		return s.fail(ctx, "put action", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.fail(ctx, "put action", err)
	} else if n == 0 {
		return store.ErrConflict
	}
	return nil
}

// PutAction implements [store.ActionStore].
func (s *Store) PutAction(ctx context.Context, a store.ActionRecord) error {
	if err := s.lockWrites(ctx); err != nil {
		return err
	}
	defer s.unlockWrites()
	return s.insertAction(ctx, nil, a)
}

// scanAction reads a row of actionColumns.
func scanAction(r rowScanner, brief bool) (store.ActionRecord, error) {
	var (
		a                                  store.ActionRecord
		created, expires, passed, reviewed sql.NullInt64
		result, kind, review               string
		data                               []byte
	)
	if err := r.Scan(&a.ID, &a.UserID, &a.Action, &created, &expires, &a.Outcome, &a.Prefix, &a.Browser, &result, &passed,
		&kind, &review, &a.Reviewer, &a.ReviewNote, &reviewed, &a.Binding, &data); err != nil {
		return store.ActionRecord{}, err
	}
	a.CreatedAt, a.ExpiresAt, a.PassedAt, a.ReviewedAt = fromMillis(created), fromMillis(expires), fromMillis(passed), fromMillis(reviewed)
	a.Result, a.Kind, a.Review = store.State(result), store.CredentialKind(kind), store.ReviewState(review)
	if !brief {
		a.Data = data
	}
	return a, nil
}

// GetAction implements [store.ActionStore].
func (s *Store) GetAction(ctx context.Context, userID, id string, now time.Time) (store.ActionRecord, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.ActionRecord{}, err
	}
	a, err := scanAction(s.queryRow(ctx, nil, `SELECT `+actionColumns+` FROM actions
		WHERE id = ? AND user_id = ? AND expires_at > ?`, id, userID, now.UnixMilli()), false)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ActionRecord{}, store.ErrNotFound
	}
	if err != nil {
		return store.ActionRecord{}, s.fail(ctx, "get action", err)
	}
	return a, nil
}

// Actions implements [store.ActionStore]: one SELECT on the user's index
// (newest first).
func (s *Store) Actions(ctx context.Context, q store.ActionQuery, now time.Time) ([]store.ActionRecord, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	return s.queryActions(ctx, q, now)
}

// queryActions is Actions without the check.
func (s *Store) queryActions(ctx context.Context, q store.ActionQuery, now time.Time) ([]store.ActionRecord, error) {
	rows, err := s.query(ctx, nil, `SELECT `+actionColumns+` FROM actions
		WHERE user_id = ?1 AND expires_at > ?2
			AND (?3 IS NULL OR created_at < ?3 OR (created_at = ?3 AND id < ?4))
			AND (?5 IS NULL OR created_at >= ?5 OR (?6 IS NOT NULL AND passed_at >= ?6))
		ORDER BY created_at DESC, id DESC
		LIMIT ?7`,
		q.UserID, now.UnixMilli(), millis(q.Before), q.BeforeID, millis(q.Since), millis(q.PassedSince), q.Cap())
	if err != nil {
		return nil, s.fail(ctx, "list actions", err)
	}
	defer rows.Close()
	list := []store.ActionRecord{}
	for rows.Next() {
		a, err := scanAction(rows, q.Brief)
		if err != nil {
			return nil, s.fail(ctx, "list actions", err)
		}
		list = append(list, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "list actions", err)
	}
	return list, nil
}

// ReadSignals implements [store.SignalStore]: the credentials, the counter
// and the records of the last day or passed since q.KnownSince, tallied
// here (a local file has no round trips to save).
func (s *Store) ReadSignals(ctx context.Context, q store.SignalQuery) (store.SignalRead, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.SignalRead{}, err
	}
	var (
		r   store.SignalRead
		err error
	)
	if r.Credentials, err = s.ListCredentials(ctx, q.UserID); err != nil {
		return store.SignalRead{}, err
	}
	if q.Counter != "" {
		if r.Counter, err = s.Counter(ctx, q.Counter, q.Now); err != nil {
			return store.SignalRead{}, err
		}
	}
	recs, err := s.queryActions(ctx, store.ActionQuery{UserID: q.UserID, Since: q.Since(), PassedSince: q.KnownSince,
		Limit: maxSignalRecords, Brief: true}, q.Now)
	if err != nil {
		return store.SignalRead{}, err
	}
	for i := range recs {
		q.Tally(&r, &recs[i])
	}
	return r, nil
}

// maxSignalRecords bounds the records ReadSignals tallies.
const maxSignalRecords = 1000

// DecideReview implements [store.ActionStore]: one compare-and-set UPDATE.
func (s *Store) DecideReview(ctx context.Context, userID, id string, d store.ReviewDecision, now time.Time) (store.ActionRecord, error) {
	return s.moveReview(ctx, "decide review", userID, id, store.ReviewPending, d.To, d.Reviewer, d.Note, millis(d.ReviewedAt), now)
}

// UseReview implements [store.ActionStore]: one compare-and-set UPDATE.
func (s *Store) UseReview(ctx context.Context, userID, id string, now time.Time) (store.ActionRecord, error) {
	return s.moveReview(ctx, "use review", userID, id, store.ReviewApproved, store.ReviewUsed, nil, nil, nil, now)
}

// moveReview moves userID's record id from review from to to, and sets
// the reviewer, note and time that are not nil; on no change, a read
// tells ErrNotFound from ErrConflict (with the record as it is).
func (s *Store) moveReview(ctx context.Context, op, userID, id string, from, to store.ReviewState,
	reviewer, note, reviewedAt any, now time.Time) (store.ActionRecord, error) {
	if err := s.lockWrites(ctx); err != nil {
		return store.ActionRecord{}, err
	}
	a, err := scanAction(s.queryRow(ctx, nil, `UPDATE actions SET review = ?5,
			reviewer = coalesce(?6, reviewer), review_note = coalesce(?7, review_note), reviewed_at = coalesce(?8, reviewed_at)
		WHERE id = ?1 AND user_id = ?2 AND expires_at > ?3 AND review = ?4
		RETURNING `+actionColumns,
		id, userID, now.UnixMilli(), string(from), string(to), reviewer, note, reviewedAt), false)
	s.unlockWrites()
	switch {
	case err == nil:
		return a, nil
	case !errors.Is(err, sql.ErrNoRows):
		return store.ActionRecord{}, s.fail(ctx, op, err)
	}
	a, err = s.GetAction(ctx, userID, id, now)
	if err != nil {
		return store.ActionRecord{}, err
	}
	return a, store.ErrConflict
}

// PendingReviews implements [store.ActionStore].
func (s *Store) PendingReviews(ctx context.Context, limit int, now time.Time) ([]store.ActionRecord, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, nil, `SELECT `+actionColumns+` FROM actions
		WHERE review = 'PENDING' AND expires_at > ? ORDER BY created_at, id LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, s.fail(ctx, "pending reviews", err)
	}
	defer rows.Close()
	list := []store.ActionRecord{}
	for rows.Next() {
		a, err := scanAction(rows, false)
		if err != nil {
			return nil, s.fail(ctx, "pending reviews", err)
		}
		list = append(list, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "pending reviews", err)
	}
	return list, nil
}

// ForgetActions implements [store.ActionStore].
func (s *Store) ForgetActions(ctx context.Context, userID string, counters []string) (int, error) {
	if err := s.lockWrites(ctx); err != nil {
		return 0, err
	}
	defer s.unlockWrites()
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, s.fail(ctx, "forget actions", err)
	}
	defer tx.Rollback()
	res, err := s.exec(ctx, tx, `DELETE FROM actions WHERE user_id = ?`, userID)
	if err != nil {
		return 0, s.fail(ctx, "forget actions", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(ctx, "forget actions", err)
	}
	for _, k := range counters {
		if _, err := s.exec(ctx, tx, `DELETE FROM counters WHERE key = ?`, k); err != nil {
			return 0, s.fail(ctx, "forget actions", err)
		}
	}
	if err := s.commit(tx); err != nil {
		return 0, s.fail(ctx, "forget actions", err)
	}
	return int(n), nil
}
