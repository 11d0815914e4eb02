package memstore

import (
	"context"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

var _ store.CeremonyStore = (*Store)(nil)

// PutCeremony implements [store.CeremonyStore].
func (s *Store) PutCeremony(ctx context.Context, c store.Ceremony) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.ceremonies[c.ID]; ok {
		return store.ErrConflict
	}
	s.ceremonies[c.ID] = c.Clone()
	s.garbage.add(c.ExpiresAt, gcCeremony, c.ID)
	return nil
}

// TakeCeremony implements [store.CeremonyStore].
func (s *Store) TakeCeremony(ctx context.Context, id string, now time.Time) (store.Ceremony, error) {
	if err := s.lock(ctx); err != nil {
		return store.Ceremony{}, err
	}
	defer s.mu.Unlock()
	s.collectGarbage(now)
	c, ok := s.ceremonies[id]
	if !ok || !c.ExpiresAt.After(now) {
		return store.Ceremony{}, store.ErrNotFound
	}
	delete(s.ceremonies, id)
	return c, nil // the map's copy, which nobody else holds now
}
