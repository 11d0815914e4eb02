package storetest

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/deviceauth/deviceauth/store"
)

func (s suite) recoveryCodes(t *testing.T) {
	t.Run("EachCodeIsUsedOnce", s.recoveryUseOnce)
	t.Run("ReplaceRevokesTheEarlierSet", s.recoveryReplace)
	t.Run("RacingUsesHaveOneWinner", s.recoveryRacingUses)
	t.Run("HasChangesNothing", s.recoveryHas)
}

// recoveryStore returns a new store as a RecoveryCodeStore; a store
// without that optional interface skips (the Service then issues no
// codes).
func (s suite) recoveryStore(t *testing.T) store.RecoveryCodeStore {
	t.Helper()
	rs, ok := s.store(t).(store.RecoveryCodeStore)
	if !ok {
		t.Skip("the store does not implement store.RecoveryCodeStore")
	}
	return rs
}

// recoveryHashes returns n distinct code hashes named after name.
func recoveryHashes(name string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		h := sha256.Sum256(fmt.Appendf(nil, "recovery-%s-%d", name, i))
		out[i] = h[:]
	}
	return out
}

func (s suite) recoveryUseOnce(t *testing.T) {
	st, ctx := s.recoveryStore(t), t.Context()
	codes := recoveryHashes("a", 3)
	must(t, st.ReplaceRecoveryCodes(ctx, "user1", codes), "ReplaceRecoveryCodes")
	_, err := st.UseRecoveryCode(ctx, "user2", codes[0])
	mustFail(t, err, store.ErrNotFound, "UseRecoveryCode by another user")
	for i, c := range codes {
		left, err := st.UseRecoveryCode(ctx, "user1", c)
		must(t, err, "UseRecoveryCode")
		if left != len(codes)-i-1 {
			t.Fatalf("after using code %d, %d remain, want %d", i, left, len(codes)-i-1)
		}
		_, err = st.UseRecoveryCode(ctx, "user1", c)
		mustFail(t, err, store.ErrNotFound, "UseRecoveryCode of a used code")
	}
}

func (s suite) recoveryReplace(t *testing.T) {
	st, ctx := s.recoveryStore(t), t.Context()
	old, fresh := recoveryHashes("old", 2), recoveryHashes("new", 2)
	must(t, st.ReplaceRecoveryCodes(ctx, "user1", old), "ReplaceRecoveryCodes")
	must(t, st.ReplaceRecoveryCodes(ctx, "user1", fresh), "ReplaceRecoveryCodes again")
	_, err := st.UseRecoveryCode(ctx, "user1", old[0])
	mustFail(t, err, store.ErrNotFound, "UseRecoveryCode of a revoked code")
	left, err := st.UseRecoveryCode(ctx, "user1", fresh[1])
	must(t, err, "UseRecoveryCode of the new set")
	if left != 1 {
		t.Fatalf("%d codes remain, want 1", left)
	}
	must(t, st.ReplaceRecoveryCodes(ctx, "user1", nil), "ReplaceRecoveryCodes with none")
	_, err = st.UseRecoveryCode(ctx, "user1", fresh[0])
	mustFail(t, err, store.ErrNotFound, "UseRecoveryCode after removing all")
}

func (s suite) recoveryRacingUses(t *testing.T) {
	st, ctx := s.recoveryStore(t), t.Context()
	for round := range s.rounds {
		codes := recoveryHashes(fmt.Sprint("round", round), 2)
		must(t, st.ReplaceRecoveryCodes(ctx, "user1", codes), "ReplaceRecoveryCodes")
		r := race(s.racers, func(int) error {
			_, err := st.UseRecoveryCode(ctx, "user1", codes[0])
			return err
		})
		if !r.won(t, round, 1, store.ErrNotFound) {
			return
		}
	}
}

func (s suite) recoveryHas(t *testing.T) {
	st, ctx := s.recoveryStore(t), t.Context()
	codes := recoveryHashes("has", 2)
	has := func(user string, h []byte, want bool) {
		t.Helper()
		got, err := st.HasRecoveryCode(ctx, user, h)
		must(t, err, "HasRecoveryCode")
		if got != want {
			t.Fatalf("HasRecoveryCode(%s) = %v, want %v", user, got, want)
		}
	}
	has("user1", codes[0], false)
	must(t, st.ReplaceRecoveryCodes(ctx, "user1", codes), "ReplaceRecoveryCodes")
	has("user1", codes[0], true)
	has("user1", codes[0], true) // asking twice changes nothing
	has("user2", codes[0], false)
	left, err := st.UseRecoveryCode(ctx, "user1", codes[0])
	must(t, err, "UseRecoveryCode after HasRecoveryCode")
	if left != 1 {
		t.Fatalf("%d codes remain, want 1", left)
	}
	has("user1", codes[0], false)
	has("user1", codes[1], true)
}
