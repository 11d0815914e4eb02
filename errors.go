package deviceauth

import (
	"context"
	"errors"
	"net/http"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/redact"
	"github.com/deviceauth/deviceauth/store"
)

// Error is the error every Service method and endpoint reports. Code is a
// stable machine-readable string (the "error" member of JSON error bodies),
// Status the HTTP status it maps to and Message a sentence safe to show a
// client. State, when set, is the state of the challenge the error is about
// (the "state" member, as in a 409 challenge_closed). Err, the cause, is
// for logs and errors.Is; it is never sent.
//
// An Error made from a Sentinel matches it under errors.Is, whatever its
// message or cause, and matches no other Sentinel, even one with the same
// code:
//
//	if errors.Is(err, deviceauth.ErrRateLimited) { … }
type Error struct {
	Code    string
	Status  int
	Message string
	State   string
	Err     error
	kind    Sentinel
}

// Error returns the code and message, and the cause when there is one.
func (e *Error) Error() string {
	s := "deviceauth: " + e.Code
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is the Sentinel e was made from.
func (e *Error) Is(target error) bool {
	k, ok := target.(Sentinel)
	return ok && k != 0 && k == e.kind
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// with returns a copy of e carrying cause (for logs and errors.Is; never sent).
func (e *Error) with(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// withMessage returns a copy of e with a more precise client-safe message.
func (e *Error) withMessage(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// Sentinel is a kind of failure: the Err… constants below. Being
// constants, they cannot be reassigned. A Sentinel is itself an error,
// and errors.As turns it into its *Error (code, status, message).
type Sentinel uint8

// Error returns the sentinel's code and default message.
func (k Sentinel) Error() string { return k.err().Error() }

// As sets target, an **Error, to k's Error, so that errors.As finds the
// code and status of a bare sentinel as of an *Error.
func (k Sentinel) As(target any) bool {
	p, ok := target.(**Error)
	if ok {
		*p = k.err()
	}
	return ok
}

// err returns a new *Error of kind k.
func (k Sentinel) err() *Error {
	if int(k) >= len(sentinels) || k == 0 {
		return &Error{Code: "unavailable", Status: http.StatusServiceUnavailable, Message: "the service is unavailable", kind: ErrUnavailable}
	}
	d := sentinels[k]
	return &Error{Code: d.code, Status: d.status, Message: d.message, kind: k}
}

// with, withMessage and withState make an *Error of kind k, as the
// methods of *Error of those names do.
func (k Sentinel) with(cause error) *Error       { return k.err().with(cause) }
func (k Sentinel) withMessage(msg string) *Error { return k.err().withMessage(msg) }
func (k Sentinel) withState(st string) *Error    { return k.err().withState(st) }

// The sentinels: each is a constant of its own, matched by errors.Is only
// by itself and by the *Errors made from it, whatever their messages.
// Endpoints answer with their status and code.
const (
	// ErrInvalidRequest: the request is malformed (bad JSON, unknown or
	// missing fields, wrong types, bad base64, an invalid action or ID).
	ErrInvalidRequest Sentinel = iota + 1
	// ErrBodyTooLarge: the body is over Config.MaxBodyBytes.
	ErrBodyTooLarge
	// ErrInvalidDetails: the details break a normalisation rule (a refused
	// character, a cap).
	ErrInvalidDetails
	// ErrUnsupportedAlgorithm: the key algorithm is not ES256 or EdDSA. (An
	// unknown signatureFormat is ErrInvalidSignature.)
	ErrUnsupportedAlgorithm
	// ErrInvalidKey: the public key does not parse for its algorithm.
	ErrInvalidKey
	// ErrInvalidSignature: the signature is not well formed for its
	// algorithm and format (a signature that is well formed but wrong is
	// reported as the failure of the thing it was meant to prove).
	ErrInvalidSignature
	// ErrRegistrationFailed: the registration token is unknown, used or
	// expired, or the proof of possession does not verify. One answer for
	// all, so nothing can be learnt by probing.
	ErrRegistrationFailed
	// ErrUnauthorized: a device-signed request did not prove its key
	// (missing or bad signature, unknown key, stale created, replayed nonce).
	ErrUnauthorized
	// ErrNotFound: no such challenge or credential for this caller.
	ErrNotFound
	// ErrInvalidResponse: a challenge response does not verify (unknown
	// challenge or credential, a credential of another user, a signature
	// over other values). One answer for all.
	ErrInvalidResponse
	// ErrWrongCode: a validly signed approval carried the wrong
	// verification code.
	ErrWrongCode
	// ErrChallengeClosed: the challenge is no longer pending (answered,
	// expired, failed or superseded).
	ErrChallengeClosed
	// ErrStepUpRequired: adding or removing a credential needs a validated
	// addAuthenticator or removeAuthenticator challenge, and none was given
	// or it did not validate.
	ErrStepUpRequired
	// ErrCredentialLimit: the user already has Config.MaxCredentialsPerUser
	// credentials.
	ErrCredentialLimit
	// ErrIdempotencyConflict: a Track idempotency key was reused for another
	// action or other details.
	ErrIdempotencyConflict
	// ErrRateLimited: too many requests from this IP or for this user.
	ErrRateLimited
	// ErrUnavailable: the store failed. Nothing was changed that could be
	// half-done; gated routes fail closed.
	ErrUnavailable
	// ErrCrossOrigin: a browser sent a cross-origin request to a web
	// endpoint (http.CrossOriginProtection).
	ErrCrossOrigin
	// ErrMethodNotAllowed: the endpoint exists but not for this method.
	ErrMethodNotAllowed
	// ErrUnauthenticated: a web endpoint or Require found nobody signed in
	// (Config.Users resolved no user).
	ErrUnauthenticated
	// ErrAttestationRequired: the registration carries no attestation where
	// Config.AttestationRequired asks for one, or the credential answering a
	// challenge does not meet its AttestationRequirement.
	ErrAttestationRequired
	// ErrAttestationFailed: the registration's attestation does not verify.
	ErrAttestationFailed
	// errPasskeyAssertion: the assertion does not verify (wrong challenge,
	// origin, RP ID, signature, user presence or verification, an unknown or
	// removed passkey, no ceremony).
	errPasskeyAssertion
	// errPasskeyClone: the authenticator's signature counter went backwards,
	// a sign that the passkey was cloned; the sign-in is refused.
	errPasskeyClone
)

// sentinels holds each Sentinel's code, status and default message.
var sentinels = [...]struct {
	code    string
	status  int
	message string
}{
	ErrInvalidRequest:       {"invalid_request", http.StatusBadRequest, "the request is malformed"},
	ErrBodyTooLarge:         {"body_too_large", http.StatusRequestEntityTooLarge, "the request body is too large"},
	ErrInvalidDetails:       {"invalid_details", http.StatusBadRequest, "the details are not acceptable"},
	ErrUnsupportedAlgorithm: {"unsupported_algorithm", http.StatusBadRequest, "the algorithm or signature format is not supported"},
	ErrInvalidKey:           {"invalid_key", http.StatusBadRequest, "the public key is not valid for its algorithm"},
	ErrInvalidSignature:     {"invalid_signature", http.StatusBadRequest, "the signature is malformed"},
	ErrRegistrationFailed:   {"registration_failed", http.StatusForbidden, "the registration token or proof of possession is not valid"},
	ErrUnauthorized:         {"unauthorized", http.StatusUnauthorized, "the request signature is not valid"},
	ErrNotFound:             {"not_found", http.StatusNotFound, "not found"},
	ErrInvalidResponse:      {"invalid_response", http.StatusForbidden, "the response is not valid for this challenge"},
	ErrWrongCode:            {"wrong_code", http.StatusForbidden, "the verification code is wrong"},
	ErrChallengeClosed:      {"challenge_closed", http.StatusConflict, "the challenge is no longer pending"},
	ErrStepUpRequired:       {"step_up_required", http.StatusForbidden, "a verified step-up challenge is required"},
	ErrCredentialLimit:      {"credential_limit", http.StatusConflict, "the user has the maximum number of credentials"},
	ErrIdempotencyConflict:  {"idempotency_conflict", http.StatusConflict, "the idempotency key was used for another action or details"},
	ErrRateLimited:          {"rate_limited", http.StatusTooManyRequests, "too many requests"},
	ErrUnavailable:          {"unavailable", http.StatusServiceUnavailable, "the service is unavailable"},
	ErrCrossOrigin:          {"cross_origin", http.StatusForbidden, "cross-origin requests are refused"},
	ErrMethodNotAllowed:     {"method_not_allowed", http.StatusMethodNotAllowed, "method not allowed"},
	ErrUnauthenticated:      {"unauthenticated", http.StatusUnauthorized, "sign in first"},
	ErrAttestationRequired:  {"attestation_required", http.StatusForbidden, "a hardware-attested device key is required"},
	ErrAttestationFailed:    {"attestation_failed", http.StatusForbidden, "the attestation does not verify"},
	errPasskeyAssertion:     {"invalid_assertion", http.StatusForbidden, "the passkey assertion is not valid"},
	errPasskeyClone:         {"passkey_clone", http.StatusForbidden, "the passkey's signature counter went backwards"},
}

// withState returns a copy of e that reports the challenge state st.
func (e *Error) withState(st string) *Error {
	c := *e
	c.State = st
	return &c
}

// asError returns err as an *Error; anything else is ErrUnavailable with
// err as its cause (a store or context failure).
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrUnavailable.with(err)
}

// storeFailed reports a store (or context) failure and returns
// ErrUnavailable with err as its cause. The event's Reason is a kind of
// failure (storeFailure), never the driver's text, which can name hosts,
// users and queries: that goes to the log only, its URLs redacted.
func (s *Service) storeFailed(ctx context.Context, err error) error {
	if e := (*Error)(nil); errors.As(err, &e) {
		return err
	}
	s.log.ErrorContext(ctx, "deviceauth: store failed", "error", redact.URLs(err.Error()))
	s.emit(ctx, event.Event{Type: event.StoreError, Reason: storeFailure(err)})
	return ErrUnavailable.with(err)
}

// storeFailure names the kind of a store failure: canceled, timeout,
// closed or failed.
func storeFailure(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, store.ErrClosed):
		return "closed"
	}
	return "failed"
}
