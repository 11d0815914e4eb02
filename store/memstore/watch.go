package memstore

import (
	"context"

	"github.com/deviceauth/deviceauth/store"
)

// Watch implements [store.ChallengeStore]. Only changes made through this
// Store value wake the channel. The challenge need not exist yet.
func (s *Store) Watch(ctx context.Context, id string) (<-chan struct{}, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	ch, _, ok := s.watchers.Watch(ctx, id)
	if !ok {
		return nil, store.ErrClosed
	}
	return ch, nil
}

// wake wakes every waiter of challenge id.
func (s *Store) wake(id string) { s.watchers.Wake(id) }
