package memstore

import (
	"bytes"
	"cmp"
	"context"
	"slices"

	"github.com/deviceauth/deviceauth/store"
)

// CreateCredential implements [store.CredentialStore].
func (s *Store) CreateCredential(ctx context.Context, c store.Credential, max int) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.credentials[c.ID]; ok {
		return store.ErrConflict
	}
	if max > 0 && len(s.userCredentials[c.UserID]) >= max {
		return store.ErrLimit
	}
	s.credentials[c.ID] = c.Clone()
	addToIndex(s.userCredentials, c.UserID, c.ID)
	return nil
}

// GetCredential implements [store.CredentialStore].
func (s *Store) GetCredential(ctx context.Context, id string) (store.Credential, error) {
	if err := s.lock(ctx); err != nil {
		return store.Credential{}, err
	}
	defer s.mu.Unlock()
	c, ok := s.credentials[id]
	if !ok {
		return store.Credential{}, store.ErrNotFound
	}
	return c.Clone(), nil
}

// ListCredentials implements [store.CredentialStore].
func (s *Store) ListCredentials(ctx context.Context, userID string) ([]store.Credential, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return s.listCredentials(userID), nil
}

// listCredentials is ListCredentials for a caller that holds s.mu.
func (s *Store) listCredentials(userID string) []store.Credential {
	list := make([]store.Credential, 0, len(s.userCredentials[userID]))
	for id := range s.userCredentials[userID] {
		list = append(list, s.credentials[id].Clone())
	}
	slices.SortFunc(list, func(a, b store.Credential) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return list
}

// UpdateCredential implements [store.CredentialStore].
func (s *Store) UpdateCredential(ctx context.Context, userID, id string, u store.CredentialUpdate) (store.Credential, error) {
	if err := s.lock(ctx); err != nil {
		return store.Credential{}, err
	}
	defer s.mu.Unlock()
	c, ok := s.credentials[id]
	if !ok || c.UserID != userID {
		return store.Credential{}, store.ErrNotFound
	}
	if u.SignCount != nil {
		next := *u.SignCount
		if next <= c.SignCount && (next != 0 || c.SignCount != 0) {
			return store.Credential{}, store.ErrConflict
		}
		c.SignCount = next
	}
	if !u.LastUsedAt.IsZero() {
		c.LastUsedAt = u.LastUsedAt
	}
	if u.Name != nil {
		c.Name = *u.Name
	}
	if u.PushToken != nil {
		c.PushToken = *u.PushToken
	}
	if u.Flags != nil {
		c.Flags = *u.Flags
	}
	if u.Passkey != nil {
		c.Passkey = bytes.Clone(u.Passkey)
	}
	s.credentials[id] = c
	return c.Clone(), nil
}

// DeleteCredential implements [store.CredentialStore].
func (s *Store) DeleteCredential(ctx context.Context, userID, id string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	c, ok := s.credentials[id]
	if !ok || c.UserID != userID {
		return store.ErrNotFound
	}
	delete(s.credentials, id)
	removeFromIndex(s.userCredentials, userID, id)
	return nil
}

// DeleteUserCredentials implements [store.CredentialStore].
func (s *Store) DeleteUserCredentials(ctx context.Context, userID string) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	ids := s.userCredentials[userID]
	for id := range ids {
		delete(s.credentials, id)
	}
	delete(s.userCredentials, userID)
	return len(ids), nil
}
