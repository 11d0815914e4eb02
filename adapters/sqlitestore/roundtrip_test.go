package sqlitestore_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/adapters/sqlitestore"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// A challenge cycle (track → fetch → respond → validate, DESIGN §9) makes
// these store calls, each one SQL statement on its success path:
//
//	Track:          Counter (wrong codes), ListCredentials, CreateChallenge (no idempotency key)
//	FetchChallenge: GetChallenge
//	Respond:        GetChallenge, GetCredential, TransitionChallenge (PENDING → APPROVED),
//	                UpdateCredential (last use)
//	Validate:       GetChallenge, TransitionChallenge (APPROVED → CONSUMED), GetCredential
//
// with the rate limits off (each limit is one IncrementCounter more).
var cycleCalls = map[string]int{
	"Counter": 1, "ListCredentials": 1, "CreateChallenge": 1,
	"GetChallenge": 3, "GetCredential": 2, "TransitionChallenge": 2, "UpdateCredential": 1,
}

const (
	cycleCallCount      = 11
	cycleStatementCount = 11
)

// TestRoundTrips_ChallengeCycle pins the store calls and SQL statements of
// one challenge cycle after a warm-up.
func TestRoundTrips_ChallengeCycle(t *testing.T) {
	st := openMigrated(t, tempPath(t))
	counting := &countingStore{Store: st}
	c := newCycle(t, counting)
	c.run(t) // warm-up: the statement cache, the key cache

	const cycles = 10
	counting.reset()
	statements := sqlitestore.Statements(st)
	for range cycles {
		c.run(t)
	}
	statements = sqlitestore.Statements(st) - statements

	calls := counting.snapshot()
	total := 0
	for m, n := range calls {
		if n%cycles != 0 {
			t.Errorf("%s: %d calls in %d cycles, not a whole number per cycle", m, n, cycles)
		}
		calls[m] = n / cycles
		total += n / cycles
	}
	if !maps.Equal(calls, cycleCalls) {
		t.Errorf("store calls per cycle: got %v, want %v", calls, cycleCalls)
	}
	if total != cycleCallCount {
		t.Errorf("store calls per cycle: got %d, want %d", total, cycleCallCount)
	}
	if statements != cycles*cycleStatementCount {
		t.Errorf("SQL statements: got %d in %d cycles, want %d per cycle", statements, cycles, cycleStatementCount)
	}
}

