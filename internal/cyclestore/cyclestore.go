// Package cyclestore gives the Service the steps of a challenge cycle
// (store.CycleStore) over any store: the store's own, when it implements
// them (one round trip each), and otherwise a fallback made of the record
// methods every store has. A store may thus start with the record methods
// alone and add the cycle methods when it wants the fewer round trips.
package cyclestore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// For returns st when it implements store.CycleStore, and otherwise the
// fallback over st's record methods.
func For(st store.Store) store.CycleStore {
	if cs, ok := st.(store.CycleStore); ok {
		return cs
	}
	return fallback{st}
}

// fallback makes each step of store.CycleStore of the single-record
// methods it stands for, as the contract defines it, so it keeps every
// guarantee of the contract that a step of several calls can:
//
//   - BeginChallenge reads the counter and the user's credentials, then
//     creates the challenge as CreateChallenge does (idempotency key
//     included): the contract lets the reads and the create be separate
//     steps.
//   - GetChallengeCredential is GetChallenge, then GetCredential.
//   - ConsumeChallenge reads the challenge and the credential that
//     approved it, then moves the challenge with one compare-and-set
//     (TransitionChallenge from StateApproved, to StateConsumed, or to
//     StateFailed when the credential is gone): of racing callers exactly
//     one moves it, and Watch waiters are woken by the transition. A
//     challenge that left StateApproved once never comes back to it, so a
//     compare-and-set that succeeds proves the challenge was approved
//     throughout: the credential was read while it was. A revocation that
//     completes before ConsumeChallenge begins fails the challenge; one
//     that races it may land on either side of it, as it may with a store
//     that makes the step one.
//
// Each step costs a round trip per call it makes: two or three instead of
// one.
type fallback struct {
	st store.Store
}

// BeginChallenge implements [store.CycleStore] with Counter,
// ListCredentials and CreateChallenge.
func (f fallback) BeginChallenge(ctx context.Context, b store.Begin, now time.Time) (store.Begun, error) {
	var res store.Begun
	if b.Counter != "" {
		n, err := f.st.Counter(ctx, b.Counter, now)
		if err != nil {
			return store.Begun{}, err
		}
		res.Counter = n
	}
	creds, err := f.st.ListCredentials(ctx, b.Challenge.UserID)
	if err != nil {
		return store.Begun{}, err
	}
	res.Kinds = []store.CredentialKind{}
	for _, c := range creds {
		if !slices.Contains(res.Kinds, c.Kind) {
			res.Kinds = append(res.Kinds, c.Kind)
		}
	}
	slices.Sort(res.Kinds)
	if !b.Allows(res.Counter, res.Kinds) {
		return res, nil
	}
	c, err := f.st.CreateChallenge(ctx, b.Challenge, now)
	if err != nil {
		return store.Begun{}, err
	}
	res.Challenge = c
	return res, nil
}

// GetChallengeCredential implements [store.CycleStore] with GetChallenge
// and GetCredential.
func (f fallback) GetChallengeCredential(ctx context.Context, id, credentialID string, now time.Time) (store.Challenge, store.Credential, error) {
	ch, err := f.st.GetChallenge(ctx, id, now)
	if err != nil {
		return store.Challenge{}, store.Credential{}, err
	}
	cred, err := f.st.GetCredential(ctx, credentialID)
	if err != nil {
		return store.Challenge{}, store.Credential{}, err
	}
	return ch, cred, nil
}

// ConsumeChallenge implements [store.CycleStore]: it reads the challenge and
// its credential, then moves it with one TransitionChallenge compare-and-set
// (to CONSUMED, or to FAILED with ErrRevoked when the credential is gone).
func (f fallback) ConsumeChallenge(ctx context.Context, id string, b store.Binding, now time.Time) (store.Challenge, store.CredentialKind, error) {
	ch, err := f.st.GetChallenge(ctx, id, now)
	if err != nil {
		return store.Challenge{}, "", err
	}
	if !b.Binds(ch) || ch.State != store.StateApproved {
		return ch, "", store.ErrConflict
	}
	cred, err := f.st.GetCredential(ctx, ch.CredentialID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && cred.UserID != b.UserID):
		failed, err := f.settle(ctx, id, store.StateFailed, b.UserID, now)
		if err != nil {
			return failed, "", err
		}
		return failed, "", store.ErrRevoked
	case err != nil:
		return store.Challenge{}, "", err
	case !b.Admits(ch, cred.Kind):
		return ch, "", store.ErrConflict
	}
	consumed, err := f.settle(ctx, id, store.StateConsumed, b.UserID, now)
	if err != nil {
		return consumed, "", err
	}
	return consumed, cred.Kind, nil
}

// settle moves approved challenge id of userID to state to in one
// compare-and-set and returns the new record. When the compare-and-set
// loses (a racing caller settled it first, or it expired meanwhile), the
// error is ErrConflict, returned with the record as it now reads.
func (f fallback) settle(ctx context.Context, id string, to store.State, userID string, now time.Time) (store.Challenge, error) {
	ch, err := f.st.TransitionChallenge(ctx, id, store.Transition{From: store.StateApproved, To: to, UserID: userID}, now)
	if !errors.Is(err, store.ErrConflict) {
		return ch, err
	}
	cur, err := f.st.GetChallenge(ctx, id, now)
	if err != nil {
		return store.Challenge{}, err
	}
	return cur, store.ErrConflict
}
