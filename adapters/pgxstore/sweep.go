package pgxstore

import (
	"context"
	"time"
)

// Sweep deletes what no read can see any more and returns how many rows it
// deleted: registration tokens, nonces, idempotency keys, ceremonies and
// action records whose ExpiresAt is not after now, counters whose window
// has ended, and challenges ExpiredChallengeRetention past their
// ExpiresAt (until then they read as EXPIRED). It is garbage collection only — every read already compares
// with its own now. A Service over the store calls it every
// Config.SweepInterval (it implements [store.Sweeper]), from each instance;
// overlapping sweeps are harmless. Call it yourself only with that turned
// off, with the same clock the Service uses.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int64, error) {
	if err := s.closed.Check(ctx); err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, s.q.sweep, now.Add(-ExpiredChallengeRetention), now).Scan(&n); err != nil {
		return 0, wrap("sweep", err)
	}
	return n, nil
}
