package store

import (
	"bytes"
	"slices"
	"time"
)

// The records the Service keeps; the interfaces that keep them are in
// store.go.

// CredentialKind says what sort of key a credential holds.
type CredentialKind string

// Credential kinds.
const (
	KindDevice  CredentialKind = "device"
	KindPasskey CredentialKind = "passkey"
	// KindCompat is a device key registered through a compatibility
	// adapter (package compat/authsignal): added without proof of
	// possession, and whose answers sign the challenge ID alone, so that
	// an approval by one is a weak binding (docs/compat-authsignal.md).
	// It never signs a native request or answer.
	KindCompat CredentialKind = "compat"
)

// Credential is a registered device key or passkey.
type Credential struct {
	ID     string         // server-generated, [A-Za-z0-9_-]{1,64}
	UserID string         // the application's user ID
	Kind   CredentialKind // device or passkey
	// Algorithm is "ES256" or "EdDSA" for device keys.
	Algorithm string
	// PublicKey is the key in SPKI DER (device keys); empty for passkeys,
	// whose key lives in Passkey.
	PublicKey  []byte
	Name       string // shown to the user
	Platform   string // as the device reported it (ios, android, web, …)
	PushToken  string // opaque, for a Notifier
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first use
	// SignCount is the authenticator's signature counter (passkeys).
	SignCount uint32
	// Flags holds credential flags (passkeys: backup eligible and backup
	// state, see FlagBackupEligible and FlagBackupState).
	Flags uint32
	// Passkey is an opaque blob the passkey package owns (for a
	// KindCompat credential, the adapter that registered it).
	Passkey []byte
	// Attestation is what a hardware attestation established about the
	// key, as JSON the root package owns; empty when not attested.
	Attestation []byte
}

// Credential flag bits.
const (
	FlagBackupEligible uint32 = 1 << 0
	FlagBackupState    uint32 = 1 << 1
	// FlagCloneWarning: the passkey's signature counter once went
	// backwards, a sign of a cloned authenticator.
	FlagCloneWarning uint32 = 1 << 2
)

// Clone returns c with its own copy of every slice.
func (c Credential) Clone() Credential {
	c.PublicKey = bytes.Clone(c.PublicKey)
	c.Passkey = bytes.Clone(c.Passkey)
	c.Attestation = bytes.Clone(c.Attestation)
	return c
}

// CredentialUpdate lists the changes UpdateCredential makes. Nil and zero
// fields are left as they are.
type CredentialUpdate struct {
	LastUsedAt time.Time // set when not zero
	Name       *string
	PushToken  *string
	Flags      *uint32
	Passkey    []byte // set when not nil
	// SignCount, when set, must move the counter forward: the update is made
	// when the new value is greater than the stored one, or when both are 0
	// (authenticators without a counter); otherwise ErrConflict.
	SignCount *uint32
}

// State is a challenge's place in its lifecycle.
type State string

// Challenge states. Consumed, Denied, Failed, Expired and Superseded are
// final; Approved may only become Consumed (or Failed, when its credential
// is revoked).
const (
	StateUnclaimed  State = "UNCLAIMED" // QR: shown, not yet claimed by a device
	StatePending    State = "PENDING"
	StateApproved   State = "APPROVED"
	StateConsumed   State = "CONSUMED"
	StateDenied     State = "DENIED"
	StateFailed     State = "FAILED"
	StateExpired    State = "EXPIRED"
	StateSuperseded State = "SUPERSEDED"
)

// Final reports whether s can never change again.
func (s State) Final() bool {
	switch s {
	case StateConsumed, StateDenied, StateFailed, StateExpired, StateSuperseded:
		return true
	}
	return false
}

// Challenge is one request for a user's device to approve an action.
type Challenge struct {
	ID     string // public handle, [A-Za-z0-9_-]{1,64}
	UserID string // empty for a QR challenge until claimed
	Action string
	State  State
	// Method is the verification method that created the challenge (DEVICE,
	// PUSH, QR_CODE, PASSKEY); Methods, those the device may answer with.
	Method  string
	Methods []string
	Nonce   []byte // random, signed into the response
	// Details is the normalised details as canonical JSON; DetailsDigest its
	// digest (docs/protocol.md#signed-messages).
	Details       []byte
	DetailsDigest []byte
	// VerificationCode is the number-matching code, empty when not asked.
	VerificationCode string
	IdempotencyKey   string
	ClientIP         string
	UserAgent        string
	Origin           string
	CreatedAt        time.Time
	ExpiresAt        time.Time
	// Set when a device answers.
	CredentialID string
	DenyReason   string
	AnsweredAt   time.Time
	// Attempts counts validly signed responses with a wrong code.
	Attempts int
	// ClaimedBy is the credential that claimed a QR challenge.
	ClaimedBy string
	// ClaimSecretHash and BrowserBindingHash are SHA-256 of the QR claim
	// secret and of the browser-binding cookie.
	ClaimSecretHash    []byte
	BrowserBindingHash []byte
	// Passkey is an opaque blob the passkey package owns (ceremony state).
	Passkey []byte
	// AttestationRequired is what the answering credential's attestation
	// must meet, as the root package encodes it; empty for nothing.
	AttestationRequired string
	// Record, when not nil, is the action record a store that implements
	// ActionStore writes with the challenge, in the same operation, when
	// CreateChallenge or BeginChallenge creates it. It is not part of the
	// challenge: reads return it nil, and other stores ignore it.
	Record *ActionRecord
}

