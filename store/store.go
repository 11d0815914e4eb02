// Package store defines the storage contract of deviceauth: the records the
// Service keeps and the interfaces a store implements to keep them.
//
// Stores are the only place state lives, so every Service instance behind a
// load balancer sees one truth. Every method is a whole transition, never a
// get-then-put: where two callers race on a one-time transition, exactly one
// wins and the others get [ErrConflict] (or [ErrNotFound] for one-time
// records that are gone).
//
// # Time
//
// Every record carries ExpiresAt and every read and transition compares it
// with the now the caller passes in: a record is expired when its ExpiresAt
// (for a counter, its window's end) is not after now. An expired challenge
// behaves as
// [StateExpired] before any sweep; expired registration tokens, counters and
// nonces behave as absent. Server-side expiry (TTLs, sweeps) is garbage
// collection only and must never remove a record before its ExpiresAt.
//
// # Errors
//
// Methods report the sentinels below, wrapped or not; driver errors are
// wrapped with %w and never swallowed. No method returns a zero record with
// a nil error.
//
// Implementations: store/memstore (in memory, one process), and the
// adapters under adapters/. store/storetest is the conformance suite every
// implementation must pass.
package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"time"
)

// Sentinel errors reported by every store. Callers test them with errors.Is.
var (
	// ErrNotFound: no such record, the record belongs to another user, or
	// (for one-time records) it was already used or has expired.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a compare-and-set lost (the record was not in the expected
	// state, or has expired), or a record with the same ID already exists,
	// or a nonce was already claimed.
	ErrConflict = errors.New("store: conflict")
	// ErrLimit: creating the record would exceed a limit the caller set
	// (MaxCredentialsPerUser).
	ErrLimit = errors.New("store: limit reached")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrRevoked: ConsumeChallenge found the challenge approved by a
	// credential that no longer exists (or is no longer the user's).
	ErrRevoked = errors.New("store: credential revoked")
)

// Store is what every store implements: the record methods. A Service
// needs one value that implements all of it. The optional interfaces
// (CycleStore, RecoveryCodeStore, CeremonyStore, Sweeper) add what a store
// may do besides; docs/stores.md says what each buys.
type Store interface {
	CredentialStore
	ChallengeStore
	RegistrationTokenStore
	CounterStore
	// Close releases what the store holds (goroutines, subscriptions) and
	// closes the channels of every Watch. It does not close clients the
	// application passed in. Methods called after Close return ErrClosed;
	// Close may be called more than once (later calls return nil).
	Close() error
}

// Sweeper is implemented by stores whose expired records stay until they
// are deleted (the SQL stores; memstore and Redis collect their own
// garbage). A Service over a Sweeper calls Sweep from time to time
// (Config.SweepInterval).
type Sweeper interface {
	// Sweep deletes what no read can see any more at now and reports how
	// many records it deleted. It is garbage collection only: every read
	// already compares with its own now, so a late or skipped sweep
	// changes no result, and sweeps from several instances may overlap.
	Sweep(ctx context.Context, now time.Time) (int64, error)
}

// CredentialStore keeps credentials: registered device keys and passkeys.
type CredentialStore interface {
	// CreateCredential stores c. It fails with ErrLimit when c.UserID already
	// has max credentials (max <= 0 means no limit), and with ErrConflict when
	// a credential with c.ID exists. The count and the insert are one atomic
	// step: N racing creates never leave more than max credentials.
	CreateCredential(ctx context.Context, c Credential, max int) error
	// GetCredential returns the credential with the given ID, or ErrNotFound.
	GetCredential(ctx context.Context, id string) (Credential, error)
	// ListCredentials returns userID's credentials ordered by CreatedAt, then
	// ID. A user with none gets an empty, non-nil slice.
	ListCredentials(ctx context.Context, userID string) ([]Credential, error)
	// UpdateCredential applies u to userID's credential id and returns the
	// result. ErrNotFound when the credential does not exist or belongs to
	// another user. When u.SignCount is set and would not move the counter
	// forward (see CredentialUpdate), nothing is changed and the error is
	// ErrConflict.
	UpdateCredential(ctx context.Context, userID, id string, u CredentialUpdate) (Credential, error)
	// DeleteCredential deletes userID's credential id. ErrNotFound when it
	// does not exist or belongs to another user (which is then untouched).
	DeleteCredential(ctx context.Context, userID, id string) error
	// DeleteUserCredentials deletes all of userID's credentials and returns
	// how many there were.
	DeleteUserCredentials(ctx context.Context, userID string) (int, error)
}

