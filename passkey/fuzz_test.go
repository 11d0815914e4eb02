package passkey_test

import (
	"context"
	"testing"

	"github.com/deviceauth/deviceauth/store"
)

// FuzzVerifyAssertion feeds arbitrary bodies to the step-up verifier: it
// must never panic, and what it accepts is an assertion by the user's
// passkey.
func FuzzVerifyAssertion(f *testing.F) {
	e := newEnv(f)
	ctx := context.Background()
	cred, _ := e.browser().signInAs("alice").register(e.auth, "")
	creds, err := e.store.ListCredentials(ctx, "alice")
	if err != nil {
		f.Fatal(err)
	}
	challenge := make([]byte, 32)
	opts, err := e.pk.AssertionOptions(ctx, challenge, creds)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(e.auth.Get(f, cred, opts))
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","clientExtensionResults":{},"response":{"clientDataJSON":"","authenticatorData":"","signature":""}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := e.pk.VerifyAssertion(ctx, challenge, []store.Credential(creds), body)
		if err == nil && a.CredentialID != creds[0].ID {
			t.Fatalf("VerifyAssertion accepted %+v, not by the user's passkey", a)
		}
	})
}
