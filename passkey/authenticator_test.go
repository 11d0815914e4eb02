package passkey_test

import (
	"testing"

	"github.com/deviceauth/deviceauth/internal/webauthntest"
)

// The software authenticator of these tests is internal/webauthntest's,
// which package compat/authsignal's tests share.
type (
	softAuthenticator = webauthntest.Authenticator
	softCredential    = webauthntest.Credential
	signing           = webauthntest.Signing
)

// requestOptions is what the tests read of {"publicKey": …} request
// options.
type requestOptions struct {
	PublicKey webauthntest.RequestOptions `json:"publicKey"`
}

func b64(b []byte) string { return webauthntest.B64(b) }

func mustJSON(t testing.TB, v any) []byte { t.Helper(); return webauthntest.MustJSON(t, v) }
