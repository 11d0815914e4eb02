package authsignal

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/protocol"
)

// The SDKs' conventions on the wire: Basic headers in three encodings,
// errors as {error, errorCode, errorDescription}, success as 200 only
// (docs/compat-authsignal.md#wire).

// apiError is an answer in the SDKs' error shape.
type apiError struct {
	status      int
	code        string
	description string
}

// Error implements error: the code and its description.
func (e apiError) Error() string { return e.code + ": " + e.description }

// describe returns e with another description.
func (e apiError) describe(d string) apiError { e.description = d; return e }

// Errors of the adapter itself (the Service's own errors keep their codes).
var (
	errUnauthorized = apiError{http.StatusUnauthorized, "unauthorized", "the credentials are not valid"}
	errExpiredToken = apiError{http.StatusUnauthorized, "expired_token", "the token has expired"}
	errNotFound     = apiError{http.StatusNotFound, "not_found", "not found"}
	errInvalid      = apiError{http.StatusBadRequest, "invalid_request", "the request is malformed"}
)

// writeError answers err in the SDKs' shape: the browser SDK reads an
// error from a top-level "error" member, the Node SDK from "error", the Go
// SDK and the mobile SDKs from "errorCode" (falling back to "error"). A
// cause that is no error of this package or the Service is 503: the cause
// is never sent.
func writeError(w http.ResponseWriter, err error) {
	e := apiErrorOf(err)
	writeJSON(w, e.status, map[string]string{"error": e.code, "errorCode": e.code, "errorDescription": e.description})
}

// apiErrorOf is err as the SDKs see it: the adapter's own errors and the
// Service's keep their codes; anything else is 503 unavailable, its cause
// never sent.
func apiErrorOf(err error) apiError {
	if ae, ok := errors.AsType[apiError](err); ok {
		return ae
	}
	if de, ok := errors.AsType[*deviceauth.Error](err); ok {
		return apiError{de.Status, de.Code, de.Message}
	}
	return apiError{http.StatusServiceUnavailable, "unavailable", "the service is unavailable"}
}

// writeJSON writes v with status; every answer is no-store.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeOK writes v with 200, the only success status the mobile SDKs
// accept.
func writeOK(w http.ResponseWriter, v any) { writeJSON(w, http.StatusOK, v) }

// readJSON reads r's body, capped, and decodes it strictly into v (whose
// struct lists the members the SDKs send that the adapter ignores, so
// that those are tolerated and nothing else is). An empty body is {}
// when empty is true.
func (h *Handler) readJSON(w http.ResponseWriter, r *http.Request, v any, empty bool) error {
	body, err := readBody(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	if len(body) == 0 && empty {
		return nil
	}
	if err := protocol.UnmarshalStrict(body, v); err != nil {
		return errInvalid.describe(err.Error())
	}
	return nil
}

// readBody reads r's body, capped at max bytes.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, apiError{http.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large"}
	}
	if err != nil {
		return nil, errInvalid.describe("the body could not be read")
	}
	return b, nil
}

// basicUser returns the user part of r's Basic header in any of the SDKs'
// encodings: the browser's base64 of the URI-encoded tenant ID alone, iOS's
// unpadded base64url of "<id>:", Android's and the servers' padded base64
// of "<id>:" (a password, when there is one, must be empty).
func basicUser(r *http.Request) (string, bool) {
	enc, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Basic ")
	if !ok || len(enc) > 1024 {
		return "", false
	}
	raw, err := decodeBase64Any(enc)
	if err != nil {
		return "", false
	}
	s := string(raw)
	switch {
	case strings.HasSuffix(s, ":"):
		s = s[:len(s)-1]
	case strings.Contains(s, ":"):
		return "", false // a password: none of the SDKs sends one
	default:
		if s, err = url.PathUnescape(s); err != nil {
			return "", false
		}
	}
	return s, s != ""
}

// decodeBase64Any decodes s as base64 or base64url, padded or not.
func decodeBase64Any(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// bearer returns r's Bearer token.
func bearer(r *http.Request) (string, bool) {
	t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return t, ok && t != ""
}

// tenant reports whether r carries the tenant's Basic header.
func (h *Handler) tenant(r *http.Request) bool {
	id, ok := basicUser(r)
	return ok && h.tenantID(id)
}

// tenantID reports whether id is the tenant's ID.
func (h *Handler) tenantID(id string) bool {
	return subtle.ConstantTimeCompare([]byte(id), []byte(h.cfg.TenantID)) == 1
}

// secret reports whether r carries one of the server API's secret keys.
func (h *Handler) secret(r *http.Request) bool {
	key, ok := basicUser(r)
	found := 0
	for _, k := range h.cfg.SecretKeys {
		found |= subtle.ConstantTimeCompare([]byte(key), []byte(k))
	}
	return ok && found == 1
}

// server wraps a server API endpoint: the secret key first.
func (h *Handler) server(f func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.secret(r) {
			writeError(w, errUnauthorized)
			return
		}
		if err := f(w, r); err != nil {
			writeError(w, err)
		}
	}
}
