package redisstore

import (
	"context"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// PutRegistrationToken implements [store.RegistrationTokenStore]: one
// script stores the token unless its hash exists. The server keeps it for
// ExpiresAt − CreatedAt plus a grace.
func (s *Store) PutRegistrationToken(ctx context.Context, t store.RegistrationToken) error {
	return s.putOnce(ctx, "PutRegistrationToken", s.keys.registrationToken(t.Hash), encodeRegistrationToken(t), t.CreatedAt, t.ExpiresAt)
}

// ConsumeRegistrationToken implements [store.RegistrationTokenStore]: one
// script reads and deletes the token and checks its expiry against now.
func (s *Store) ConsumeRegistrationToken(ctx context.Context, hash []byte, now time.Time) (store.RegistrationToken, error) {
	h, err := s.takeOnce(ctx, "ConsumeRegistrationToken", s.keys.registrationToken(hash), now)
	if err != nil {
		return store.RegistrationToken{}, err
	}
	return decodeRegistrationToken(h, hash)
}

// putOnce stores the one-time record key (a registration token, a
// ceremony) with fields f unless key exists (ErrConflict), for method. The
// contract passes no now here: createdAt stands in for it (only garbage
// collection depends on it), the local clock when it is unset; the server
// keeps the record until expiresAt plus a grace.
func (s *Store) putOnce(ctx context.Context, method, key string, f fields, createdAt, expiresAt time.Time) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	now := createdAt
	if now.IsZero() {
		now = time.Now()
	}
	args := append([]any{ttl(expiresAt, now, shortGrace)}, f...)
	stored, err := s.run(ctx, call{oncePut, []string{key}, args}).Int()
	if err != nil {
		return wrap(method, err)
	}
	if stored == 0 {
		return store.ErrConflict
	}
	return nil
}

// takeOnce deletes the one-time record key and returns its fields when it
// is unexpired at now, for method; ErrNotFound otherwise.
func (s *Store) takeOnce(ctx context.Context, method, key string, now time.Time) (map[string]string, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	v, err := s.run(ctx, call{onceTake, []string{key}, []any{now.UnixMilli()}}).Result()
	if err != nil {
		return nil, wrap(method, err)
	}
	r, err := parseReply(v)
	if err != nil {
		return nil, err
	}
	if r.status != "ok" {
		return nil, store.ErrNotFound
	}
	return hashOf(r.rest)
}
