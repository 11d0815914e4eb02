package sqlitestore

import (
	"context"

	"github.com/deviceauth/deviceauth/store"
)

var _ store.RecoveryCodeStore = (*Store)(nil)

// ReplaceRecoveryCodes implements [store.RecoveryCodeStore]: one
// transaction deletes the user's codes and inserts the new ones.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	if err := s.lockWrites(ctx); err != nil {
		return err
	}
	defer s.unlockWrites()
	tx, err := s.begin(ctx)
	if err != nil {
		return s.fail(ctx, "replace recovery codes", err)
	}
	defer tx.Rollback()
	if _, err := s.exec(ctx, tx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return s.fail(ctx, "replace recovery codes", err)
	}
	for _, h := range hashes {
		if _, err := s.exec(ctx, tx, `INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?) ON CONFLICT DO NOTHING`, userID, h); err != nil {
			return s.fail(ctx, "replace recovery codes", err)
		}
	}
	if err := s.commit(tx); err != nil {
		return s.fail(ctx, "replace recovery codes", err)
	}
	return nil
}

// UseRecoveryCode implements [store.RecoveryCodeStore]: one DELETE that
// returns how many of the user's codes remain, so of racing callers
// exactly one deletes the row.
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte) (int, error) {
	if err := s.lockWrites(ctx); err != nil {
		return 0, err
	}
	defer s.unlockWrites()
	res, err := s.exec(ctx, nil, `DELETE FROM recovery_codes WHERE user_id = ? AND hash = ?`, userID, hash)
	if err != nil {
		return 0, s.fail(ctx, "use recovery code", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, s.fail(ctx, "use recovery code", err)
	} else if n == 0 {
		return 0, store.ErrNotFound
	}
	var left int
	if err := s.queryRow(ctx, nil, `SELECT count(*) FROM recovery_codes WHERE user_id = ?`, userID).Scan(&left); err != nil {
		return 0, s.fail(ctx, "use recovery code", err)
	}
	return left, nil
}

// HasRecoveryCode implements [store.RecoveryCodeStore]: one read.
func (s *Store) HasRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	var n int
	if err := s.queryRow(ctx, nil, `SELECT count(*) FROM recovery_codes WHERE user_id = ? AND hash = ?`, userID, hash).Scan(&n); err != nil {
		return false, s.fail(ctx, "has recovery code", err)
	}
	return n > 0, nil
}
