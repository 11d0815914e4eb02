package redisstore

import (
	"cmp"
	"context"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/store"
)

// CreateCredential implements [store.CredentialStore]. When one script may
// declare the record's key and the user's index (a single node; elsewhere a
// credential whose ID carries its user's tag) it is one script that refuses
// an existing ID, counts the user's index and stores both the record and its
// index entry. Otherwise the record is stored in its own slot (refusing an
// existing ID), then a script in the user's tag adds its ID and kind, marked
// as a hint, to the user's index while the index holds fewer than max; over
// the limit the record, whose ID nobody knows yet, is deleted again. The
// index's script is the one atomic count-and-insert.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential, max int) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	key, index := s.keys.credential(c.ID), s.keys.userCredentials(c.UserID)
	if s.oneScript(key, index) {
		created, err := s.run(ctx, call{credentialCreate, []string{key, index},
			append([]any{c.ID, string(c.Kind), max}, encodeCredential(c)...)}).Int()
		if err != nil {
			return wrap("CreateCredential", err)
		}
		switch created {
		case 0:
			return store.ErrConflict
		case -1:
			return store.ErrLimit
		}
		return nil
	}
	created, err := s.run(ctx, call{credentialInsert, []string{key}, encodeCredential(c)}).Int()
	if err != nil {
		return wrap("CreateCredential", err)
	}
	if created == 0 {
		return store.ErrConflict
	}
	added, err := s.run(ctx, call{credentialReserve, []string{index}, []any{c.ID, max, credentialHint + string(c.Kind)}}).Int()
	if err != nil {
		// The record stays, in no user's index: its ID was never given out.
		return wrap("CreateCredential", err)
	}
	if added == 0 {
		if err := s.client.Del(ctx, key).Err(); err != nil {
			return wrap("CreateCredential: removing the credential refused over the limit", err)
		}
		return store.ErrLimit
	}
	return nil
}

// GetCredential implements [store.CredentialStore] with one HGETALL.
func (s *Store) GetCredential(ctx context.Context, id string) (store.Credential, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Credential{}, err
	}
	h, err := s.client.HGetAll(ctx, s.keys.credential(id)).Result()
	if err != nil {
		return store.Credential{}, wrap("GetCredential", err)
	}
	if len(h) == 0 {
		return store.Credential{}, store.ErrNotFound
	}
	return decodeCredential(h)
}

// ListCredentials implements [store.CredentialStore]: the IDs of the user's
// index, then the records in one pipeline. Entries whose record is gone (a
// delete in steps that failed half-way) are removed from the index.
func (s *Store) ListCredentials(ctx context.Context, userID string) ([]store.Credential, error) {
	if err := s.closed.Check(ctx); err != nil {
		return nil, err
	}
	index := s.keys.userCredentials(userID)
	ids, err := s.client.HKeys(ctx, index).Result()
	if err != nil {
		return nil, wrap("ListCredentials", err)
	}
	list := make([]store.Credential, 0, len(ids))
	if len(ids) == 0 {
		return list, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, _ = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.keys.credential(id))
		}
		return nil
	})
	var gone []string
	for i, cmd := range cmds {
		h, err := cmd.Result()
		if err != nil {
			return nil, wrap("ListCredentials", err)
		}
		if len(h) == 0 {
			gone = append(gone, ids[i])
			continue
		}
		c, err := decodeCredential(h)
		if err != nil {
			return nil, err
		}
		if c.UserID == userID {
			list = append(list, c)
		}
	}
	if len(gone) > 0 {
		if err := s.client.HDel(ctx, index, gone...).Err(); err != nil {
			return nil, wrap("ListCredentials: removing deleted credentials from the user's index", err)
		}
	}
	slices.SortFunc(list, func(a, b store.Credential) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return list, nil
}