// ChallengeStore keeps challenges and makes each state change atomic.
type ChallengeStore interface {
	// CreateChallenge stores c (whose ID must be new) and returns the stored
	// record. When c.IdempotencyKey is not empty and an unexpired challenge
	// of c.UserID with the same key exists, nothing is stored and that
	// challenge is returned instead: callers compare the returned ID with
	// c.ID. ErrConflict when a challenge with c.ID exists.
	CreateChallenge(ctx context.Context, c Challenge, now time.Time) (Challenge, error)
	// GetChallenge returns the challenge with the given ID, or ErrNotFound.
	// A challenge whose ExpiresAt is not after now and whose state is not
	// final is returned with State StateExpired.
	GetChallenge(ctx context.Context, id string, now time.Time) (Challenge, error)
	// TransitionChallenge moves challenge id from t.From to t.To, setting the
	// fields t carries, in one compare-and-set, and returns the new record.
	// It fails with ErrConflict when the challenge is not in t.From, or t.From
	// is a final state (final states never change), or the challenge has
	// expired (ExpiresAt not after now), or t.UserID is set and differs from
	// the challenge's; with ErrNotFound when there is no such challenge. Of N
	// racing callers exactly one succeeds. Waiters of Watch are woken.
	TransitionChallenge(ctx context.Context, id string, t Transition, now time.Time) (Challenge, error)
	// RecordAttempt adds one to challenge id's Attempts while it is in state
	// from (which must not be final) and unexpired, and returns the new
	// record. ErrNotFound when there is no such challenge; ErrConflict
	// otherwise.
	RecordAttempt(ctx context.Context, id string, from State, now time.Time) (Challenge, error)
	// ListPendingChallenges returns userID's unexpired challenges in
	// StatePending, ordered by CreatedAt, then ID. Empty, non-nil when there
	// are none.
	ListPendingChallenges(ctx context.Context, userID string, now time.Time) ([]Challenge, error)
	// Watch returns a channel that receives a value after each change of
	// challenge id, made through this store or through another store value
	// over the same backend. The channel has a buffer of one and never blocks
	// the writer: several changes may arrive as one wake-up, so a woken
	// waiter re-reads the record. A change made after Watch returns wakes the
	// channel (implementations subscribe before returning); watching an ID
	// that does not exist yet is not an error. Watch may fail when it cannot
	// subscribe (the backend is down); callers then poll. The channel is
	// closed when ctx is done.
	// Wake-ups are a hint: waiters also poll, so a lost wake-up costs latency,
	// not correctness.
	Watch(ctx context.Context, id string) (<-chan struct{}, error)
}

