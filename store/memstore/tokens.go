package memstore

import (
	"bytes"
	"context"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// PutRegistrationToken implements [store.RegistrationTokenStore].
func (s *Store) PutRegistrationToken(ctx context.Context, t store.RegistrationToken) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	key := string(t.Hash)
	if _, ok := s.tokens[key]; ok {
		return store.ErrConflict
	}
	t.Hash = bytes.Clone(t.Hash)
	s.tokens[key] = t
	s.garbage.add(t.ExpiresAt, gcToken, key)
	return nil
}

// ConsumeRegistrationToken implements [store.RegistrationTokenStore].
func (s *Store) ConsumeRegistrationToken(ctx context.Context, hash []byte, now time.Time) (store.RegistrationToken, error) {
	if err := s.lock(ctx); err != nil {
		return store.RegistrationToken{}, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	t, ok := s.tokens[string(hash)]
	if !ok || !t.ExpiresAt.After(now) {
		return store.RegistrationToken{}, store.ErrNotFound
	}
	delete(s.tokens, string(hash))
	t.Hash = bytes.Clone(t.Hash)
	return t, nil
}
