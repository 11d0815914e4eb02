package pgxstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/deviceauth/deviceauth/store"
)

var _ store.RecoveryCodeStore = (*Store)(nil)

// ReplaceRecoveryCodes implements [store.RecoveryCodeStore]: one
// transaction deletes the user's codes and inserts the new ones.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	table := pgx.Identifier{s.schema, "recovery_codes"}.Sanitize()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE user_id = $1`, userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+table+` (user_id, hash) SELECT $1, h FROM unnest($2::bytea[]) AS h
			ON CONFLICT DO NOTHING`, userID, hashes)
		return err
	})
	if err != nil {
		return wrap("replace recovery codes", err)
	}
	return nil
}

// UseRecoveryCode implements [store.RecoveryCodeStore]: one statement
// deletes the code and counts the user's codes as they were, so of racing
// callers only the one whose DELETE removed the row succeeds.
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte) (int, error) {
	if err := s.closed.Check(ctx); err != nil {
		return 0, err
	}
	table := pgx.Identifier{s.schema, "recovery_codes"}.Sanitize()
	var deleted, before int
	err := s.pool.QueryRow(ctx, `WITH d AS (DELETE FROM `+table+` WHERE user_id = $1 AND hash = $2 RETURNING 1)
		SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM `+table+` WHERE user_id = $1)`, userID, hash).Scan(&deleted, &before)
	if err != nil {
		return 0, wrap("use recovery code", err)
	}
	if deleted == 0 {
		return 0, store.ErrNotFound
	}
	return before - deleted, nil
}

// HasRecoveryCode implements [store.RecoveryCodeStore]: one read.
func (s *Store) HasRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	if err := s.closed.Check(ctx); err != nil {
		return false, err
	}
	table := pgx.Identifier{s.schema, "recovery_codes"}.Sanitize()
	var found bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE user_id = $1 AND hash = $2)`, userID, hash).Scan(&found); err != nil {
		return false, wrap("has recovery code", err)
	}
	return found, nil
}
