package instancetest

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/deviceauth/deviceauth/internal/cyclestore"
	"github.com/deviceauth/deviceauth/store"
)

// ErrInjected is what a failing Faulty returns.
var ErrInjected = errors.New("injected store failure")

// Faulty wraps a store: while Fail is set every method fails with
// ErrInjected; it counts calls, so tests can see what was (not) written.
// Counter increments are not counted as writes.
type Faulty struct {
	store.Store
	Fail   atomic.Bool
	Calls  atomic.Int64
	Nonces atomic.Int64
	Writes atomic.Int64
}

func (f *Faulty) check(write bool) error {
	f.Calls.Add(1)
	if write {
		f.Writes.Add(1)
	}
	if f.Fail.Load() {
		return ErrInjected
	}
	return nil
}

// CreateCredential implements store.Store: it fails while Fail is set.
func (f *Faulty) CreateCredential(ctx context.Context, c store.Credential, max int) error {
	if err := f.check(true); err != nil {
		return err
	}
	return f.Store.CreateCredential(ctx, c, max)
}

// GetCredential implements store.Store: it fails while Fail is set.
func (f *Faulty) GetCredential(ctx context.Context, id string) (store.Credential, error) {
	if err := f.check(false); err != nil {
		return store.Credential{}, err
	}
	return f.Store.GetCredential(ctx, id)
}

// ListCredentials implements store.Store: it fails while Fail is set.
func (f *Faulty) ListCredentials(ctx context.Context, userID string) ([]store.Credential, error) {
	if err := f.check(false); err != nil {
		return nil, err
	}
	return f.Store.ListCredentials(ctx, userID)
}

// UpdateCredential implements store.Store: it fails while Fail is set.
func (f *Faulty) UpdateCredential(ctx context.Context, userID, id string, u store.CredentialUpdate) (store.Credential, error) {
	if err := f.check(true); err != nil {
		return store.Credential{}, err
	}
	return f.Store.UpdateCredential(ctx, userID, id, u)
}

// DeleteCredential implements store.Store: it fails while Fail is set.
func (f *Faulty) DeleteCredential(ctx context.Context, userID, id string) error {
	if err := f.check(true); err != nil {
		return err
	}
	return f.Store.DeleteCredential(ctx, userID, id)
}

// DeleteUserCredentials implements store.Store: it fails while Fail is set.
func (f *Faulty) DeleteUserCredentials(ctx context.Context, userID string) (int, error) {
	if err := f.check(true); err != nil {
		return 0, err
	}
	return f.Store.DeleteUserCredentials(ctx, userID)
}

// CreateChallenge implements store.Store: it fails while Fail is set.
func (f *Faulty) CreateChallenge(ctx context.Context, c store.Challenge, now time.Time) (store.Challenge, error) {
	if err := f.check(true); err != nil {
		return store.Challenge{}, err
	}
	return f.Store.CreateChallenge(ctx, c, now)
}

// GetChallenge implements store.Store: it fails while Fail is set.
func (f *Faulty) GetChallenge(ctx context.Context, id string, now time.Time) (store.Challenge, error) {
	if err := f.check(false); err != nil {
		return store.Challenge{}, err
	}
	return f.Store.GetChallenge(ctx, id, now)
}

// TransitionChallenge implements store.Store: it fails while Fail is set.
func (f *Faulty) TransitionChallenge(ctx context.Context, id string, t store.Transition, now time.Time) (store.Challenge, error) {
	if err := f.check(true); err != nil {
		return store.Challenge{}, err
	}
	return f.Store.TransitionChallenge(ctx, id, t, now)
}

// RecordAttempt implements store.Store: it fails while Fail is set.
func (f *Faulty) RecordAttempt(ctx context.Context, id string, from store.State, now time.Time) (store.Challenge, error) {
	if err := f.check(true); err != nil {
		return store.Challenge{}, err
	}
	return f.Store.RecordAttempt(ctx, id, from, now)
}

// ListPendingChallenges implements store.Store: it fails while Fail is set.
func (f *Faulty) ListPendingChallenges(ctx context.Context, userID string, now time.Time) ([]store.Challenge, error) {
	if err := f.check(false); err != nil {
		return nil, err
	}
	return f.Store.ListPendingChallenges(ctx, userID, now)
}

// PutRegistrationToken implements store.Store: it fails while Fail is set.
func (f *Faulty) PutRegistrationToken(ctx context.Context, t store.RegistrationToken) error {
	if err := f.check(true); err != nil {
		return err
	}
	return f.Store.PutRegistrationToken(ctx, t)
}

// ConsumeRegistrationToken implements store.Store: it fails while Fail is set.
func (f *Faulty) ConsumeRegistrationToken(ctx context.Context, hash []byte, now time.Time) (store.RegistrationToken, error) {
	if err := f.check(true); err != nil {
		return store.RegistrationToken{}, err
	}
	return f.Store.ConsumeRegistrationToken(ctx, hash, now)
}

