package pgxstore

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deviceauth/deviceauth/store"
)

// PutRegistrationToken implements [store.RegistrationTokenStore].
func (s *Store) PutRegistrationToken(ctx context.Context, t store.RegistrationToken) error {
	return s.insertNew(ctx, "put registration token", s.q.putToken, t.Hash, t.UserID, t.CreatedAt, t.ExpiresAt, t.FirstDevice)
}

// insertNew runs insert, an INSERT … ON CONFLICT DO NOTHING of one row, as
// operation op: ErrConflict when it inserted nothing.
func (s *Store) insertNew(ctx context.Context, op, insert string, args ...any) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, insert, args...)
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrConflict
	}
	return nil
}

// ConsumeRegistrationToken implements [store.RegistrationTokenStore] as one
// DELETE … WHERE hash AND expires_at > now RETURNING: of racing consumers,
// only the one whose DELETE removed the row gets it.
func (s *Store) ConsumeRegistrationToken(ctx context.Context, hash []byte, now time.Time) (store.RegistrationToken, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.RegistrationToken{}, err
	}
	t := store.RegistrationToken{Hash: bytes.Clone(hash)}
	err := s.pool.QueryRow(ctx, s.q.consumeToken, hash, now).Scan(&t.UserID, &t.CreatedAt, &t.ExpiresAt, &t.FirstDevice)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.RegistrationToken{}, store.ErrNotFound
	}
	if err != nil {
		return store.RegistrationToken{}, wrap("consume registration token", err)
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}
