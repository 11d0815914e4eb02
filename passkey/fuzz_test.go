package passkey_test

import (
	"context"
	"errors"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/store"
)

// FuzzVerifyAssertion feeds arbitrary bodies to the step-up verifier: it
// must refuse them with ErrInvalidRequest (malformed) or
// ErrPasskeyAssertion (does not verify), never panic.
func FuzzVerifyAssertion(f *testing.F) {
	e := newEnv(f)
	ctx := context.Background()
	c := e.pk.Ceremonies(e.svc)
	o, err := c.BeginRegistration(ctx, "alice", "", "")
	if err != nil {
		f.Fatal(err)
	}
	resp, cred := e.auth.create(f, o.JSON)
	if _, err := c.FinishRegistration(ctx, o.CeremonyID, "alice", resp, ""); err != nil {
		f.Fatal(err)
	}
	creds, err := e.svc.Passkeys(ctx, "alice")
	if err != nil {
		f.Fatal(err)
	}
	challenge := make([]byte, 32)
	opts, err := e.pk.AssertionOptions(ctx, challenge, creds)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(e.auth.get(f, cred, opts))
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","clientExtensionResults":{},"response":{"clientDataJSON":"","authenticatorData":"","signature":""}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := e.pk.VerifyAssertion(ctx, nil, challenge, []store.Credential(creds), body)
		if err != nil && !errors.Is(err, deviceauth.ErrPasskeyAssertion) && !errors.Is(err, deviceauth.ErrInvalidRequest) {
			t.Fatalf("VerifyAssertion: %v, want ErrInvalidRequest or ErrPasskeyAssertion", err)
		}
	})
}
