package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// PutRegistrationToken implements [store.RegistrationTokenStore].
func (s *Store) PutRegistrationToken(ctx context.Context, t store.RegistrationToken) error {
	return s.insertNew(ctx, "put registration token", `INSERT INTO registration_tokens (hash, user_id, created_at, expires_at, first_device)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
		t.Hash, t.UserID, millis(t.CreatedAt), millis(t.ExpiresAt), t.FirstDevice)
}

// insertNew runs insert, an INSERT … ON CONFLICT DO NOTHING of one row, as
// operation op: ErrConflict when it inserted nothing.
func (s *Store) insertNew(ctx context.Context, op, insert string, args ...any) error {
	if err := s.lockWrites(ctx); err != nil {
		return err
	}
	defer s.unlockWrites()
	res, err := s.exec(ctx, nil, insert, args...)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if n == 0 {
		return store.ErrConflict
	}
	return nil
}

// ConsumeRegistrationToken implements [store.RegistrationTokenStore]: one
// DELETE … RETURNING of the unexpired token, so of racing callers exactly
// one gets the row. An expired token stays until Sweep.
func (s *Store) ConsumeRegistrationToken(ctx context.Context, hash []byte, now time.Time) (store.RegistrationToken, error) {
	if err := s.lockWrites(ctx); err != nil {
		return store.RegistrationToken{}, err
	}
	defer s.unlockWrites()
	var created, expires sql.NullInt64
	t := store.RegistrationToken{Hash: bytes.Clone(hash)}
	err := s.queryRow(ctx, nil, `DELETE FROM registration_tokens WHERE hash = ? AND expires_at > ?
		RETURNING user_id, created_at, expires_at, first_device`, hash, now.UnixMilli()).Scan(&t.UserID, &created, &expires, &t.FirstDevice)
	if errors.Is(err, sql.ErrNoRows) {
		return store.RegistrationToken{}, store.ErrNotFound
	}
	if err != nil {
		return store.RegistrationToken{}, s.fail(ctx, "consume registration token", err)
	}
	t.CreatedAt, t.ExpiresAt = fromMillis(created), fromMillis(expires)
	return t, nil
}
