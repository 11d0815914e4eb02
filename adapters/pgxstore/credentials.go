package pgxstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deviceauth/deviceauth/store"
)

// CreateCredential implements [store.CredentialStore]. The per-user advisory
// lock and the counting insert travel as one pipelined batch: one round
// trip, one implicit transaction, so racing creates of one user run one
// after the other and never leave more than max.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential, max int) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(s.q.lock, s.advisoryKey("credentials", c.UserID))
	b.Queue(s.q.createCredential, c.ID, c.UserID, string(c.Kind), c.Algorithm, c.PublicKey, c.Name,
		c.Platform, c.PushToken, c.CreatedAt, nullTime(c.LastUsedAt), int64(c.SignCount), int64(c.Flags),
		c.Passkey, int64(max), c.Attestation)
	br := s.pool.SendBatch(ctx, b)
	_, err := br.Exec()
	var inserted int64
	if err == nil {
		var tag pgconn.CommandTag
		tag, err = br.Exec()
		inserted = tag.RowsAffected()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	switch {
	case isUniqueViolation(err):
		return store.ErrConflict
	case err != nil:
		return wrap("create credential", err)
	case inserted == 1:
		return nil
	}
	// Nothing was inserted: the limit, unless the ID is taken (which the
	// contract reports first).
	var exists bool
	if err := s.pool.QueryRow(ctx, s.q.credentialExists, c.ID).Scan(&exists); err != nil {
		return wrap("create credential", err)
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
	c, err := scanCredential(s.pool.QueryRow(ctx, s.q.getCredential, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Credential{}, store.ErrNotFound
	}
	if err != nil {
		return store.Credential{}, wrap("get credential", err)
	}
	return c, nil
}

// ListCredentials implements [store.CredentialStore].
func (s *Store) ListCredentials(ctx context.Context, userID string) ([]store.Credential, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, s.q.listCredentials, userID)
	list, err := collectCredentials(rows)
	if err != nil {
		return nil, wrap("list credentials", err)
	}
	return list, nil
}

// collectCredentials reads every row of rows, a list of credentials
// (never nil).
func collectCredentials(rows pgx.Rows) ([]store.Credential, error) {
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Credential, error) {
		return scanCredential(row)
	})
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []store.Credential{}
	}
	return list, nil
}

// UpdateCredential implements [store.CredentialStore]: one UPDATE whose
// WHERE holds the owner and the sign-count rule.
func (s *Store) UpdateCredential(ctx context.Context, userID, id string, u store.CredentialUpdate) (store.Credential, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Credential{}, err
	}
	var flags, signCount *int64
	if u.Flags != nil {
		flags = new(int64(*u.Flags))
	}
	if u.SignCount != nil {
		signCount = new(int64(*u.SignCount))
	}
	c, err := scanCredential(s.pool.QueryRow(ctx, s.q.updateCredential, id, userID,
		nullTime(u.LastUsedAt), u.Name, u.PushToken, flags, u.Passkey != nil, u.Passkey, signCount))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Credential{}, wrap("update credential", err)
	}
	// Not updated: not the user's (or missing), or the sign count did not
	// move forward.
	var owned bool
	if err := s.pool.QueryRow(ctx, s.q.credentialOwned, id, userID).Scan(&owned); err != nil {
		return store.Credential{}, wrap("update credential", err)
	}
	if owned {
		return store.Credential{}, store.ErrConflict
	}
	return store.Credential{}, store.ErrNotFound
}

// DeleteCredential implements [store.CredentialStore].
func (s *Store) DeleteCredential(ctx context.Context, userID, id string) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, s.q.deleteCredential, id, userID)
	if err != nil {
		return wrap("delete credential", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteUserCredentials implements [store.CredentialStore].
func (s *Store) DeleteUserCredentials(ctx context.Context, userID string) (int, error) {
	if err := s.closed.Check(ctx); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, s.q.deleteUserCreds, userID)
	if err != nil {
		return 0, wrap("delete user credentials", err)
	}
	return int(tag.RowsAffected()), nil
}

// scanCredential reads one row of credentialColumns.
func scanCredential(row pgx.Row) (store.Credential, error) {
	var r credentialRow
	if err := row.Scan(r.targets()...); err != nil {
		return store.Credential{}, err
	}
	return r.credential(), nil
}

// credentialRow holds the scan targets of credentialColumns.
type credentialRow struct {
	c                store.Credential
	kind             string
	lastUsed         *time.Time
	signCount, flags int64
}

// targets are the scan targets of credentialColumns, in order.
func (r *credentialRow) targets() []any {
	c := &r.c
	return []any{&c.ID, &c.UserID, &r.kind, &c.Algorithm, &c.PublicKey, &c.Name, &c.Platform,
		&c.PushToken, &c.CreatedAt, &r.lastUsed, &r.signCount, &r.flags, &c.Passkey, &c.Attestation}
}

// credential is the scanned credential.
func (r *credentialRow) credential() store.Credential {
	c := r.c
	c.Kind = store.CredentialKind(r.kind)
	c.CreatedAt = c.CreatedAt.UTC()
	c.LastUsedAt = fromNullTime(r.lastUsed)
	c.SignCount, c.Flags = uint32(r.signCount), uint32(r.flags)
	return c
}
