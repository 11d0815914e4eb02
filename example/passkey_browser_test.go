package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/deviceauth/deviceauth/internal/seam"
)

// The passkey browser test drives the example in headless Chromium with a
// CDP WebAuthn virtual authenticator (CTAP2, internal transport, resident
// keys, user verification) at http://localhost:PORT, RP ID localhost. It
// uses the browser helpers of browser_test.go (startBrowserApp,
// startChromium, tab, waitFor, …), which bound every step and save
// screenshots to $DEVICEAUTH_ARTIFACTS on failure.

// addVirtualAuthenticator enables the WebAuthn domain in tb's tab and adds
// a platform authenticator that holds passkeys and verifies the user
// without asking.
func addVirtualAuthenticator(tb *tab) webauthn.AuthenticatorID {
	tb.b.t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		tb.b.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: "ctap2", Ctap2version: "ctap2_1", Transport: "internal",
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		tb.b.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

func removeVirtualAuthenticator(tb *tab, id webauthn.AuthenticatorID) {
	tb.b.t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id}); err != nil {
		tb.b.t.Fatalf("WebAuthn.removeVirtualAuthenticator: %v", err)
	}
}

// virtualCredentials lists the credentials an authenticator holds.
func virtualCredentials(tb *tab, id webauthn.AuthenticatorID) []*webauthn.Credential {
	tb.b.t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		tb.b.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// navigationStatus is the HTTP status of the page's document.
func navigationStatus(tb *tab) int {
	tb.b.t.Helper()
	return eval[int](tb, `performance.getEntriesByType("navigation")[0].responseStatus`)
}

const signInPage = `location.pathname === "/" && (document.querySelector("h1") || {}).textContent === "Sign in"`

// TestBrowser_Passkey: in real Chromium, Ada adds a passkey on the devices
// page, signs out, signs in with it (discoverable), and approves a
// transfer with it on the challenge page (PASSKEY step-up; the transfer
// then goes through with 200). After her authenticator is gone, a second
// one cannot sign in with the first one's passkey.
func TestBrowser_Passkey(t *testing.T) {
	a := startBrowserApp(t)
	b := startChromium(t)
	ctx, cancel := context.WithDeadline(context.Background(), b.deadline)
	defer cancel()

	page := b.tab("passkey", chromedp.WithNewBrowserContext())
	first := addVirtualAuthenticator(page)
	signInAsAda(page, a.base)

	// Add a passkey: Ada has no credential yet, so no step-up.
	page.navigate(a.base + "/devices")
	waitFor[bool](page, "the passkey section", `!document.getElementById("passkey-add").hidden`, stepTimeout)
	page.setValue("#passkey-name", "Laptop")
	page.click("#passkey-add-button")
	waitFor[bool](page, "the passkey in the list", `location.pathname === "/devices" && (document.querySelector('#passkeys input[name="name"]') || {}).value === "Laptop"`, stepTimeout)
	if msg := page.text("#passkey-add-error"); msg != "" {
		t.Fatalf("adding a passkey: %s", msg)
	}
	// A passkey is not a device: the device list is still empty.
	if eval[bool](page, `document.getElementById("devices") !== null`) || !strings.Contains(page.text("main"), "No device yet.") {
		t.Fatalf("the passkey is listed as a device:\n%s", page.text("main"))
	}
	passkeys, err := a.app.svc.Credentials(ctx, "ada")
	if err != nil || len(passkeys) != 1 || passkeys[0].Name != "Laptop" || passkeys[0].Kind != "passkey" {
		t.Fatalf("Ada's passkeys: %+v, %v", passkeys, err)
	}
	pkID := passkeys[0].ID
	held := virtualCredentials(page, first)
	if len(held) != 1 || !held[0].IsResidentCredential || held[0].RpID != "localhost" || len(held[0].UserHandle) != 32 ||
		strings.Contains(string(held[0].UserHandle), "ada") || held[0].UserName != "ada" {
		t.Fatalf("the authenticator holds %+v: want one resident credential for localhost, an opaque 32-byte user handle, user name ada", held)
	}
	if seam.CredentialID(held[0].CredentialID) != pkID {
		t.Fatalf("the authenticator's credential is not %s", pkID)
	}

	// Sign out, then sign in with the passkey: no username typed.
	page.click(`form[action="/signout"] button`)
	waitFor[bool](page, "the sign-in page", signInPage+` && !document.getElementById("passkey-signin").hidden`, stepTimeout)
	page.click("#passkey-signin-button")
	waitFor[bool](page, "signed in with the passkey", signedInAsAda, stepTimeout)

	// A transfer: the challenge page offers the passkey; approving with it
	// posts the form again with the token, and the transfer goes through.
	page.navigate(a.base + "/transfer")
	page.setValue(`input[name="amount"]`, "25.00")
	page.setValue(`input[name="payee"]`, "Bob")
	page.click(`form[action="/transfer"] button`)
	waitFor[bool](page, "the passkey step-up button", `!document.getElementById("passkey-stepup").hidden`, stepTimeout)
	if st := navigationStatus(page); st != 401 {
		t.Fatalf("the challenge page has status %d, want 401", st)
	}
	page.click("#passkey-stepup-button")
	waitFor[bool](page, "Sent", `(document.querySelector("h1") || {}).textContent === "Sent"`, stepTimeout)
	if st := navigationStatus(page); st != 200 {
		t.Fatalf("the transfer answered %d, want 200", st)
	}
	if got := page.text("main"); !strings.Contains(got, "Sent 25.00 EUR to Bob.") || !strings.Contains(got, pkID) {
		t.Fatalf("the sent page says:\n%s\nwant the transfer approved by %s", got, pkID)
	}
	after, err := a.store.GetCredential(ctx, pkID)
	if err != nil || after.SignCount < 2 || after.LastUsedAt.IsZero() {
		t.Fatalf("after a sign-in and a step-up the passkey is %+v, %v: want sign count ≥ 2", after, err)
	}

	// Another authenticator, without Ada's passkey, cannot sign in.
	removeVirtualAuthenticator(page, first)
	second := addVirtualAuthenticator(page)
	page.click(`form[action="/signout"] button`)
	waitFor[bool](page, "the sign-in page", signInPage+` && !document.getElementById("passkey-signin").hidden`, stepTimeout)
	page.click("#passkey-signin-button")
	msg := waitFor[string](page, "the refusal", `document.getElementById("passkey-signin-error").textContent`, stepTimeout)
	if !strings.Contains(msg, "No passkey was used") {
		t.Fatalf("signing in with the second authenticator: %q", msg)
	}
	// And named explicitly (username-first lists Ada's credential ID), it
	// still cannot: the second authenticator does not hold it.
	page.setValue(`input[name="username"]`, "ada")
	eval[bool](page, `(document.getElementById("passkey-signin-error").textContent = "", true)`)
	page.click("#passkey-signin-button")
	msg = waitFor[string](page, "the refusal", `document.getElementById("passkey-signin-error").textContent`, stepTimeout)
	if !strings.Contains(msg, "No passkey was used") || len(virtualCredentials(page, second)) != 0 {
		t.Fatalf("username-first with the second authenticator: %q", msg)
	}
	if page.text("h1") != "Sign in" {
		t.Fatalf("the second authenticator signed in: %s", page.text("main"))
	}
}

// TestBrowser_PasskeyScriptSerializesLikeToJSON: passkey.js's hand-built
// JSON, for browsers without PublicKeyCredential.toJSON(), is what
// Chromium's toJSON() gives, for a registration and for an assertion.
func TestBrowser_PasskeyScriptSerializesLikeToJSON(t *testing.T) {
	a := startBrowserApp(t)
	b := startChromium(t)
	page := b.tab("serialize", chromedp.WithNewBrowserContext())
	addVirtualAuthenticator(page)
	page.navigate(a.base + "/")
	waitFor[bool](page, "passkey.js", `!!(window.DeviceAuth && window.DeviceAuth.passkey)`, stepTimeout)
	const compare = `(async () => {
		const pk = DeviceAuth.passkey;
		// Sorted keys, so that member order does not matter.
		const canon = v => JSON.stringify(v, (k, x) => x && typeof x === "object" && !Array.isArray(x)
			? Object.fromEntries(Object.keys(x).sort().map(key => [key, x[key]])) : x);
		const both = cred => {
			const native = cred.toJSON();
			cred.toJSON = undefined; // an own property: the fallback runs
			return [canon(native), canon(pk.serialize(cred))];
		};
		const random = n => crypto.getRandomValues(new Uint8Array(n));
		const created = await navigator.credentials.create({publicKey: {
			challenge: random(32), rp: {id: "localhost", name: "test"},
			user: {id: random(32), name: "serialize", displayName: "serialize"},
			pubKeyCredParams: [{type: "public-key", alg: -7}],
			authenticatorSelection: {residentKey: "required", userVerification: "required"},
			extensions: {credProps: true}}});
		const asserted = await navigator.credentials.get({publicKey: {challenge: random(32), rpId: "localhost", userVerification: "required"}});
		return [...both(created), ...both(asserted)];
	})()`
	got := eval[[]string](page, compare)
	if len(got) != 4 || got[0] != got[1] || got[2] != got[3] {
		t.Fatalf("toJSON and the fallback differ:\nregistration\n  %s\n  %s\nassertion\n  %s\n  %s", got[0], got[1], got[2], got[3])
	}
	for _, want := range []string{`"attestationObject"`, `"publicKeyAlgorithm":-7`, `"transports"`, `"credProps"`} {
		if !strings.Contains(got[0], want) {
			t.Fatalf("the registration JSON lacks %s: %s", want, got[0])
		}
	}
	if !strings.Contains(got[2], `"userHandle"`) || !strings.Contains(got[2], `"signature"`) {
		t.Fatalf("the assertion JSON lacks userHandle or signature: %s", got[2])
	}
}