// CycleStore holds the steps of a challenge cycle (track → fetch → respond
// → validate) that read or change more than one record, shaped so that a
// store can make each of them one round trip: BeginChallenge is Track's,
// GetChallengeCredential the first half of Respond's (TransitionChallenge
// with CredentialUsed is the second), ConsumeChallenge Validate's. Each is
// defined by the single-record methods it stands for.
//
// It is optional, the fast path: over a store without it, the Service
// makes each step of those record methods (two or three calls instead of
// one) with the same guarantees, ConsumeChallenge's exactly-once included
// (a compare-and-set through TransitionChallenge). Every store of this
// module implements it.
type CycleStore interface {
	// BeginChallenge reads counter b.Counter (as Counter does; 0 when
	// b.Counter is empty) and the kinds of b.Challenge.UserID's credentials
	// and, when they allow it, creates b.Challenge as CreateChallenge does,
	// idempotency key included. They allow it when the counter is below
	// b.CounterLimit (or b.CounterLimit is 0) and the user has at least one
	// credential, and, when b.Kinds is not nil, the user's credential kinds
	// are exactly b.Kinds (compared as sets). The reads and the create
	// need not be one atomic step. Begun.Challenge is the stored record
	// (b.Challenge, or the earlier challenge of the same idempotency key,
	// whose ID differs) when a challenge was stored or found, and zero
	// otherwise. ErrConflict when a challenge with b.Challenge.ID exists.
	BeginChallenge(ctx context.Context, b Begin, now time.Time) (Begun, error)
	// GetChallengeCredential returns challenge id as GetChallenge does and
	// credential credentialID as GetCredential does, in one call.
	// ErrNotFound when either does not exist (the other return is then
	// zero).
	GetChallengeCredential(ctx context.Context, id, credentialID string, now time.Time) (Challenge, Credential, error)
	// ConsumeChallenge moves challenge id from StateApproved to
	// StateConsumed when it is bound to b (its UserID, Action and
	// DetailsDigest equal b's, and UserID is not empty) and unexpired, and
	// the credential that approved it (its CredentialID) still exists, is
	// b.UserID's and answered in a way b admits (Binding.Admits: its kind
	// and the verification code). It returns the consumed record and that
	// credential's kind. When the challenge is not bound to b, or not
	// approved, or has expired, or its credential's answer is not one b
	// admits, nothing changes and the error is ErrConflict, returned with
	// the record as it is (an expired one as StateExpired). When the
	// credential is gone, the challenge moves from StateApproved to
	// StateFailed instead and the error is ErrRevoked, returned with the
	// failed record. ErrNotFound when there is no such challenge. Of N
	// racing callers at most one consumes. Waiters of Watch are woken by
	// each change.
	ConsumeChallenge(ctx context.Context, id string, b Binding, now time.Time) (Challenge, CredentialKind, error)
}

// Begin is one BeginChallenge call.
type Begin struct {
	// Challenge is the challenge to create; its UserID names the user whose
	// credentials are read.
	Challenge Challenge
	// Counter is the key of the counter to read; CounterLimit, when not 0,
	// is the value it must stay below for the challenge to be created.
	Counter      string
	CounterLimit int64
	// Kinds, when not nil, are the credential kinds the user must have,
	// exactly, for the challenge to be created (the caller built
	// Challenge for them).
	Kinds []CredentialKind
}

// Allows reports whether b's challenge is to be created for a user with
// credentials of kinds whose counter reads counter: the rule of
// BeginChallenge, for stores that apply it in Go.
func (b Begin) Allows(counter int64, kinds []CredentialKind) bool {
	return len(kinds) > 0 && (b.CounterLimit == 0 || counter < b.CounterLimit) &&
		(b.Kinds == nil || SameKinds(kinds, b.Kinds))
}

// Begun is BeginChallenge's answer.
type Begun struct {
	// Counter is the counter's value.
	Counter int64
	// Kinds are the distinct kinds of the user's credentials in ascending
	// order (KindDevice before KindPasskey); empty when the user has none.
	Kinds []CredentialKind
	// Challenge is the stored challenge, zero when none was created or
	// found.
	Challenge Challenge
}

// Binding is what ConsumeChallenge checks a challenge against: the user,
// action and details digest a Validate names, and how the route wants it
// answered.
type Binding struct {
	UserID        string
	Action        string
	DetailsDigest []byte
	// Kinds, when not empty, are the kinds of credential whose approval
	// counts (a route that asks for a passkey: KindPasskey only).
	Kinds []CredentialKind
	// VerificationCode asks that a device key's approval was made with
	// number matching: the challenge carried a VerificationCode. A
	// passkey's approval needs none (user verification is its proof).
	VerificationCode bool
}