// TestRoundTrips_PerMethod pins the statements of each method on its
// success and its failure paths: one statement, and a second, cheap read
// only where a compare-and-set changed nothing and must tell ErrNotFound
// from ErrConflict (or ErrLimit). Transactions count BEGIN and COMMIT (or
// ROLLBACK).
func TestRoundTrips_PerMethod(t *testing.T) {
	st := openMigrated(t, tempPath(t))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	challenge := func(id, key string) store.Challenge {
		return store.Challenge{ID: id, UserID: "user1", Action: "transfer", State: store.StatePending,
			IdempotencyKey: key, CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	}
	cred := store.Credential{ID: "cred1", UserID: "user1", Kind: store.KindDevice, CreatedAt: now}
	approve := store.Transition{From: store.StatePending, To: store.StateApproved}
	tests := []struct {
		name string
		call func(ctx context.Context) error
		want int64
	}{
		{"CreateCredential", func(ctx context.Context) error { return st.CreateCredential(ctx, cred, 1) }, 1},
		{"CreateCredential over the limit", func(ctx context.Context) error {
			c := cred
			c.ID = "cred2"
			return ignore(st.CreateCredential(ctx, c, 1), store.ErrLimit)
		}, 2},
		{"GetCredential", func(ctx context.Context) error { _, err := st.GetCredential(ctx, "cred1"); return err }, 1},
		{"ListCredentials", func(ctx context.Context) error { _, err := st.ListCredentials(ctx, "user1"); return err }, 1},
		{"UpdateCredential", func(ctx context.Context) error {
			_, err := st.UpdateCredential(ctx, "user1", "cred1", store.CredentialUpdate{LastUsedAt: now})
			return err
		}, 1},
		{"UpdateCredential of another user's", func(ctx context.Context) error {
			_, err := st.UpdateCredential(ctx, "user2", "cred1", store.CredentialUpdate{LastUsedAt: now})
			return ignore(err, store.ErrNotFound)
		}, 2},
		{"CreateChallenge", func(ctx context.Context) error {
			_, err := st.CreateChallenge(ctx, challenge("ch1", ""), now)
			return err
		}, 1},
		{"CreateChallenge with an idempotency key", func(ctx context.Context) error {
			_, err := st.CreateChallenge(ctx, challenge("ch2", "key1"), now)
			return err
		}, 4},
		{"CreateChallenge repeating an idempotency key", func(ctx context.Context) error {
			_, err := st.CreateChallenge(ctx, challenge("ch3", "key1"), now)
			return err
		}, 3},
		{"GetChallenge", func(ctx context.Context) error { _, err := st.GetChallenge(ctx, "ch1", now); return err }, 1},
		{"ListPendingChallenges", func(ctx context.Context) error { _, err := st.ListPendingChallenges(ctx, "user1", now); return err }, 1},
		{"RecordAttempt", func(ctx context.Context) error {
			_, err := st.RecordAttempt(ctx, "ch1", store.StatePending, now)
			return err
		}, 1},
		{"TransitionChallenge", func(ctx context.Context) error {
			_, err := st.TransitionChallenge(ctx, "ch1", approve, now)
			return err
		}, 1},
		{"TransitionChallenge that loses", func(ctx context.Context) error {
			_, err := st.TransitionChallenge(ctx, "ch1", approve, now)
			return ignore(err, store.ErrConflict)
		}, 2},
		{"TransitionChallenge of a missing challenge", func(ctx context.Context) error {
			_, err := st.TransitionChallenge(ctx, "ch9", approve, now)
			return ignore(err, store.ErrNotFound)
		}, 2},
		{"Watch", func(ctx context.Context) error { _, err := st.Watch(ctx, "ch1"); return err }, 1},
		{"PutRegistrationToken", func(ctx context.Context) error {
			return st.PutRegistrationToken(ctx, store.RegistrationToken{Hash: []byte("h"), UserID: "user1", ExpiresAt: now.Add(time.Minute)})
		}, 1},
		{"ConsumeRegistrationToken", func(ctx context.Context) error {
			_, err := st.ConsumeRegistrationToken(ctx, []byte("h"), now)
			return err
		}, 1},
		{"IncrementCounter", func(ctx context.Context) error { _, err := st.IncrementCounter(ctx, "k", time.Minute, now); return err }, 1},
		{"Counter", func(ctx context.Context) error { _, err := st.Counter(ctx, "k", now); return err }, 1},
		{"ClaimNonce", func(ctx context.Context) error { return st.ClaimNonce(ctx, "n", now.Add(time.Minute), now) }, 1},
		{"DeleteCredential", func(ctx context.Context) error { return st.DeleteCredential(ctx, "user1", "cred1") }, 1},
		{"DeleteUserCredentials", func(ctx context.Context) error { _, err := st.DeleteUserCredentials(ctx, "user1"); return err }, 1},
	}
	for _, tt := range tests {
		before := sqlitestore.Statements(st)
		if err := tt.call(t.Context()); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := sqlitestore.Statements(st) - before; got != tt.want {
			t.Errorf("%s: %d statements, want %d", tt.name, got, tt.want)
		}
	}
}

// ignore is err, or nil when err is want.
func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return err
}

// cycle drives challenge cycles through Service calls, as
// BenchmarkChallengeCycle at the root does, with a device key the test
// holds.
type cycle struct {
	svc *deviceauth.Service
	key *ecdsa.PrivateKey
	dev deviceauth.DeviceIdentity
}

var transferDetails = deviceauth.Details{
	Message: "Send 10.00 EUR to Bob",
	Fields:  []deviceauth.Field{{Label: "Amount", Value: "10.00 EUR"}, {Label: "Payee", Value: "Bob"}},
}

