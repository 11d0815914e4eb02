package memstore

import (
	"context"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// counter is a fixed-window counter.
type counter struct {
	value int64
	end   time.Time // the window's end
}

// IncrementCounter implements [store.CounterStore].
func (s *Store) IncrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	c, ok := s.counters[key]
	if !ok || !c.end.After(now) {
		c = counter{end: now.Add(window)}
		s.garbage.add(c.end, gcCounter, key)
	}
	c.value++
	s.counters[key] = c
	return c.value, nil
}

// Counter implements [store.CounterStore].
func (s *Store) Counter(ctx context.Context, key string, now time.Time) (int64, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	if c, ok := s.counters[key]; ok && c.end.After(now) {
		return c.value, nil
	}
	return 0, nil
}

// ClaimNonce implements [store.CounterStore].
func (s *Store) ClaimNonce(ctx context.Context, nonce string, expiresAt, now time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	if end, ok := s.nonces[nonce]; ok && end.After(now) {
		return store.ErrConflict
	}
	s.nonces[nonce] = expiresAt
	s.garbage.add(expiresAt, gcNonce, nonce)
	return nil
}
