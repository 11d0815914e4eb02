package redisstore

import (
	"cmp"
	"context"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/store"
)

// CreateCredential implements [store.CredentialStore]. The record is stored
// in its own hash tag (refusing an existing ID), then a script in the
// user's tag adds its ID to the user's set while the set holds fewer than
// max; over the limit the record, whose ID nobody knows yet, is deleted
// again. The set's script is the one atomic count-and-insert.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential, max int) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	key := s.keys.credential(c.ID)
	created, err := s.run(ctx, call{credentialInsert, []string{key}, encodeCredential(c)}).Int()
	if err != nil {
		return wrap("CreateCredential", err)
	}
	if created == 0 {
		return store.ErrConflict
	}
	added, err := s.run(ctx, call{credentialReserve, []string{s.keys.userCredentials(c.UserID)}, []any{c.ID, max}}).Int()
	if err != nil {
		// The record stays, in no user's set: its ID was never given out.
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
	if err := s.check(ctx); err != nil {
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

// ListCredentials implements [store.CredentialStore]: the user's set, then
// the records in one pipeline. Members whose record is gone (a delete that
// failed half-way) are removed from the set.
func (s *Store) ListCredentials(ctx context.Context, userID string) ([]store.Credential, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	setKey := s.keys.userCredentials(userID)
	ids, err := s.client.SMembers(ctx, setKey).Result()
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
	var gone []any
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
		if err := s.client.SRem(ctx, setKey, gone...).Err(); err != nil {
			return nil, wrap("ListCredentials: removing deleted credentials from the user's set", err)
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
	if err := s.check(ctx); err != nil {
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

// DeleteCredential implements [store.CredentialStore]. The record is
// deleted first (by a script that checks its user), then its ID leaves the
// user's set: a credential is never usable while unlisted.
func (s *Store) DeleteCredential(ctx context.Context, userID, id string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	deleted, err := s.run(ctx, call{credentialDelete, []string{s.keys.credential(id)}, []any{userID}}).Int()
	if err != nil {
		return wrap("DeleteCredential", err)
	}
	if deleted == 0 {
		return store.ErrNotFound
	}
	if err := s.client.SRem(ctx, s.keys.userCredentials(userID), id).Err(); err != nil {
		return wrap("DeleteCredential: the credential was deleted, removing it from the user's set failed", err)
	}
	return nil
}

// DeleteUserCredentials implements [store.CredentialStore]: the records of
// the user's set are deleted in one pipeline, then their IDs leave the set.
// A credential created meanwhile is kept: it was created after the delete.
func (s *Store) DeleteUserCredentials(ctx context.Context, userID string) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	setKey := s.keys.userCredentials(userID)
	ids, err := s.client.SMembers(ctx, setKey).Result()
	if err != nil {
		return 0, wrap("DeleteUserCredentials", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	calls := make([]call, len(ids))
	for i, id := range ids {
		calls[i] = call{credentialDelete, []string{s.keys.credential(id)}, []any{userID}}
	}
	n := 0
	members := make([]any, 0, len(ids))
	for i, cmd := range s.runPipelined(ctx, calls...) {
		deleted, err := cmd.Int()
		if err != nil {
			return 0, wrap("DeleteUserCredentials", err)
		}
		n += int(deleted)
		members = append(members, ids[i])
	}
	if err := s.client.SRem(ctx, setKey, members...).Err(); err != nil {
		return 0, wrap("DeleteUserCredentials: the credentials were deleted, emptying the user's set failed", err)
	}
	return n, nil
}