// IncrementCounter implements store.Store: it fails while Fail is set.
func (f *Faulty) IncrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error) {
	if err := f.check(false); err != nil { // counters are not state a test compares
		return 0, err
	}
	return f.Store.IncrementCounter(ctx, key, window, now)
}

// Counter implements store.Store: it fails while Fail is set.
func (f *Faulty) Counter(ctx context.Context, key string, now time.Time) (int64, error) {
	if err := f.check(false); err != nil {
		return 0, err
	}
	return f.Store.Counter(ctx, key, now)
}

// ClaimNonce implements store.Store: it fails while Fail is set.
func (f *Faulty) ClaimNonce(ctx context.Context, nonce string, expiresAt, now time.Time) error {
	if err := f.check(true); err != nil {
		return err
	}
	f.Nonces.Add(1)
	return f.Store.ClaimNonce(ctx, nonce, expiresAt, now)
}

// BeginChallenge implements store.CycleStore, with the wrapped store's
// cycle steps or their fallback over its record methods; it fails while
// Fail is set.
func (f *Faulty) BeginChallenge(ctx context.Context, b store.Begin, now time.Time) (store.Begun, error) {
	if err := f.check(true); err != nil {
		return store.Begun{}, err
	}
	return cyclestore.For(f.Store).BeginChallenge(ctx, b, now)
}

// GetChallengeCredential implements store.CycleStore, with the wrapped store's
// cycle steps or their fallback over its record methods; it fails while
// Fail is set.
func (f *Faulty) GetChallengeCredential(ctx context.Context, id, credentialID string, now time.Time) (store.Challenge, store.Credential, error) {
	if err := f.check(false); err != nil {
		return store.Challenge{}, store.Credential{}, err
	}
	return cyclestore.For(f.Store).GetChallengeCredential(ctx, id, credentialID, now)
}

// ConsumeChallenge implements store.CycleStore, with the wrapped store's
// cycle steps or their fallback over its record methods; it fails while
// Fail is set.
func (f *Faulty) ConsumeChallenge(ctx context.Context, id string, b store.Binding, now time.Time) (store.Challenge, store.CredentialKind, error) {
	if err := f.check(true); err != nil {
		return store.Challenge{}, "", err
	}
	return cyclestore.For(f.Store).ConsumeChallenge(ctx, id, b, now)
}

// ReplaceRecoveryCodes implements store.RecoveryCodeStore when the
// wrapped store does (else it reports store.ErrClosed); it fails while Fail
// is set.
func (f *Faulty) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	if err := f.check(true); err != nil {
		return err
	}
	rs, ok := f.Store.(store.RecoveryCodeStore)
	if !ok {
		return store.ErrClosed
	}
	return rs.ReplaceRecoveryCodes(ctx, userID, hashes)
}

// UseRecoveryCode implements store.RecoveryCodeStore as
// ReplaceRecoveryCodes does.
func (f *Faulty) UseRecoveryCode(ctx context.Context, userID string, hash []byte) (int, error) {
	if err := f.check(true); err != nil {
		return 0, err
	}
	rs, ok := f.Store.(store.RecoveryCodeStore)
	if !ok {
		return 0, store.ErrClosed
	}
	return rs.UseRecoveryCode(ctx, userID, hash)
}

// HasRecoveryCode implements store.RecoveryCodeStore as
// ReplaceRecoveryCodes does.
func (f *Faulty) HasRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	if err := f.check(false); err != nil {
		return false, err
	}
	rs, ok := f.Store.(store.RecoveryCodeStore)
	if !ok {
		return false, store.ErrClosed
	}
	return rs.HasRecoveryCode(ctx, userID, hash)
}

// PutCeremony implements store.CeremonyStore when the wrapped store does
// (else it reports store.ErrClosed); it fails while Fail is set.
func (f *Faulty) PutCeremony(ctx context.Context, c store.Ceremony) error {
	if err := f.check(true); err != nil {
		return err
	}
	cs, ok := f.Store.(store.CeremonyStore)
	if !ok {
		return store.ErrClosed
	}
	return cs.PutCeremony(ctx, c)
}

// TakeCeremony implements store.CeremonyStore as PutCeremony does.
func (f *Faulty) TakeCeremony(ctx context.Context, id string, now time.Time) (store.Ceremony, error) {
	if err := f.check(true); err != nil {
		return store.Ceremony{}, err
	}
	cs, ok := f.Store.(store.CeremonyStore)
	if !ok {
		return store.Ceremony{}, store.ErrClosed
	}
	return cs.TakeCeremony(ctx, id, now)
}
