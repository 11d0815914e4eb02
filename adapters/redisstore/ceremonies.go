package redisstore

import (
	"context"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

var _ store.CeremonyStore = (*Store)(nil)

// PutCeremony implements [store.CeremonyStore]: one script stores the
// ceremony unless its ID exists, in the hash tag its ID carries (the
// user's, for the IDs the Service mints for a known user) or in one of its
// own. The server keeps it for ExpiresAt − CreatedAt plus a grace.
func (s *Store) PutCeremony(ctx context.Context, c store.Ceremony) error {
	return s.putOnce(ctx, "PutCeremony", s.keys.ceremony(c.ID), encodeCeremony(c), c.CreatedAt, c.ExpiresAt)
}

// TakeCeremony implements [store.CeremonyStore]: one script reads and
// deletes the ceremony and checks its expiry against now, so of racing
// callers exactly one gets it.
func (s *Store) TakeCeremony(ctx context.Context, id string, now time.Time) (store.Ceremony, error) {
	h, err := s.takeOnce(ctx, "TakeCeremony", s.keys.ceremony(id), now)
	if err != nil {
		return store.Ceremony{}, err
	}
	return decodeCeremony(h)
}