// newCycle starts a Service over st (rate limits off) and registers a
// P-256 device for alice through Service calls.
func newCycle(tb testing.TB, st store.Store) *cycle {
	tb.Helper()
	off := deviceauth.Rate{Limit: -1}
	svc, err := deviceauth.New(deviceauth.Config{
		Store: st, Keys: [][]byte{bytes.Repeat([]byte{7}, 32)}, PublicURL: "https://app.example/deviceauth",
		RateLimits: deviceauth.RateLimits{Register: off, Fetch: off, Respond: off, Challenges: off},
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatalf("deviceauth.New: %v", err)
	}
	tb.Cleanup(func() { svc.Close(context.Background()) })
	ctx := context.Background()
	grant, err := svc.MintRegistrationToken(ctx, "alice", "")
	if err != nil {
		tb.Fatalf("MintRegistrationToken: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	reg := deviceauth.Registration{Token: grant.Token, Algorithm: "ES256", PublicKey: spki, Name: "phone", Platform: "test"}
	reg.Signature = signDER(tb, key, protocol.RegistrationMessage(reg.Token, reg.Algorithm, reg.PublicKey, reg.Name, reg.Platform))
	cred, err := svc.Register(ctx, reg)
	if err != nil {
		tb.Fatalf("Register: %v", err)
	}
	return &cycle{svc: svc, key: key, dev: deviceauth.DeviceIdentity{CredentialID: cred.ID, UserID: "alice"}}
}

// run is one cycle: track → fetch → the device signs → respond → validate.
func (c *cycle) run(tb testing.TB) {
	ctx := context.Background()
	res, err := c.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails})
	if err != nil || res.ChallengeID == "" {
		tb.Fatalf("Track: %+v, %v", res, err)
	}
	v, err := c.svc.FetchChallenge(ctx, c.dev, res.ChallengeID)
	if err != nil {
		tb.Fatalf("FetchChallenge: %v", err)
	}
	digest := protocol.DetailsDigest(v.Details)
	msg := protocol.ResponseMessage(protocol.Response{ChallengeID: v.ChallengeID, Nonce: v.Nonce, Action: v.Action,
		CredentialID: c.dev.CredentialID, Decision: protocol.DecisionApprove, DetailsDigest: digest[:]})
	if _, err := c.svc.Respond(ctx, deviceauth.Response{ChallengeID: v.ChallengeID, CredentialID: c.dev.CredentialID,
		Decision: protocol.DecisionApprove, Signature: signDER(tb, c.key, msg)}); err != nil {
		tb.Fatalf("Respond: %v", err)
	}
	val, err := c.svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: "alice", Action: "transfer", Details: transferDetails})
	if err != nil || !val.Valid {
		tb.Fatalf("Validate: %+v, %v; want valid", val, err)
	}
}

// signDER signs msg with ES256, DER-encoded, as a phone does.
func signDER(tb testing.TB, key *ecdsa.PrivateKey, msg []byte) []byte {
	h := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

// BenchmarkChallengeCycleSQLite is one whole cycle through Service calls
// over sqlitestore on a file: track → fetch → the device signs → respond →
// validate. Compare it with BenchmarkBaselineSignVerify of the same run.
func BenchmarkChallengeCycleSQLite(b *testing.B) {
	c := newCycle(b, openMigrated(b, tempPath(b)))
	for b.Loop() {
		c.run(b)
	}
}

// BenchmarkBaselineSignVerify is the floor of a challenge cycle: one ES256
// signature by the device and one verification by the server (the root
// package's benchmark, here so that both run in one process).
func BenchmarkBaselineSignVerify(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	msg := protocol.ResponseMessage(protocol.Response{ChallengeID: protocol.NewID(), Nonce: make([]byte, 32),
		Action: "transfer", CredentialID: protocol.NewID(), Decision: "approve", DetailsDigest: make([]byte, 32)})
	for b.Loop() {
		h := sha256.Sum256(msg)
		sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
		if err != nil {
			b.Fatal(err)
		}
		h2 := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(&key.PublicKey, h2[:], sig) {
			b.Fatal("did not verify")
		}
	}
}

// countingStore is a store.Store that counts the calls of each method.
type countingStore struct {
	store.Store
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingStore) count(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = make(map[string]int)
	}
	c.calls[method]++
}

