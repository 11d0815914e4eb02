// Package seam is where the packages of this module plug into a deviceauth
// Service without widening its public API: the interfaces the Service calls
// out through, and the types and rules both sides share. Applications never
// see it; a change here is not an API change.
//
// Today it holds the passkey seam: package passkey implements Passkeys with
// go-webauthn, and the Service does everything else — the routes, the
// ceremony state in its store, cookies, input rules, rate limits, step-ups,
// sign-in and events — so there is one copy of each.
package seam

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// Errors a Passkeys method wraps (with %w) to say how the Service answers.
// Any other error means that what the browser sent does not verify.
var (
	// ErrMalformed: the browser's JSON is not a PublicKeyCredential the
	// verifier can parse. Answered 400 invalid_request; nothing was used
	// up (the take callback was not called).
	ErrMalformed = errors.New("seam: malformed WebAuthn response")
	// ErrUnavailable: the verifier or one of its configuration hooks
	// failed. Answered 503.
	ErrUnavailable = errors.New("seam: passkey verifier unavailable")
)

// Passkeys is the WebAuthn half of passkey support.
//
// The state a Begin method returns is kept by the Service, single use,
// until the browser answers; a Finish method gets it back through take,
// which it calls only once the browser's response has parsed (so a
// malformed response uses nothing up) and whose error it returns as is.
type Passkeys interface {
	// BeginRegistration returns the creation options ({"publicKey": …})
	// for adding a passkey for userID, excluding the authenticators of
	// existing (the user's passkeys), and the state to keep.
	BeginRegistration(ctx context.Context, userID string, existing []store.Credential) (options, state []byte, err error)
	// FinishRegistration verifies response, the browser's
	// PublicKeyCredential JSON, against the state take returns.
	FinishRegistration(ctx context.Context, response []byte, take func() ([]byte, error)) (NewPasskey, error)
	// BeginLogin returns the request options and the state of a sign-in:
	// discoverable when username is "", else username-first, listing the
	// passkeys of the user it names (passkeysOf gives them) padded with
	// decoys, so that an unknown username looks like a known one.
	BeginLogin(ctx context.Context, username string, passkeysOf func(ctx context.Context, userID string) ([]store.Credential, error)) (options, state []byte, err error)
	// FinishLogin verifies response, a sign-in assertion, against the
	// state take returns, with the passkey lookup finds by the credential
	// ID the assertion names (CredentialID of its raw ID).
	FinishLogin(ctx context.Context, response []byte, take func() ([]byte, error), lookup func(ctx context.Context, credentialID string) (store.Credential, error)) (Assertion, error)
	// AssertionOptions returns the request options of a step-up assertion
	// over challenge by one of creds.
	AssertionOptions(ctx context.Context, challenge []byte, creds []store.Credential) ([]byte, error)
	// VerifyAssertion verifies response, a step-up assertion, over
	// challenge with the one of creds that signed.
	VerifyAssertion(ctx context.Context, challenge []byte, creds []store.Credential, response []byte) (Assertion, error)
	// Timeouts are the browser's time for a registration and a sign-in,
	// the lifetimes of their ceremony cookies.
	Timeouts() (registration, login time.Duration)
	// Script is the browser script the Service serves as passkey.js.
	Script() []byte
}

// NewPasskey is a verified registration.
type NewPasskey struct {
	RawID     []byte // the WebAuthn credential ID
	SignCount uint32
	Flags     uint32 // store.FlagBackupEligible, store.FlagBackupState
	Data      []byte // the verifier's credential record (store.Credential.Passkey)
}

// Assertion is a verified assertion.
type Assertion struct {
	CredentialID string // the passkey that signed (CredentialID of its raw ID)
	SignCount    uint32
	Flags        uint32 // store.FlagBackupEligible, store.FlagBackupState
}

// CredentialID is the credential ID of the passkey whose WebAuthn raw ID is
// rawID: "pk_" and the base64url SHA-256 of it, so any raw ID length fits
// the ID rules and a passkey is found from its assertion.
func CredentialID(rawID []byte) string {
	h := sha256.Sum256(rawID)
	return "pk_" + base64.RawURLEncoding.EncodeToString(h[:])
}

