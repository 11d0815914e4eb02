package main

import (
	"crypto/hkdf"
	"crypto/sha256"
	"log/slog"
	"net/netip"
	"net/url"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/passkey"
)

// Passkeys in the demo (package passkey, go-webauthn):
//
//   - "Add a passkey" on the devices page (static/passkey-page.js calls
//     DeviceAuth.passkey.register; a user who already has a credential
//     approves an addAuthenticator step-up first, with a passkey or on the
//     phone);
//   - "Sign in with a passkey" on the sign-in page (discoverable; with a
//     username typed, username-first);
//   - "Approve with a passkey" on the transfer's challenge page: the
//     transfer's Require offers PASSKEY, the page calls
//     DeviceAuth.passkey.stepUp and then posts the form again with the
//     token it already has.
//
// The relying party ID is the host of BaseURL. Browsers refuse WebAuthn on
// an IP address, so for a loopback address (the default 127.0.0.1) it is
// localhost, and passkeys work at http://localhost:PORT. On any other
// plain-http host, or an IP address, the demo runs without passkeys.

// newPasskeys returns the demo's Passkeys for base, or nil (with a log
// line) when base cannot have any.
func newPasskeys(base *url.URL, key []byte, log *slog.Logger) (*passkey.Passkeys, error) {
	host, port := base.Hostname(), base.Port()
	origin := base.Scheme + "://" + base.Host
	if ip, err := netip.ParseAddr(host); err == nil {
		if !ip.IsLoopback() {
			log.Warn("example: passkeys are off: WebAuthn needs a domain name, not the IP address " + host)
			return nil, nil
		}
		host, origin = "localhost", "http://localhost"
		if port != "" {
			origin += ":" + port
		}
	}
	if base.Scheme != "https" && host != "localhost" {
		log.Warn("example: passkeys are off: WebAuthn needs https (or http://localhost)")
		return nil, nil
	}
	// The passkey key (user handles, decoys) is derived from the one
	// secret on disk, like the cookie key.
	pkKey, err := hkdf.Key(sha256.New, key, nil, "deviceauth example: passkeys", 32)
	if err != nil {
		return nil, err
	}
	return passkey.New(passkey.Config{
		RPID:        host,
		Origins:     []string{origin},
		DisplayName: "deviceauth example",
		Key:         pkKey,
	})
}

// passkeyVerifier is pk as deviceauth.Config.Passkeys: nil (not a typed
// nil) when the demo has no passkeys.
func passkeyVerifier(pk *passkey.Passkeys) deviceauth.PasskeyVerifier {
	if pk == nil {
		return nil
	}
	return pk
}
