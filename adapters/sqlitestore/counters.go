package sqlitestore

import (
	"context"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// IncrementCounter implements [store.CounterStore]: one upsert that starts
// a new window when the stored one has ended, and returns the new value.
func (s *Store) IncrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error) {
	if err := s.lockWrites(ctx); err != nil {
		return 0, err
	}
	defer s.unlockWrites()
	var n int64
	// SET expressions read the row as it was before the update.
	err := s.queryRow(ctx, nil, `INSERT INTO counters (key, value, window_end) VALUES (?1, 1, ?2)
		ON CONFLICT (key) DO UPDATE SET
			value = CASE WHEN window_end > ?3 THEN value + 1 ELSE 1 END,
			window_end = CASE WHEN window_end > ?3 THEN window_end ELSE excluded.window_end END
		RETURNING value`,
		key, now.Add(window).UnixMilli(), now.UnixMilli()).Scan(&n)
	if err != nil {
		return 0, s.fail(ctx, "increment counter", err)
	}
	return n, nil
}

// Counter implements [store.CounterStore].
func (s *Store) Counter(ctx context.Context, key string, now time.Time) (int64, error) {
	if err := s.closed.Check(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := s.queryRow(ctx, nil, `SELECT coalesce((SELECT value FROM counters WHERE key = ? AND window_end > ?), 0)`,
		key, now.UnixMilli()).Scan(&n)
	if err != nil {
		return 0, s.fail(ctx, "counter", err)
	}
	return n, nil
}

// ClaimNonce implements [store.CounterStore]: one upsert that takes over an
// expired claim and leaves an unexpired one alone (no row changed).
func (s *Store) ClaimNonce(ctx context.Context, nonce string, expiresAt, now time.Time) error {
	if err := s.lockWrites(ctx); err != nil {
		return err
	}
	defer s.unlockWrites()
	res, err := s.exec(ctx, nil, `INSERT INTO nonces (nonce, expires_at) VALUES (?1, ?2)
		ON CONFLICT (nonce) DO UPDATE SET expires_at = excluded.expires_at
		WHERE nonces.expires_at <= ?3`,
		nonce, expiresAt.UnixMilli(), now.UnixMilli())
	if err != nil {
		return s.fail(ctx, "claim nonce", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, "claim nonce", err)
	}
	if n == 0 {
		return store.ErrConflict
	}
	return nil
}