// Clone returns c with its own copy of every slice, so that neither the
// caller's nor the store's later changes reach the other.
func (c Challenge) Clone() Challenge {
	c.Methods = slices.Clone(c.Methods)
	// One allocation for the byte fields, each slice capped at its own
	// length, so that appending to one never writes into the next.
	fields := [...]*[]byte{&c.Nonce, &c.Details, &c.DetailsDigest, &c.ClaimSecretHash, &c.BrowserBindingHash, &c.Passkey}
	n := 0
	for _, f := range fields {
		n += len(*f)
	}
	buf := make([]byte, 0, n)
	for _, f := range fields {
		if *f == nil {
			continue // nil stays nil, as bytes.Clone leaves it
		}
		start := len(buf)
		buf = append(buf, *f...)
		*f = buf[start:len(buf):len(buf)]
	}
	if c.Record != nil {
		r := c.Record.Clone()
		c.Record = &r
	}
	return c
}

// StateAt is the state c reads as at now: StateExpired when c's state is
// not final and its ExpiresAt is not after now, c.State otherwise. Every
// read of a challenge reports this state.
func (c Challenge) StateAt(now time.Time) State {
	if !c.State.Final() && !c.ExpiresAt.After(now) {
		return StateExpired
	}
	return c.State
}

// Transition is one compare-and-set on a challenge: From must be the current
// state; To becomes it. The other fields are written when not empty.
type Transition struct {
	From, To State
	// UserID, when not empty, must equal the challenge's UserID — or, for a
	// challenge without a user (QR), becomes it.
	UserID       string
	CredentialID string
	DenyReason   string
	ClaimedBy    string
	AnsweredAt   time.Time
	// CredentialUsed asks the same call to record the answer on the
	// credential: when the transition is made, credential CredentialID's
	// LastUsedAt becomes AnsweredAt, if that credential exists and is
	// UserID's (when it is not, the transition stands and nothing else
	// changes). Stores that can make both changes in one round trip do.
	CredentialUsed bool
}

// RegistrationToken is a single-use permission for UserID to register a
// credential. Only its SHA-256 is stored.
type RegistrationToken struct {
	Hash      []byte // SHA-256 of the token's ASCII
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	// FirstDevice: the token was minted without a step-up because the user
	// had no credential, so it may enrol only while the user still has
	// none (the Service creates the credential with a limit of one).
	// Tokens stored by releases before it read as false.
	FirstDevice bool
}

// Ceremony is the state a ceremony (a WebAuthn registration or sign-in)
// keeps between its two requests: single use, bound to its kind and user,
// expiring.
type Ceremony struct {
	// ID is the ceremony's handle, [A-Za-z0-9_-]{1,64}, kept by the
	// browser. The Service mints it with NewUserID when UserID is set, so
	// that a store may keep it with the user's records.
	ID string
	// UserID is the user the ceremony is for, "" when nobody is known yet
	// (a passkey sign-in).
	UserID string
	// Kind says what the ceremony is for ("passkey.register",
	// "passkey.login", or a kind of the application's own).
	Kind string
	// Data is the caller's state, opaque to the store.
	Data []byte
	// FirstDevice: a passkey registration begun without a step-up, because
	// the user had no credential, so it may add a passkey only while the
	// user still has none.
	FirstDevice bool
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// Clone returns c with its own copy of Data.
func (c Ceremony) Clone() Ceremony {
	c.Data = bytes.Clone(c.Data)
	return c
}

// SameKinds reports whether a and b hold the same credential kinds, as
// sets: order and repetition do not matter.
func SameKinds(a, b []CredentialKind) bool {
	for _, k := range a {
		if !slices.Contains(b, k) {
			return false
		}
	}
	for _, k := range b {
		if !slices.Contains(a, k) {
			return false
		}
	}
	return true
}
