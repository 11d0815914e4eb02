package pgxstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deviceauth/deviceauth/store"
)

var _ store.CeremonyStore = (*Store)(nil)

// PutCeremony implements [store.CeremonyStore]: one INSERT that does
// nothing when the ID exists.
func (s *Store) PutCeremony(ctx context.Context, c store.Ceremony) error {
	return s.insertNew(ctx, "put ceremony", s.q.putCeremony,
		c.ID, c.UserID, c.Kind, c.Data, c.FirstDevice, nullTime(c.CreatedAt), nullTime(c.ExpiresAt))
}

// TakeCeremony implements [store.CeremonyStore] as one DELETE … WHERE id
// AND expires_at > now RETURNING: of racing takers, only the one whose
// DELETE removed the row gets it. An expired ceremony stays until Sweep.
func (s *Store) TakeCeremony(ctx context.Context, id string, now time.Time) (store.Ceremony, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Ceremony{}, err
	}
	c := store.Ceremony{ID: id}
	var created, expires *time.Time
	err := s.pool.QueryRow(ctx, s.q.takeCeremony, id, now).Scan(&c.UserID, &c.Kind, &c.Data, &c.FirstDevice, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Ceremony{}, store.ErrNotFound
	}
	if err != nil {
		return store.Ceremony{}, wrap("take ceremony", err)
	}
	c.CreatedAt, c.ExpiresAt = fromNullTime(created), fromNullTime(expires)
	return c, nil
}
