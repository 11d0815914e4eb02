package authsignal_test

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/deviceauth/deviceauth/internal/seam"
)

// addVirtualAuthenticator gives b's tab a CDP virtual platform
// authenticator that holds passkeys and verifies the user without asking,
// and returns it.
func (b *browserEnv) addVirtualAuthenticator() webauthn.AuthenticatorID {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: "ctap2", Ctap2version: "ctap2_1", Transport: "internal",
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		b.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// TestBrowserSDK_Passkey: @authsignal/browser 1.16.0 in Chromium, with a
// virtual authenticator, signs up a first passkey with a track's token
// (no token comes back: an enrolment verifies nothing), then signs in with
// it by action (passkey.signIn({action}), discoverable) and by a later
// track's token (passkey.signIn({token})); the backend validates each
// token once, as PASSKEY and not weak; isAvailableOnDevice finds the
// passkey the SDK remembered, and not an ID the server does not know.
func TestBrowserSDK_Passkey(t *testing.T) {
	b := newBrowserEnv(t, withPasskeys(t))
	auth := b.addVirtualAuthenticator()

	up := b.js(`as.passkey.signUp({token: ` + jsString(b.track("alice", "signUp", nil).str("token")) + `, username: "alice"})`)
	ua, _ := data(up)["userAuthenticator"].(map[string]any)
	if up["error"] != nil || data(up)["token"] != nil || ua["verificationMethod"] != "PASSKEY" || ua["userId"] != "alice" {
		t.Fatalf("passkey.signUp = %v", up)
	}
	res, err := chromedp.Call(b.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth})
	if err != nil || len(res.Credentials) != 1 {
		t.Fatalf("the authenticator holds %v (%v), want one passkey", res, err)
	}
	credID := ua["userAuthenticatorId"].(string)
	if seam.CredentialID(res.Credentials[0].CredentialID) != credID {
		t.Fatalf("the authenticator's passkey is not %s", credID)
	}

	for _, call := range []struct{ action, js string }{
		{"signIn", `as.passkey.signIn({action: "signIn"})`},
		{"transfer", `as.passkey.signIn({token: ` + jsString(b.track("alice", "transfer", nil).str("token")) + `})`},
	} {
		in := b.js(call.js)
		d := data(in)
		tok, _ := d["token"].(string)
		if in["error"] != nil || d["isVerified"] != true || d["userId"] != "alice" || d["userAuthenticatorId"] != credID || !strings.HasPrefix(tok, "dat_") {
			t.Fatalf("%s = %v", call.js, in)
		}
		validateOnce(t, b.env, tok, "alice", call.action)
	}

	available := func(js string) bool {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js+`; as.passkey.isAvailableOnDevice({userId: "alice"})`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !available(`0`) {
		t.Fatal("isAvailableOnDevice = false for the passkey just used")
	}
	// The SDK remembers credential IDs per user in localStorage; one the
	// server does not know is not available.
	if available(`localStorage.setItem("as_user_passkey_map", JSON.stringify({alice: ["AAAA"]}))`) {
		t.Fatal("isAvailableOnDevice = true for an unknown passkey")
	}
}
