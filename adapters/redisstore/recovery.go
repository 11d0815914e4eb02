package redisstore

import (
	"context"

	"github.com/deviceauth/deviceauth/store"
)

var _ store.RecoveryCodeStore = (*Store)(nil)

var (
	// recoveryReplace replaces a user's recovery codes.
	// KEYS: the user's recovery set. ARGV: hash, …
	recoveryReplace = newScript(`
redis.call('DEL', KEYS[1])
if #ARGV > 0 then redis.call('SADD', KEYS[1], unpack(ARGV)) end
return 1`)

	// recoveryUse removes one code and returns how many remain, or -1
	// when the user has no such code.
	// KEYS: the user's recovery set. ARGV: hash.
	recoveryUse = newScript(`
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return -1 end
return redis.call('SCARD', KEYS[1])`)
)

// ReplaceRecoveryCodes implements [store.RecoveryCodeStore]: one script
// over the user's set, in the user's hash tag.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	args := make([]any, len(hashes))
	for i, h := range hashes {
		args[i] = h
	}
	if err := s.run(ctx, call{recoveryReplace, []string{s.keys.userRecovery(userID)}, args}).Err(); err != nil {
		return wrap("ReplaceRecoveryCodes", err)
	}
	return nil
}

// UseRecoveryCode implements [store.RecoveryCodeStore]: one script
// removes the code and counts the rest.
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte) (int, error) {
	if err := s.closed.Check(ctx); err != nil {
		return 0, err
	}
	left, err := s.run(ctx, call{recoveryUse, []string{s.keys.userRecovery(userID)}, []any{hash}}).Int()
	if err != nil {
		return 0, wrap("UseRecoveryCode", err)
	}
	if left < 0 {
		return 0, store.ErrNotFound
	}
	return left, nil
}

// HasRecoveryCode implements [store.RecoveryCodeStore]: one SISMEMBER on
// the user's set.
func (s *Store) HasRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	if err := s.closed.Check(ctx); err != nil {
		return false, err
	}
	found, err := s.client.SIsMember(ctx, s.keys.userRecovery(userID), hash).Result()
	if err != nil {
		return false, wrap("HasRecoveryCode", err)
	}
	return found, nil
}
