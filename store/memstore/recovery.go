package memstore

import (
	"bytes"
	"context"
	"slices"

	"github.com/deviceauth/deviceauth/store"
)

var _ store.RecoveryCodeStore = (*Store)(nil)

// ReplaceRecoveryCodes implements [store.RecoveryCodeStore].
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if len(hashes) == 0 {
		delete(s.recovery, userID)
		return nil
	}
	codes := make([][]byte, len(hashes))
	for i, h := range hashes {
		codes[i] = bytes.Clone(h)
	}
	s.recovery[userID] = codes
	return nil
}

// UseRecoveryCode implements [store.RecoveryCodeStore].
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	codes := s.recovery[userID]
	i := slices.IndexFunc(codes, func(h []byte) bool { return bytes.Equal(h, hash) })
	if i < 0 {
		return 0, store.ErrNotFound
	}
	codes = slices.Delete(codes, i, i+1)
	if len(codes) == 0 {
		delete(s.recovery, userID)
	} else {
		s.recovery[userID] = codes
	}
	return len(codes), nil
}

// HasRecoveryCode implements [store.RecoveryCodeStore].
func (s *Store) HasRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.recovery[userID], func(h []byte) bool { return bytes.Equal(h, hash) }), nil
}
