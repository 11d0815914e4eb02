package deviceauth

import (
	"errors"
	"net/http"
)

// Error is the error every Service method and endpoint reports. Code is a
// stable machine-readable string (the "error" member of JSON error bodies),
// Status the HTTP status it maps to and Message a sentence safe to show a
// client. State, when set, is the state of the challenge the error is about
// (the "state" member, as in a 409 challenge_closed). Err, the cause, is
// for logs and errors.Is; it is never sent.
//
// Two Errors match under errors.Is when their codes are equal, so a copy
// with another message or cause still matches the sentinel it came from:
//
//	if errors.Is(err, deviceauth.ErrRateLimited) { … }
type Error struct {
	Code    string
	Status  int
	Message string
	State   string
	Err     error
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

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
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

// The sentinels. Endpoints answer with their Status and Code.
var (
	// ErrInvalidRequest: the request is malformed (bad JSON, unknown or
	// missing fields, wrong types, bad base64, an invalid action or ID).
	ErrInvalidRequest = &Error{Code: "invalid_request", Status: http.StatusBadRequest, Message: "the request is malformed"}
	// ErrBodyTooLarge: the body is over Config.MaxBodyBytes.
	ErrBodyTooLarge = &Error{Code: "body_too_large", Status: http.StatusRequestEntityTooLarge, Message: "the request body is too large"}
	// ErrInvalidDetails: the details break a normalisation rule (a refused
	// character, a cap).
	ErrInvalidDetails = &Error{Code: "invalid_details", Status: http.StatusBadRequest, Message: "the details are not acceptable"}
	// ErrUnsupportedAlgorithm: the key algorithm is not ES256 or EdDSA. (An
	// unknown signatureFormat is ErrInvalidSignature.)
	ErrUnsupportedAlgorithm = &Error{Code: "unsupported_algorithm", Status: http.StatusBadRequest, Message: "the algorithm or signature format is not supported"}
	// ErrInvalidKey: the public key does not parse for its algorithm.
	ErrInvalidKey = &Error{Code: "invalid_key", Status: http.StatusBadRequest, Message: "the public key is not valid for its algorithm"}
	// ErrInvalidSignature: the signature is not well formed for its
	// algorithm and format (a signature that is well formed but wrong is
	// reported as the failure of the thing it was meant to prove).
	ErrInvalidSignature = &Error{Code: "invalid_signature", Status: http.StatusBadRequest, Message: "the signature is malformed"}
	// ErrRegistrationFailed: the registration token is unknown, used or
	// expired, or the proof of possession does not verify. One answer for
	// all, so nothing can be learnt by probing.
	ErrRegistrationFailed = &Error{Code: "registration_failed", Status: http.StatusForbidden, Message: "the registration token or proof of possession is not valid"}
	// ErrUnauthorized: a device-signed request did not prove its key
	// (missing or bad signature, unknown key, stale created, replayed nonce).
	ErrUnauthorized = &Error{Code: "unauthorized", Status: http.StatusUnauthorized, Message: "the request signature is not valid"}
	// ErrNotFound: no such challenge or credential for this caller.
	ErrNotFound = &Error{Code: "not_found", Status: http.StatusNotFound, Message: "not found"}
	// ErrInvalidResponse: a challenge response does not verify (unknown
	// challenge or credential, a credential of another user, a signature
	// over other values). One answer for all.
	ErrInvalidResponse = &Error{Code: "invalid_response", Status: http.StatusForbidden, Message: "the response is not valid for this challenge"}
	// ErrWrongCode: a validly signed approval carried the wrong
	// verification code.
	ErrWrongCode = &Error{Code: "wrong_code", Status: http.StatusForbidden, Message: "the verification code is wrong"}
	// ErrChallengeClosed: the challenge is no longer pending (answered,
	// expired, failed or superseded).
	ErrChallengeClosed = &Error{Code: "challenge_closed", Status: http.StatusConflict, Message: "the challenge is no longer pending"}
	// ErrStepUpRequired: adding or removing a credential needs a validated
	// addAuthenticator or removeAuthenticator challenge, and none was given
	// or it did not validate.
	ErrStepUpRequired = &Error{Code: "step_up_required", Status: http.StatusForbidden, Message: "a verified step-up challenge is required"}
	// ErrCredentialLimit: the user already has Config.MaxCredentialsPerUser
	// credentials.
	ErrCredentialLimit = &Error{Code: "credential_limit", Status: http.StatusConflict, Message: "the user has the maximum number of credentials"}
	// ErrIdempotencyConflict: a Track idempotency key was reused for another
	// action or other details.
	ErrIdempotencyConflict = &Error{Code: "idempotency_conflict", Status: http.StatusConflict, Message: "the idempotency key was used for another action or details"}
	// ErrRateLimited: too many requests from this IP or for this user.
	ErrRateLimited = &Error{Code: "rate_limited", Status: http.StatusTooManyRequests, Message: "too many requests"}
	// ErrUnavailable: the store failed. Nothing was changed that could be
	// half-done; gated routes fail closed.
	ErrUnavailable = &Error{Code: "unavailable", Status: http.StatusServiceUnavailable, Message: "the service is unavailable"}
	// ErrCrossOrigin: a browser sent a cross-origin request to a web
	// endpoint (http.CrossOriginProtection).
	ErrCrossOrigin = &Error{Code: "cross_origin", Status: http.StatusForbidden, Message: "cross-origin requests are refused"}
	// ErrMethodNotAllowed: the endpoint exists but not for this method.
	ErrMethodNotAllowed = &Error{Code: "method_not_allowed", Status: http.StatusMethodNotAllowed, Message: "method not allowed"}
)

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
