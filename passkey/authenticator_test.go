package passkey_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// softAuthenticator is a software WebAuthn authenticator: P-256 keys,
// attestation "none", discoverable credentials. It builds the JSON a
// browser's PublicKeyCredential.toJSON() gives, so tests can craft what a
// real browser never would (another origin, another RP ID, a counter that
// goes backwards).
type softAuthenticator struct {
	origin string // what clientDataJSON says
	// backup sets the backup eligible and backup state flags (a synced
	// passkey); such credentials report a counter of 0.
	backup bool
}

// softCredential is one credential of a softAuthenticator.
type softCredential struct {
	id         []byte
	key        *ecdsa.PrivateKey
	rpID       string
	userHandle []byte
	count      uint32 // the last counter reported
	backup     bool
}

// Authenticator data flags.
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64url %q: %v", s, err)
	}
	return b
}

// creationOptions is what the authenticator reads of {"publicKey": …}.
type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

// requestOptions is what the authenticator reads of {"publicKey": …}.
type requestOptions struct {
	PublicKey struct {
		Challenge        string `json:"challenge"`
		RPID             string `json:"rpId"`
		AllowCredentials []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

// create answers creation options with a new credential: the
// RegistrationResponseJSON and the credential.
func (a *softAuthenticator) create(t testing.TB, options []byte) ([]byte, *softCredential) {
	t.Helper()
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatalf("creation options %s: %v", options, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &softCredential{id: make([]byte, 16), key: key, rpID: o.PublicKey.RP.ID, userHandle: unb64(t, o.PublicKey.User.ID), backup: a.backup}
	rand.Read(c.id)
	clientData := a.clientData(t, "webauthn.create", o.PublicKey.Challenge)

	pub, err := key.PublicKey.Bytes() // 0x04 ‖ x ‖ y
	if err != nil {
		t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:65]})
	if err != nil {
		t.Fatal(err)
	}
	authData := c.authData(c.rpID, flagAT, 0)
	authData = append(authData, make([]byte, 16)...) // AAGUID: none
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(c.id)))
	authData = append(authData, c.id...)
	authData = append(authData, cose...)
	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, map[string]any{
		"id": b64(c.id), "rawId": b64(c.id), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{"credProps": map[string]any{"rk": true}},
		"response": map[string]any{
			"clientDataJSON": b64(clientData), "authenticatorData": b64(authData), "transports": []string{"internal"},
			"publicKey": b64(spki), "publicKeyAlgorithm": -7, "attestationObject": b64(attObj),
		},
	}), c
}

// signing is what an assertion is made of; tests change it to make bad
// ones.
type signing struct {
	Origin    string
	RPID      string
	Challenge string // base64url, from the options
	Count     uint32
}

// get answers request options with an assertion by c: the
// AuthenticationResponseJSON. Its counter moves one forward (stays 0 for a
// backed-up credential) unless change sets it.
func (a *softAuthenticator) get(t testing.TB, c *softCredential, options []byte, change ...func(*signing)) []byte {
	t.Helper()
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatalf("request options %s: %v", options, err)
	}
	s := signing{Origin: a.origin, RPID: c.rpID, Challenge: o.PublicKey.Challenge, Count: c.count + 1}
	if c.backup {
		s.Count = 0
	}
	for _, f := range change {
		f(&s)
	}
	c.count = s.Count
	clientData := (&softAuthenticator{origin: s.Origin}).clientData(t, "webauthn.get", s.Challenge)
	authData := c.authData(s.RPID, 0, s.Count)
	h := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, map[string]any{
		"id": b64(c.id), "rawId": b64(c.id), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": b64(clientData), "authenticatorData": b64(authData),
			"signature": b64(sig), "userHandle": b64(c.userHandle),
		},
	})
}

func (a *softAuthenticator) clientData(t testing.TB, typ, challenge string) []byte {
	return mustJSON(t, map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
}

// authData is rpIdHash ‖ flags ‖ signCount, with user presence and
// verification (and the backup flags of a synced credential) set.
func (c *softCredential) authData(rpID string, flags byte, count uint32) []byte {
	h := sha256.Sum256([]byte(rpID))
	flags |= flagUP | flagUV
	if c.backup {
		flags |= flagBE | flagBS
	}
	out := append(h[:], flags)
	return binary.BigEndian.AppendUint32(out, count)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
