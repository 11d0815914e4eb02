package pgxstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deviceauth/deviceauth/store"
)

// Action records (store.ActionStore, store.SignalStore): the actions table
// of migration 0006; a trigger on challenges keeps each record's result in
// step with its challenge, and a challenge's record is inserted by the
// statement that creates the challenge.

var (
	_ store.ActionStore = (*Store)(nil)
	_ store.SignalStore = (*Store)(nil)
)

// actionArgs are the parameters of a's columns, in actionColumns' order.
func actionArgs(a store.ActionRecord) []any {
	return []any{a.ID, a.UserID, a.Action, a.CreatedAt, a.ExpiresAt, a.Outcome, a.Prefix, a.Browser,
		string(a.Result), nullTime(a.PassedAt), string(a.Kind), string(a.Review), a.Reviewer, a.ReviewNote,
		nullTime(a.ReviewedAt), a.Binding, a.Data}
}

// recordArgs are the {record} parameters of a challenge's statement: its
// Record's, or NULLs when it has none.
func recordArgs(c store.Challenge) []any {
	if c.Record == nil {
		return make([]any, 17)
	}
	return actionArgs(*c.Record)
}

// scanAction reads a row of actionColumns.
func scanAction(row pgx.Row) (store.ActionRecord, error) {
	var (
		a                    store.ActionRecord
		passed, reviewed     *time.Time
		result, kind, review string
	)
	if err := row.Scan(&a.ID, &a.UserID, &a.Action, &a.CreatedAt, &a.ExpiresAt, &a.Outcome, &a.Prefix, &a.Browser,
		&result, &passed, &kind, &review, &a.Reviewer, &a.ReviewNote, &reviewed, &a.Binding, &a.Data); err != nil {
		return store.ActionRecord{}, err
	}
	a.CreatedAt, a.ExpiresAt = a.CreatedAt.UTC(), a.ExpiresAt.UTC()
	a.PassedAt, a.ReviewedAt = fromNullTime(passed), fromNullTime(reviewed)
	a.Result, a.Kind, a.Review = store.State(result), store.CredentialKind(kind), store.ReviewState(review)
	return a, nil
}

// collectActions reads every row of rows.
func collectActions(rows pgx.Rows, brief bool) ([]store.ActionRecord, error) {
	defer rows.Close()
	list := []store.ActionRecord{}
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, err
		}
		if brief {
			a.Data = nil
		}
		list = append(list, a)
	}
	return list, rows.Err()
}

// PutAction implements [store.ActionStore].
func (s *Store) PutAction(ctx context.Context, a store.ActionRecord) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, s.q.putAction, actionArgs(a)...)
	if err != nil {
		return wrap("put action", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrConflict
	}
	return nil
}

// GetAction implements [store.ActionStore].
func (s *Store) GetAction(ctx context.Context, userID, id string, now time.Time) (store.ActionRecord, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.ActionRecord{}, err
	}
	a, err := scanAction(s.pool.QueryRow(ctx, s.q.getAction, id, userID, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ActionRecord{}, store.ErrNotFound
	}
	if err != nil {
		return store.ActionRecord{}, wrap("get action", err)
	}
	return a, nil
}

// Actions implements [store.ActionStore] in one SELECT on the user's index.
func (s *Store) Actions(ctx context.Context, q store.ActionQuery, now time.Time) ([]store.ActionRecord, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.q.listActions, q.UserID, now, nullTime(q.Before), q.BeforeID,
		nullTime(q.Since), nullTime(q.PassedSince), q.Cap())
	if err != nil {
		return nil, wrap("list actions", err)
	}
	list, err := collectActions(rows, q.Brief)
	if err != nil {
		return nil, wrap("list actions", err)
	}
	return list, nil
}

// ReadSignals implements [store.SignalStore] in one round trip: a
// pipelined batch of the user's credentials, the counter, the tallies
// (computed by PostgreSQL over the user's index) and the approvals.
func (s *Store) ReadSignals(ctx context.Context, q store.SignalQuery) (store.SignalRead, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.SignalRead{}, err
	}
	var (
		r                    store.SignalRead
		minute, hour, day    int64
		denies, failures     int64
		passedAct, passedAny *time.Time
	)
	b := &pgx.Batch{}
	b.Queue(s.q.listCredentials, q.UserID).Query(func(rows pgx.Rows) error {
		var err error
		r.Credentials, err = collectCredentials(rows)
		return err
	})
	b.Queue(s.q.counter, q.Counter, q.Now).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&r.Counter)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	b.Queue(s.q.tallyActions, q.UserID, q.Action, q.Prefix, q.Browser, q.Now, q.KnownSince).QueryRow(func(row pgx.Row) error {
		return row.Scan(&minute, &hour, &day, &denies, &failures, &r.KnownPrefix, &r.KnownBrowser, &passedAct, &passedAny)
	})
	b.Queue(s.q.approvals, q.UserID, q.Action, q.Now, q.ReviewSince).Query(func(rows pgx.Rows) error {
		var err error
		r.Approvals, err = collectActions(rows, true)
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return store.SignalRead{}, wrap("read signals", err)
	}
	r.Minute, r.Hour, r.Day, r.Denies, r.Failures = int(minute), int(hour), int(day), int(denies), int(failures)
	r.PassedAction, r.PassedAny = fromNullTime(passedAct), fromNullTime(passedAny)
	if len(r.Approvals) == 0 {
		r.Approvals = nil
	}
	return r, nil
}

// DecideReview implements [store.ActionStore] as one compare-and-set.
func (s *Store) DecideReview(ctx context.Context, userID, id string, d store.ReviewDecision, now time.Time) (store.ActionRecord, error) {
	return s.moveReview(ctx, "decide review", userID, id, store.ReviewPending, d.To, &d.Reviewer, &d.Note, nullTime(d.ReviewedAt), now)
}

// UseReview implements [store.ActionStore] as one compare-and-set.
func (s *Store) UseReview(ctx context.Context, userID, id string, now time.Time) (store.ActionRecord, error) {
	return s.moveReview(ctx, "use review", userID, id, store.ReviewApproved, store.ReviewUsed, nil, nil, nil, now)
}

// moveReview moves userID's record id from review from to to, with the
// reviewer, note and time that are not nil; on no change, a read tells
// ErrNotFound from ErrConflict (with the record as it is).
func (s *Store) moveReview(ctx context.Context, op, userID, id string, from, to store.ReviewState,
	reviewer, note *string, reviewedAt *time.Time, now time.Time) (store.ActionRecord, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.ActionRecord{}, err
	}
	a, err := scanAction(s.pool.QueryRow(ctx, s.q.moveReview, id, userID, now, string(from), string(to), reviewer, note, reviewedAt))
	switch {
	case err == nil:
		return a, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return store.ActionRecord{}, wrap(op, err)
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
	rows, err := s.pool.Query(ctx, s.q.pendingReviews, now, limit)
	if err != nil {
		return nil, wrap("pending reviews", err)
	}
	list, err := collectActions(rows, false)
	if err != nil {
		return nil, wrap("pending reviews", err)
	}
	return list, nil
}

// ForgetActions implements [store.ActionStore].
func (s *Store) ForgetActions(ctx context.Context, userID string, counters []string) (int, error) {
	if err := s.closed.Check(ctx); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, s.q.forgetActions, userID, counters)
	if err != nil {
		return 0, wrap("forget actions", err)
	}
	return int(tag.RowsAffected()), nil
}
