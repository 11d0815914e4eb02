package pgxstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deviceauth/deviceauth/store"
)

// IncrementCounter implements [store.CounterStore] as one
// INSERT … ON CONFLICT DO UPDATE that also starts a new window when the
// old one has ended.
func (s *Store) IncrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error) {
	if err := s.closed.Check(ctx); err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, s.q.incrementCounter, key, now.Add(window), now).Scan(&n); err != nil {
		return 0, wrap("increment counter", err)
	}
	return n, nil
}

// Counter implements [store.CounterStore].
func (s *Store) Counter(ctx context.Context, key string, now time.Time) (int64, error) {
	if err := s.closed.Check(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := s.pool.QueryRow(ctx, s.q.counter, key, now).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap("counter", err)
	}
	return n, nil
}

// ClaimNonce implements [store.CounterStore] as one
// INSERT … ON CONFLICT DO UPDATE … WHERE expired: it writes a row exactly
// when the nonce is claimed.
func (s *Store) ClaimNonce(ctx context.Context, nonce string, expiresAt, now time.Time) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, s.q.claimNonce, nonce, expiresAt, now)
	if err != nil {
		return wrap("claim nonce", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrConflict
	}
	return nil
}