// Steps are Service steps that have no public face (their public face is
// an endpoint), for this module's own test and tool packages. Package
// deviceauth fills it in when it is initialised; svc is a
// *deviceauth.Service and the results are the root's own types.
var Steps struct {
	// PasskeyOptions and RespondPasskey are the passkey step-up endpoints
	// without HTTP; RespondPasskey's result is a deviceauth.ResponseResult.
	PasskeyOptions func(svc any, ctx context.Context, userID, challengeID string) ([]byte, error)
	RespondPasskey func(svc any, ctx context.Context, clientIP, userID, challengeID string, response []byte) (any, error)
	// UsePasskey records a passkey's use as a sign-in does.
	UsePasskey func(svc any, ctx context.Context, userID, credentialID string, signCount, flags uint32) error
	// BeginPasskeyRegistration and FinishPasskeyRegistration are the
	// registration endpoints without HTTP; Finish's result is a
	// deviceauth.Credential.
	BeginPasskeyRegistration  func(svc any, ctx context.Context, userID, stepUpToken string) (ceremonyID string, err error)
	FinishPasskeyRegistration func(svc any, ctx context.Context, ceremonyID, userID string, response []byte) (any, error)
	// BeginCeremony and TakeCeremony keep and take ceremony state.
	BeginCeremony func(svc any, ctx context.Context, kind, userID string, data []byte) (string, error)
	TakeCeremony  func(svc any, ctx context.Context, id, kind, userID string) ([]byte, error)
	// CookieName is the name a Service's cookie is set under.
	CookieName func(svc any, name string) string
	// FetchChallenge and ClaimQR are the device's signed fetch and QR
	// claim after the signature check, for dev; their results are a
	// deviceauth.ChallengeView.
	FetchChallenge func(svc any, ctx context.Context, dev Device, challengeID string) (any, error)
	ClaimQR        func(svc any, ctx context.Context, dev Device, challengeID, claimSecret string) (any, error)
}

// Device is the credential a device request is from. Only the Service's
// check of a signed request makes one for a request; a test or tool of
// this module stands in for that check with it.
type Device struct {
	CredentialID string
	UserID       string
}

// Names the Service uses that its tests need.
const (
	CeremonyRegistration  = "passkey.register"
	CeremonyLogin         = "passkey.login"
	QRBindingCookiePrefix = "deviceauth_qr_"
)

