package sqlitestore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/deviceauth/deviceauth/store"
)

const credentialColumns = `id, user_id, kind, algorithm, public_key, name, platform, push_token,
	created_at, last_used_at, sign_count, flags, passkey, attestation`

// CreateCredential implements [store.CredentialStore]: one INSERT … SELECT
// whose WHERE counts the user's credentials, so the cap holds under
// SQLite's write lock; a refused insert costs one more read to tell
// ErrConflict from ErrLimit.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential, max int) error {
	if err := s.lockWrites(ctx); err != nil {
		return err
	}
	res, err := s.exec(ctx, nil, `INSERT INTO credentials (`+credentialColumns+`)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?15
		WHERE ?14 <= 0 OR (SELECT count(*) FROM credentials WHERE user_id = ?2) < ?14
		ON CONFLICT (id) DO NOTHING`,
		c.ID, c.UserID, string(c.Kind), c.Algorithm, c.PublicKey, c.Name, c.Platform, c.PushToken,
		millis(c.CreatedAt), millis(c.LastUsedAt), int64(c.SignCount), int64(c.Flags), c.Passkey, max, c.Attestation)
	s.unlockWrites()
	if err != nil {
		return s.fail(ctx, "create credential", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.fail(ctx, "create credential", err)
	} else if n == 1 {
		return nil
	}
	var exists bool
	if err := s.queryRow(ctx, nil, `SELECT EXISTS (SELECT 1 FROM credentials WHERE id = ?)`, c.ID).Scan(&exists); err != nil {
		return s.fail(ctx, "create credential", err)
	}
	if exists {
		return store.ErrConflict
	}
	return store.ErrLimit
}

// GetCredential implements [store.CredentialStore].
func (s *Store) GetCredential(ctx context.Context, id string) (store.Credential, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Credential{}, err
	}
	c, err := scanCredential(s.queryRow(ctx, nil, `SELECT `+credentialColumns+` FROM credentials WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Credential{}, store.ErrNotFound
	}
	if err != nil {
		return store.Credential{}, s.fail(ctx, "get credential", err)
	}
	return c, nil
}

// ListCredentials implements [store.CredentialStore].
func (s *Store) ListCredentials(ctx context.Context, userID string) ([]store.Credential, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, nil, `SELECT `+credentialColumns+` FROM credentials
		WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, s.fail(ctx, "list credentials", err)
	}
	defer rows.Close()
	list := make([]store.Credential, 0)
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, s.fail(ctx, "list credentials", err)
		}
		list = append(list, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "list credentials", err)
	}
	return list, nil
}

// UpdateCredential implements [store.CredentialStore]: one conditional
// UPDATE … RETURNING, whose WHERE holds the owner and the sign-count rule;
// a refused update costs one more read to tell ErrNotFound from
// ErrConflict.
func (s *Store) UpdateCredential(ctx context.Context, userID, id string, u store.CredentialUpdate) (store.Credential, error) {
	var name, pushToken, flags, signCount any // NULL: leave the column as it is
	if u.Name != nil {
		name = *u.Name
	}
	if u.PushToken != nil {
		pushToken = *u.PushToken
	}
	if u.Flags != nil {
		flags = int64(*u.Flags)
	}
	if u.SignCount != nil {
		signCount = int64(*u.SignCount)
	}
	if err := s.lockWrites(ctx); err != nil {
		return store.Credential{}, err
	}
	c, err := scanCredential(s.queryRow(ctx, nil, `UPDATE credentials SET
			last_used_at = coalesce(?1, last_used_at),
			name = coalesce(?2, name),
			push_token = coalesce(?3, push_token),
			flags = coalesce(?4, flags),
			passkey = CASE WHEN ?5 THEN ?6 ELSE passkey END,
			sign_count = coalesce(?7, sign_count)
		WHERE id = ?8 AND user_id = ?9
			AND (?7 IS NULL OR ?7 > sign_count OR (?7 = 0 AND sign_count = 0))
		RETURNING `+credentialColumns,
		millis(u.LastUsedAt), name, pushToken, flags, u.Passkey != nil, u.Passkey, signCount, id, userID))
	s.unlockWrites()
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.Credential{}, s.fail(ctx, "update credential", err)
	}
	var owner string
	switch err := s.queryRow(ctx, nil, `SELECT user_id FROM credentials WHERE id = ?`, id).Scan(&owner); {
	case errors.Is(err, sql.ErrNoRows):
		return store.Credential{}, store.ErrNotFound
	case err != nil:
		return store.Credential{}, s.fail(ctx, "update credential", err)
	case owner != userID:
		return store.Credential{}, store.ErrNotFound
	}
	return store.Credential{}, store.ErrConflict
}

// DeleteCredential implements [store.CredentialStore].
func (s *Store) DeleteCredential(ctx context.Context, userID, id string) error {
	if err := s.lockWrites(ctx); err != nil {
		return err
	}
	defer s.unlockWrites()
	res, err := s.exec(ctx, nil, `DELETE FROM credentials WHERE id = ? AND user_id = ?`, id, userID)
	if err != nil {
		return s.fail(ctx, "delete credential", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(ctx, "delete credential", err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteUserCredentials implements [store.CredentialStore].
func (s *Store) DeleteUserCredentials(ctx context.Context, userID string) (int, error) {
	if err := s.lockWrites(ctx); err != nil {
		return 0, err
	}
	defer s.unlockWrites()
	res, err := s.exec(ctx, nil, `DELETE FROM credentials WHERE user_id = ?`, userID)
	if err != nil {
		return 0, s.fail(ctx, "delete user credentials", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(ctx, "delete user credentials", err)
	}
	return int(n), nil
}

// scanCredential reads a row of credentialColumns.
func scanCredential(r rowScanner) (store.Credential, error) {
	var row credentialRow
	if err := r.Scan(row.dest()...); err != nil {
		return store.Credential{}, err
	}
	return row.record(), nil
}

// credentialRow receives the columns of credentialColumns, for statements
// that return them beside other columns.
type credentialRow struct {
	c                 store.Credential
	kind              string
	created, lastUsed sql.NullInt64
	signCount, flags  int64
}

// dest is the Scan destinations of credentialColumns.
func (r *credentialRow) dest() []any {
	c := &r.c
	return []any{&c.ID, &c.UserID, &r.kind, &c.Algorithm, &c.PublicKey, &c.Name, &c.Platform, &c.PushToken,
		&r.created, &r.lastUsed, &r.signCount, &r.flags, &c.Passkey, &c.Attestation}
}

// record is the scanned record.
func (r *credentialRow) record() store.Credential {
	c := r.c
	c.Kind = store.CredentialKind(r.kind)
	c.CreatedAt, c.LastUsedAt = fromMillis(r.created), fromMillis(r.lastUsed)
	c.SignCount, c.Flags = uint32(r.signCount), uint32(r.flags)
	return c
}
