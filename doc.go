// Package deviceauth gives a net/http application trusted-device
// authentication: a logged-in user binds a device key (a P-256 key in a
// phone's Secure Enclave or Android Keystore, or an Ed25519 key), and the
// application gates sensitive actions — payments, new sign-ins, settings —
// on a challenge that only that device can sign.
//
// # Flow
//
// Registration: the backend calls [Service.MintRegistrationToken] for the
// logged-in user and hands the token to the device (a QR code, a deep
// link). The device generates a key pair and posts the public key with the
// token and a proof-of-possession signature to the [Service.Handler]
// (package device is a Go client). A user who already has a credential
// needs a validated [ActionAddAuthenticator] challenge to mint a token.
//
// Verification: the backend calls [Service.Track] for an action. When the
// answer is [StateChallengeRequired] it gets a challenge ID and a token;
// the device fetches the challenge by ID with a signed request, shows its
// details, and signs an approval or denial. The backend then calls
// [Service.Validate] with the token, which is valid exactly once, for that
// user, action and details.
//
//	res, err := svc.Track(ctx, deviceauth.TrackRequest{UserID: "u1", Action: "transfer",
//		Details: deviceauth.Details{Message: "Send 10 EUR to Bob"}})
//	// … the user approves on the device …
//	v, err := svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token,
//		UserID: "u1", Action: "transfer", Details: deviceauth.Details{Message: "Send 10 EUR to Bob"}})
//	if err != nil { /* store failure: fail closed */ }
//	if v.Valid { /* proceed */ }
//
// # Storage
//
// All state lives in a [store.Store] given in [Config.Store]: the
// in-memory store/memstore for one process, or an adapter under adapters/
// so that every instance behind a load balancer sees one truth. Every state
// change is one atomic compare-and-set in the store; the Service keeps no
// state of its own. A challenge cycle is five store calls (Track one,
// fetchChallenge one, Respond two, Validate one), shaped by
// [store.CycleStore] so that each can be one round trip. The Service sweeps
// stores that need it ([store.Sweeper], [Config.SweepInterval]). Challenge tokens are derived with HMAC from
// [Config.Keys] and never stored; registration tokens are stored as
// SHA-256.
//
// # Security
//
// The signed messages are fixed byte for byte (docs/protocol.md); the
// server always rebuilds them from stored state and verifies with the key
// stored for the challenge's user. Secrets come from crypto/rand and are
// compared in constant time or looked up by hash. Store failures fail
// closed ([ErrUnavailable], 503). Bad input is a 4xx with a stable code
// ([Error]) and changes nothing; JSON bodies are strict (names match
// case-sensitively, no member twice). Rate limits are counted in the store,
// per client network for the per-IP ones ([RateLimits.IPv6Prefix]).
// Logs and events carry IDs only — never tokens, nonces, codes, details or
// signatures.
//
// What answered counts: Validate checks, in the same atomic store call as
// the user, action and details, that the approval came by a method the
// caller admits ([ValidateRequest.Methods], [WithMethods]) and, where a
// code is asked for, with number matching; a refusal consumes nothing.
// Number matching is the default for what fatigue attacks target — the
// add/remove-authenticator step-ups, push challenges and the challenges
// [Service.Require] and [Service.stepUpRefusal] create — unless
// [Config.ApproveOnly]; a passkey assertion needs no code. An anonymous
// browser's QR challenge is for [Config.QRActions] only (signIn by
// default), and a user or client IP blocked by wrong codes can neither
// claim nor create one.
//
// The device lifecycle: removing any credential, the last one included,
// needs an approved removeAuthenticator step-up (or the device's own signed
// request); a token minted for a first device enrols only while the user
// still has none, checked in the store call that creates the credential; a
// recovery code stands in once for a step-up; and after an operator reset
// ([Service.ResetCredentials]) only its single-use grant mints the next
// registration token.
package deviceauth