// UpdateCredential implements [store.CredentialStore]: one script on the
// credential's key checks the user and the sign count, writes and returns
// the record.
func (s *Store) UpdateCredential(ctx context.Context, userID, id string, u store.CredentialUpdate) (store.Credential, error) {
	if err := s.closed.Check(ctx); err != nil {
		return store.Credential{}, err
	}
	signCount := ""
	args := []any{userID, ""}
	// Empty values remove the field: the zero value.
	set := func(field, v string) { args = append(args, field, v) }
	if u.SignCount != nil {
		signCount = strconv.FormatUint(uint64(*u.SignCount), 10)
		args[1] = signCount
		set(fieldSignCount, zeroAsEmpty(signCount))
	}
	if !u.LastUsedAt.IsZero() {
		set(fieldLastUsedAt, unixMilli(u.LastUsedAt))
	}
	if u.Name != nil {
		set(fieldName, *u.Name)
	}
	if u.PushToken != nil {
		set(fieldPushToken, *u.PushToken)
	}
	if u.Flags != nil {
		set(fieldFlags, zeroAsEmpty(strconv.FormatUint(uint64(*u.Flags), 10)))
	}
	if u.Passkey != nil {
		set(fieldPasskey, string(u.Passkey))
	}
	v, err := s.run(ctx, call{credentialUpdate, []string{s.keys.credential(id)}, args}).Result()
	if err != nil {
		return store.Credential{}, wrap("UpdateCredential", err)
	}
	r, err := parseReply(v)
	if err != nil {
		return store.Credential{}, err
	}
	switch r.status {
	case "notfound":
		return store.Credential{}, store.ErrNotFound
	case "conflict":
		return store.Credential{}, store.ErrConflict
	}
	h, err := hashOf(r.rest)
	if err != nil {
		return store.Credential{}, err
	}
	return decodeCredential(h)
}

func zeroAsEmpty(n string) string {
	if n == "0" {
		return ""
	}
	return n
}

// DeleteCredential implements [store.CredentialStore]. When one script may
// declare the record's key and the user's index, it is one script that
// deletes the record (if it is the user's) and its index entry. Otherwise
// the record is deleted first (by a script that checks its user), then its
// ID leaves the user's index: a credential is never usable while unlisted.
func (s *Store) DeleteCredential(ctx context.Context, userID, id string) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	key, index := s.keys.credential(id), s.keys.userCredentials(userID)
	if s.oneScript(key, index) {
		deleted, err := s.run(ctx, call{credentialRemove, []string{key, index}, []any{userID, id}}).Int()
		if err != nil {
			return wrap("DeleteCredential", err)
		}
		if deleted == 0 {
			return store.ErrNotFound
		}
		return nil
	}
	deleted, err := s.run(ctx, call{credentialDelete, []string{key}, []any{userID}}).Int()
	if err != nil {
		return wrap("DeleteCredential", err)
	}
	if deleted == 0 {
		return store.ErrNotFound
	}
	if err := s.client.HDel(ctx, index, id).Err(); err != nil {
		return wrap("DeleteCredential: the credential was deleted, removing it from the user's index failed", err)
	}
	return nil
}

// DeleteUserCredentials implements [store.CredentialStore]: the records of
// the user's index are deleted in one pipeline — each with its index entry
// by one script where one script may declare both, as DeleteCredential
// does — and then the IDs of the others leave the index. A credential
// created meanwhile is kept: it was created after the delete.
func (s *Store) DeleteUserCredentials(ctx context.Context, userID string) (int, error) {
	if err := s.closed.Check(ctx); err != nil {
		return 0, err
	}
	index := s.keys.userCredentials(userID)
	ids, err := s.client.HKeys(ctx, index).Result()
	if err != nil {
		return 0, wrap("DeleteUserCredentials", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	calls := make([]call, len(ids))
	var apart []string // IDs whose records live in another slot than the index
	for i, id := range ids {
		key := s.keys.credential(id)
		if s.oneScript(key, index) {
			calls[i] = call{credentialRemove, []string{key, index}, []any{userID, id}}
		} else {
			calls[i] = call{credentialDelete, []string{key}, []any{userID}}
			apart = append(apart, id)
		}
	}
	n := 0
	for _, cmd := range s.runPipelined(ctx, calls...) {
		deleted, err := cmd.Int()
		if err != nil {
			return 0, wrap("DeleteUserCredentials", err)
		}
		n += int(deleted)
	}
	if len(apart) == 0 {
		return n, nil
	}
	if err := s.client.HDel(ctx, index, apart...).Err(); err != nil {
		return 0, wrap("DeleteUserCredentials: the credentials were deleted, emptying the user's index failed", err)
	}
	return n, nil
}
