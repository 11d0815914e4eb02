package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/store"
)

// IncrementCounter implements [store.CounterStore]: one script compares the
// stored window end with now and either counts on or starts a new window.
func (s *Store) IncrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error) {
	if err := s.closed.Check(ctx); err != nil {
		return 0, err
	}
	end := now.Add(window)
	n, err := s.run(ctx, call{counterIncrement, []string{s.keys.counter(key)}, []any{
		now.UnixMilli(), end.UnixMilli(), ttl(end, now, shortGrace),
	}}).Int64()
	if err != nil {
		return 0, wrap("IncrementCounter", err)
	}
	return n, nil
}

// Counter implements [store.CounterStore] with one HMGET; a window that has
// ended (by now) reads 0.
func (s *Store) Counter(ctx context.Context, key string, now time.Time) (int64, error) {
	if err := s.closed.Check(ctx); err != nil {
		return 0, err
	}
	n, err := counterValue(s.client.HMGet(ctx, s.keys.counter(key), fieldCounterValue, fieldWindowEnd), now)
	if err != nil {
		return 0, wrap("Counter", err)
	}
	return n, nil
}

// counterValue reads the reply of HMGET value, window end of a counter: 0
// when it is absent or its window has ended by now.
func counterValue(cmd *redis.SliceCmd, now time.Time) (int64, error) {
	v, err := cmd.Result()
	if err != nil {
		return 0, err
	}
	value, _ := v[0].(string)
	end, _ := v[1].(string)
	if value == "" || end == "" {
		return 0, nil
	}
	e, err := strconv.ParseInt(end, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("window end: %w", err)
	}
	if e <= now.UnixMilli() {
		return 0, nil
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("value: %w", err)
	}
	return n, nil
}

// ClaimNonce implements [store.CounterStore]: one script claims the nonce
// unless it is recorded with an expiry after now; a nonce the server still
// holds past its expiry is claimed again.
func (s *Store) ClaimNonce(ctx context.Context, nonce string, expiresAt, now time.Time) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	claimed, err := s.run(ctx, call{nonceClaim, []string{s.keys.nonce(nonce)}, []any{
		now.UnixMilli(), expiresAt.UnixMilli(), ttl(expiresAt, now, shortGrace),
	}}).Int()
	if err != nil {
		return wrap("ClaimNonce", err)
	}
	if claimed == 0 {
		return store.ErrConflict
	}
	return nil
}
