package sqlitestore

import (
	"context"
	"time"
)

// ExpiredChallengeRetention is how long Sweep keeps a challenge past its
// ExpiresAt, so that a waiting browser or device reads EXPIRED rather than
// not-found meanwhile (the same as pgxstore's and memstore's).
const ExpiredChallengeRetention = time.Hour

// Sweep deletes the records that can no longer matter at now: registration
// tokens, counters, nonces, ceremonies and action records once expired
// (they already behave as absent), challenges ExpiredChallengeRetention
// after they expired (at once when they have no ExpiresAt, with which they
// read as EXPIRED). It reports how many rows it deleted. Expiry never
// depends on Sweep: it is garbage collection only, so that the file does
// not grow: a Service over the store calls it every Config.SweepInterval
// (it implements [store.Sweeper]); call it yourself only with that turned
// off, with the time of the Service's clock.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int64, error) {
	if err := s.lockWrites(ctx); err != nil {
		return 0, err
	}
	defer s.unlockWrites()
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, s.fail(ctx, "sweep", err)
	}
	defer tx.Rollback()
	nowMs := now.UnixMilli()
	var deleted int64
	for _, sweep := range []struct {
		query string
		arg   int64
	}{
		{`DELETE FROM challenges WHERE expires_at IS NULL OR expires_at <= ?`, now.Add(-ExpiredChallengeRetention).UnixMilli()},
		{`DELETE FROM registration_tokens WHERE expires_at IS NULL OR expires_at <= ?`, nowMs},
		{`DELETE FROM counters WHERE window_end <= ?`, nowMs},
		{`DELETE FROM nonces WHERE expires_at <= ?`, nowMs},
		{`DELETE FROM ceremonies WHERE expires_at IS NULL OR expires_at <= ?`, nowMs},
		{`DELETE FROM actions WHERE expires_at <= ?`, nowMs},
	} {
		res, err := s.exec(ctx, tx, sweep.query, sweep.arg)
		if err != nil {
			return 0, s.fail(ctx, "sweep", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, s.fail(ctx, "sweep", err)
		}
		deleted += n
	}
	if err := s.commit(tx); err != nil {
		return 0, s.fail(ctx, "sweep", err)
	}
	return deleted, nil
}