func (c *countingStore) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

func (c *countingStore) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.calls)
}

func (c *countingStore) CreateCredential(ctx context.Context, cr store.Credential, max int) error {
	c.count("CreateCredential")
	return c.Store.CreateCredential(ctx, cr, max)
}

func (c *countingStore) GetCredential(ctx context.Context, id string) (store.Credential, error) {
	c.count("GetCredential")
	return c.Store.GetCredential(ctx, id)
}

func (c *countingStore) ListCredentials(ctx context.Context, userID string) ([]store.Credential, error) {
	c.count("ListCredentials")
	return c.Store.ListCredentials(ctx, userID)
}

func (c *countingStore) UpdateCredential(ctx context.Context, userID, id string, u store.CredentialUpdate) (store.Credential, error) {
	c.count("UpdateCredential")
	return c.Store.UpdateCredential(ctx, userID, id, u)
}

func (c *countingStore) DeleteCredential(ctx context.Context, userID, id string) error {
	c.count("DeleteCredential")
	return c.Store.DeleteCredential(ctx, userID, id)
}

func (c *countingStore) DeleteUserCredentials(ctx context.Context, userID string) (int, error) {
	c.count("DeleteUserCredentials")
	return c.Store.DeleteUserCredentials(ctx, userID)
}

func (c *countingStore) CreateChallenge(ctx context.Context, ch store.Challenge, now time.Time) (store.Challenge, error) {
	c.count("CreateChallenge")
	return c.Store.CreateChallenge(ctx, ch, now)
}

func (c *countingStore) GetChallenge(ctx context.Context, id string, now time.Time) (store.Challenge, error) {
	c.count("GetChallenge")
	return c.Store.GetChallenge(ctx, id, now)
}

func (c *countingStore) TransitionChallenge(ctx context.Context, id string, t store.Transition, now time.Time) (store.Challenge, error) {
	c.count("TransitionChallenge")
	return c.Store.TransitionChallenge(ctx, id, t, now)
}

func (c *countingStore) RecordAttempt(ctx context.Context, id string, from store.State, now time.Time) (store.Challenge, error) {
	c.count("RecordAttempt")
	return c.Store.RecordAttempt(ctx, id, from, now)
}

func (c *countingStore) ListPendingChallenges(ctx context.Context, userID string, now time.Time) ([]store.Challenge, error) {
	c.count("ListPendingChallenges")
	return c.Store.ListPendingChallenges(ctx, userID, now)
}

func (c *countingStore) Watch(ctx context.Context, id string) (<-chan struct{}, error) {
	c.count("Watch")
	return c.Store.Watch(ctx, id)
}

func (c *countingStore) PutRegistrationToken(ctx context.Context, t store.RegistrationToken) error {
	c.count("PutRegistrationToken")
	return c.Store.PutRegistrationToken(ctx, t)
}

func (c *countingStore) ConsumeRegistrationToken(ctx context.Context, hash []byte, now time.Time) (store.RegistrationToken, error) {
	c.count("ConsumeRegistrationToken")
	return c.Store.ConsumeRegistrationToken(ctx, hash, now)
}

func (c *countingStore) IncrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error) {
	c.count("IncrementCounter")
	return c.Store.IncrementCounter(ctx, key, window, now)
}

func (c *countingStore) Counter(ctx context.Context, key string, now time.Time) (int64, error) {
	c.count("Counter")
	return c.Store.Counter(ctx, key, now)
}

func (c *countingStore) ClaimNonce(ctx context.Context, nonce string, expiresAt, now time.Time) error {
	c.count("ClaimNonce")
	return c.Store.ClaimNonce(ctx, nonce, expiresAt, now)
}
