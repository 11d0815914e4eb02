// Package passkey adds passkeys (WebAuthn, through
// github.com/go-webauthn/webauthn) to a deviceauth Service: a credential
// kind that users sign in with, and a verification method (PASSKEY) that
// answers step-up challenges. Applications that do not import it do not
// compile go-webauthn.
//
// It is the WebAuthn half only. Given as deviceauth.Config.Passkeys, it is
// called by the Service, whose one handler serves the ceremonies, keeps
// their state in its store, sets the cookies and applies the input rules,
// rate limits and step-ups; there is nothing to mount here.
//
//	pk, err := passkey.New(passkey.Config{
//		RPID:        "example.com",
//		Origins:     []string{"https://app.example.com"},
//		DisplayName: "Example",
//		Key:         passkeyKey, // ≥32 random bytes, the same on every instance
//	})
//	svc, err := deviceauth.New(deviceauth.Config{…, Users: users, Passkeys: pk, SignIn: users.SignIn})
//	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))
//	mux.Handle("POST /transfer", svc.Require("transfer",
//		deviceauth.WithMethods(deviceauth.MethodDevice, deviceauth.MethodPasskey))(transfer))
//
// and in the page, <script src="/deviceauth/v1/passkey/passkey.js">, which
// defines DeviceAuth.passkey.register, signIn, signInWithUsername and
// stepUp.
//
// # Flow
//
// Registration: a signed-in user asks for creation options (POST
// /v1/passkey/registration/options). A user who already has a credential
// must first approve an addAuthenticator challenge — with a device key or
// a passkey — and send its token in the Deviceauth-Token header (a stolen
// session alone cannot add one); without one the answer is 401 challenge_required. The browser
// creates the passkey and posts PublicKeyCredential.toJSON() (POST
// /v1/passkey/registration); the attestation is verified and the passkey
// stored as a credential of kind passkey, which the Service lists and
// removes like a device key.
//
// Sign-in: discoverable (usernameless) is the main path: POST
// /v1/passkey/login/options with {}, the browser offers the passkeys it
// has for the RP ID, POST /v1/passkey/login with the assertion. The
// passkey is found by its credential ID ("pk_" and the base64url SHA-256 of
// the raw ID), the assertion's user handle must be the one stored with it,
// and the user is signed in through deviceauth.Config.SignIn, which rotates the
// session. Username-first sign-in ({"username": …}) lists the user's
// passkeys padded with decoys to Config.AllowCredentials; an unknown
// username gets decoys derived from it, through the same calls.
//
// Step-up: Require(action, WithMethods(…, MethodPasskey)) answers 401
// challenge_required; the page calls DeviceAuth.passkey.stepUp(challengeId)
// — the Service's POST /v1/web/challenges/{id}/passkey/options and
// …/passkey — and retries with the token. The WebAuthn challenge is
// SHA-256 of the framed message deviceauth/v1/passkey ‖ 0x00 ‖ challenge
// ID ‖ nonce ‖ action ‖ details digest (each field uint32be length ‖
// bytes), set with webauthn.WithChallenge, so the passkey's signature is
// bound to the action and its details; Validate then reports PASSKEY.
//
// # Storage
//
// Nothing is kept outside the Service's store. Ceremony state (go-webauthn's
// SessionData) is a ceremony record: single use (of racing finishes one
// wins), expiring with the Service's ChallengeTTL and the ceremony timeout,
// bound to the signed-in user for registrations. The browser holds only
// its ID, in an HttpOnly, SameSite=Strict cookie. A passkey's record
// (store.Credential.Passkey) is go-webauthn's credential record as JSON —
// public key, AAGUID, attestation type and format, transports, flags, raw
// attestation — with the user handle; its sign count and backup flags are
// store.Credential.SignCount and Flags (store.FlagBackupEligible,
// store.FlagBackupState).
//
// The user handle is HMAC-SHA256 of the user ID with a key derived from
// Config.Key: stable (an authenticator keeps one passkey per account), 32
// bytes whatever the user ID's length (WebAuthn allows 64), and not the
// user ID, which is often a username or an email address that must not
// sit on authenticators. It is stored with each passkey, so rotating
// Config.Key does not break registered passkeys.
//
// # Security
//
//   - Sign counts only move forward, atomically in the store;
//     a counter that goes backwards refuses the sign-in or step-up with
//     403 passkey_clone and emits event.PasskeyClone.
//     Synced passkeys, which report 0 every time, are not clones.
//   - Origins, RP ID hash, user presence and (by default) user verification
//     are checked by go-webauthn; a backup-eligible flag that changes is
//     refused.
//   - A sign-in failure of any kind — no ceremony, unknown or removed
//     passkey, bad signature — is the same 403 invalid_assertion.
//   - Bodies are capped and strictly decoded; POSTs are behind
//     http.CrossOriginProtection.
package passkey
