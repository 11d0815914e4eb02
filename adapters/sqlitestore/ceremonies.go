package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

var _ store.CeremonyStore = (*Store)(nil)

// PutCeremony implements [store.CeremonyStore]: one INSERT that does
// nothing when the ID exists.
func (s *Store) PutCeremony(ctx context.Context, c store.Ceremony) error {
	return s.insertNew(ctx, "put ceremony", `INSERT INTO ceremonies (id, user_id, kind, data, first_device, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		c.ID, c.UserID, c.Kind, c.Data, c.FirstDevice, millis(c.CreatedAt), millis(c.ExpiresAt))
}

// TakeCeremony implements [store.CeremonyStore]: one DELETE … RETURNING of
// the unexpired ceremony, so of racing callers exactly one gets the row.
// An expired ceremony stays until Sweep.
func (s *Store) TakeCeremony(ctx context.Context, id string, now time.Time) (store.Ceremony, error) {
	if err := s.lockWrites(ctx); err != nil {
		return store.Ceremony{}, err
	}
	defer s.unlockWrites()
	var created, expires sql.NullInt64
	c := store.Ceremony{ID: id}
	err := s.queryRow(ctx, nil, `DELETE FROM ceremonies WHERE id = ? AND expires_at > ?
		RETURNING user_id, kind, data, first_device, created_at, expires_at`, id, now.UnixMilli()).
		Scan(&c.UserID, &c.Kind, &c.Data, &c.FirstDevice, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Ceremony{}, store.ErrNotFound
	}
	if err != nil {
		return store.Ceremony{}, s.fail(ctx, "take ceremony", err)
	}
	c.CreatedAt, c.ExpiresAt = fromMillis(created), fromMillis(expires)
	return c, nil
}
