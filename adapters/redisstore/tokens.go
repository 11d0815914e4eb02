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
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	// The contract passes no now here: CreatedAt stands in for it (only
	// garbage collection depends on it), the local clock when it is unset.
	now := t.CreatedAt
	if now.IsZero() {
		now = time.Now()
	}
	args := append([]any{ttl(t.ExpiresAt, now, shortGrace)}, encodeRegistrationToken(t)...)
	stored, err := s.run(ctx, call{tokenPut, []string{s.keys.registrationToken(t.Hash)}, args}).Int()
	if err != nil {
		return wrap("PutRegistrationToken", err)
	}
	if stored == 0 {
		return store.ErrConflict
	}
	return nil
}

// ConsumeRegistrationToken implements [store.RegistrationTokenStore]: one
// script reads and deletes the token and checks its expiry against now.
func (s *Store) ConsumeRegistrationToken(ctx context.Context, hash []byte, now time.Time) (store.RegistrationToken, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.RegistrationToken{}, err
	}
	v, err := s.run(ctx, call{tokenConsume, []string{s.keys.registrationToken(hash)}, []any{now.UnixMilli()}}).Result()
	if err != nil {
		return store.RegistrationToken{}, wrap("ConsumeRegistrationToken", err)
	}
	r, err := parseReply(v)
	if err != nil {
		return store.RegistrationToken{}, err
	}
	if r.status != "ok" {
		return store.RegistrationToken{}, store.ErrNotFound
	}
	h, err := hashOf(r.rest)
	if err != nil {
		return store.RegistrationToken{}, err
	}
	return decodeRegistrationToken(h, hash)
}