// Compat holds the Service steps package compat/authsignal is built on
// (docs/compat-authsignal.md): the rules of compat credentials and of the
// challenges the adapter creates, which only the Service applies. The
// adapter parses and writes; each step checks what it is given. Package
// deviceauth fills it in when it is initialised; svc is a
// *deviceauth.Service.
var Compat struct {
	// Track is Service.Track for a compat challenge: req is a
	// deviceauth.TrackRequest (Methods, InApp, CredentialID and
	// VerificationCode unset), the result a deviceauth.TrackResult.
	Track func(svc any, ctx context.Context, req any) (any, error)
	// Credential returns compat credential id; ErrNotFound (the root's)
	// when there is none or it is of another kind.
	Credential func(svc any, ctx context.Context, id string) (store.Credential, error)
	// Credentials lists userID's credentials of every kind.
	Credentials func(svc any, ctx context.Context, userID string) ([]store.Credential, error)
	// Register adds a compat credential without proof of possession.
	Register func(svc any, ctx context.Context, r CompatRegistration) (store.Credential, error)
	// Prove checks compat credential id's signature over one of messages
	// (a signed fetch), single use under replay when it is not "", and
	// returns the credential; every failure is the root's ErrUnauthorized.
	Prove func(svc any, ctx context.Context, id string, messages [][]byte, signature []byte, replay, clientIP string) (store.Credential, error)
	// PushMessage issues the message compat credential id signs to fetch
	// its push challenge; PushFetch checks that signature (once).
	PushMessage func(svc any, ctx context.Context, id, clientIP string) (string, error)
	PushFetch   func(svc any, ctx context.Context, id string, signature []byte, clientIP string) error
	// Limit counts a request of clientIP against the Service's rate limit
	// name: "fetch", "respond", "register", "qr" or "ceremony".
	Limit func(svc any, ctx context.Context, name, clientIP string) error
	// Remove removes compat credential id at its own request, signed over
	// one of messages; replay names the signed window (single use).
	Remove func(svc any, ctx context.Context, id string, messages [][]byte, signature []byte, replay, clientIP string) error
	// Pending returns the newest pending challenge a compat track created
	// for the user of compat credential id, and whether there is one.
	Pending func(svc any, ctx context.Context, id string) (store.Challenge, bool, error)
	// Push notifies userID's compat devices of pending compat challenge
	// id, under the push limits.
	Push func(svc any, ctx context.Context, userID, id string) error
	// Answer approves or denies a pending compat challenge.
	Answer func(svc any, ctx context.Context, a CompatAnswer) (store.Challenge, error)
	// Claim claims an unclaimed compat challenge (QR or in-app) for the
	// answering credential's user.
	Claim func(svc any, ctx context.Context, a CompatAnswer) (store.Challenge, error)
	// Create creates an unclaimed compat challenge a browser (qr true) or
	// a phone asked for, for one of Config.QRActions, and returns it with
	// its browser binding secret (qr only).
	Create func(svc any, ctx context.Context, qr bool, action, clientIP, userAgent string) (store.Challenge, string, error)
	// Challenge reads challenge id; Bound reads it when binding is the
	// browser secret it was created with. Both are ErrNotFound otherwise.
	Challenge func(svc any, ctx context.Context, id string) (store.Challenge, error)
	Bound     func(svc any, ctx context.Context, id, binding string) (store.Challenge, error)
	// Wait returns challenge id once its state is no longer since, or
	// after at most deviceauth.MaxLongPoll, when ctx ends or the Service
	// closes, with the state it last read (the Service's long-poll).
	Wait func(svc any, ctx context.Context, id string, since store.State) (store.Challenge, error)
	// Done is closed when the Service closes.
	Done func(svc any) <-chan struct{}
	// Token is the challenge token (dat_…) of challenge id; TokenID the
	// challenge a token names.
	Token   func(svc any, id string) string
	TokenID func(svc any, token string) (string, bool)
	// Seal and Open MAC payload under the Service's keys for purpose (a
	// name of [a-z-]), so the adapter keeps state in what it hands out.
	Seal func(svc any, purpose string, payload []byte) string
	Open func(svc any, purpose, sealed string) ([]byte, bool)
	// Now is the Service's clock (Config.Now).
	Now func(svc any) time.Time

	// BeginPasskey begins adding a passkey for r.UserID under Register's
	// rules (the step-up when the user has a credential, none while an
	// operator's reset holds; r's key, platform, push token and data are
	// unused), counted against the register limit. It returns the
	// creation options ({"publicKey": …}) and the ceremony's ID, whose
	// state the store keeps until FinishPasskey takes it, once.
	BeginPasskey func(svc any, ctx context.Context, r CompatRegistration) (options []byte, ceremonyID string, err error)
	// FinishPasskey verifies response for registration ceremony id of
	// userID and stores the passkey (store.KindPasskey).
	FinishPasskey func(svc any, ctx context.Context, id, userID string, response []byte, clientIP string) (store.Credential, error)
	// PasskeyOptions returns the request options ({"publicKey": …}) of a
	// passkey answer to compat challenge id: userID's pending tracked
	// one, or, for userID "", an unclaimed in-app one (any passkey may
	// answer it: discoverable), counted against the ceremony limit.
	PasskeyOptions func(svc any, ctx context.Context, id, userID, clientIP string) ([]byte, error)
	// AnswerPasskey approves compat challenge id (as for PasskeyOptions)
	// with the passkey assertion response, claiming it for the passkey's
	// user first when it has none, and returns the approved challenge and
	// the passkey.
	AnswerPasskey func(svc any, ctx context.Context, id, userID string, response []byte, clientIP string) (store.Challenge, store.Credential, error)
	// Passkey returns passkey id (CredentialID of its raw ID); the root's
	// ErrNotFound when there is none.
	Passkey func(svc any, ctx context.Context, id string) (store.Credential, error)
}

// CompatRegistration is a compat credential to add.
type CompatRegistration struct {
	UserID string
	// StepUpToken is the challenge token (or recovery code) of an approved
	// challenge for StepUpAction, needed when the user has credentials;
	// WeakStepUp admits a compat credential's approval of it.
	StepUpToken  string
	StepUpAction string
	WeakStepUp   bool
	PublicKey    []byte // SPKI DER of a P-256 key
	Name         string
	Platform     string
	PushToken    string
	Data         []byte // the adapter's own (store.Credential.Passkey)
	ClientIP     string
}

// CompatAnswer is a compat device's signature over a challenge ID.
type CompatAnswer struct {
	ChallengeID  string
	CredentialID string
	Approve      bool
	Signature    []byte // ASN.1 DER ECDSA over the UTF-8 challenge ID
	ClientIP     string
}

// CompatCredentialID is the ID of the compat credential of the key whose
// SPKI DER is spki: "ak_" and the base64url SHA-256 of it, so one key is
// one credential, whoever registers it.
func CompatCredentialID(spki []byte) string {
	h := sha256.Sum256(spki)
	return "ak_" + base64.RawURLEncoding.EncodeToString(h[:])
}