// Binds reports whether challenge c is bound to b: it has a user, and its
// UserID, Action and DetailsDigest equal b's. (ConsumeChallenge also needs
// c approved and unexpired, and its answer admitted.)
func (b Binding) Binds(c Challenge) bool {
	return c.UserID != "" && c.UserID == b.UserID && c.Action == b.Action && bytes.Equal(c.DetailsDigest, b.DetailsDigest)
}

// Admits reports whether b counts an approval of challenge c by a
// credential of kind: kind is one of b.Kinds (any, when b.Kinds is
// empty), and, when b asks for a verification code, kind is KindPasskey
// or c carried a code. ConsumeChallenge applies it with the kind of the
// credential c names; a refusal changes nothing.
func (b Binding) Admits(c Challenge, kind CredentialKind) bool {
	return (len(b.Kinds) == 0 || slices.Contains(b.Kinds, kind)) &&
		(!b.VerificationCode || kind == KindPasskey || c.VerificationCode != "")
}

// RegistrationTokenStore keeps registration tokens, by hash only.
type RegistrationTokenStore interface {
	// PutRegistrationToken stores t. ErrConflict when t.Hash exists.
	PutRegistrationToken(ctx context.Context, t RegistrationToken) error
	// ConsumeRegistrationToken deletes and returns the unexpired token with
	// the given hash. ErrNotFound when it is unknown, used or expired. Of N
	// racing callers exactly one succeeds.
	ConsumeRegistrationToken(ctx context.Context, hash []byte, now time.Time) (RegistrationToken, error)
}

// RecoveryCodeStore keeps users' recovery codes, by hash only. It is
// optional: a Service over a store without it issues no recovery codes.
// Every method is one atomic step.
type RecoveryCodeStore interface {
	// ReplaceRecoveryCodes makes hashes userID's recovery codes, revoking
	// every earlier one; no hashes removes them all.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error
	// UseRecoveryCode deletes userID's code with the given hash and
	// returns how many remain. ErrNotFound when the user has no such code
	// (never issued, used, or revoked). Of N racing callers exactly one
	// succeeds.
	UseRecoveryCode(ctx context.Context, userID string, hash []byte) (remaining int, err error)
	// HasRecoveryCode reports whether userID has a code with the given
	// hash, changing nothing.
	HasRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error)
}

// CeremonyStore keeps the state of ceremonies: a WebAuthn registration or
// sign-in keeps what the server sent the browser (the passkey package's
// session data) between its two requests. It is optional: a Service over a
// store without it offers no passkey ceremonies (Config.Passkeys needs
// it). Each method is one atomic step.
type CeremonyStore interface {
	// PutCeremony stores c. ErrConflict when a ceremony with c.ID is
	// stored (one that has expired may still be, until it is collected:
	// IDs are random and never reused).
	PutCeremony(ctx context.Context, c Ceremony) error
	// TakeCeremony deletes ceremony id and returns it when it is unexpired
	// (ExpiresAt after now). ErrNotFound when it is unknown, already
	// taken, or expired. Of N racing callers, through one store value or
	// several over one backend, exactly one gets it.
	//
	// It checks neither the ceremony's Kind nor its UserID: the caller
	// compares them with the ones it expects and treats a mismatch as not
	// found. The ceremony is spent either way, which fails closed: a
	// ceremony is single use, its ID is a secret of the browser that began
	// it, and that browser can begin another.
	TakeCeremony(ctx context.Context, id string, now time.Time) (Ceremony, error)
}

// CounterStore keeps fixed-window counters (rate limits, wrong codes) and a
// nonce cache.
type CounterStore interface {
	// IncrementCounter adds one to the counter key and returns its new value.
	// A counter that is absent or whose window has ended starts again at 1
	// with a window ending at now+window; later increments do not move the
	// window.
	IncrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error)
	// Counter returns the value of counter key, 0 when it is absent or its
	// window has ended.
	Counter(ctx context.Context, key string, now time.Time) (int64, error)
	// ClaimNonce records nonce until expiresAt. ErrConflict when it is
	// already recorded and unexpired. Of N racing callers exactly one
	// succeeds.
	ClaimNonce(ctx context.Context, nonce string, expiresAt, now time.Time) error
}
