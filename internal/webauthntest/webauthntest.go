// Package webauthntest is a software WebAuthn authenticator for this
// module's tests: P-256 keys, attestation "none", discoverable
// credentials. It builds the JSON a browser's PublicKeyCredential.toJSON()
// gives, so tests can drive the passkey ceremonies without a browser and
// craft what a real browser never would (another origin, another RP ID, a
// counter that goes backwards).
package webauthntest

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

// Authenticator is a software authenticator.
type Authenticator struct {
	Origin string // what clientDataJSON says
	// Backup sets the backup eligible and backup state flags (a synced
	// passkey); such credentials report a counter of 0.
	Backup bool
}

// Credential is one credential of an Authenticator.
type Credential struct {
	ID         []byte
	Key        *ecdsa.PrivateKey
	RPID       string
	UserHandle []byte
	Count      uint32 // the last counter reported
	Backup     bool
}

// Authenticator data flags.
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// B64 is base64url without padding, WebAuthn's JSON encoding of bytes.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Unb64 decodes B64's encoding, failing t on error.
func Unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64url %q: %v", s, err)
	}
	return b
}

// CreationOptions is what the authenticator reads of creation options.
type CreationOptions struct {
	Challenge string `json:"challenge"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
}

// RequestOptions is what the authenticator reads of request options.
type RequestOptions struct {
	Challenge        string `json:"challenge"`
	RPID             string `json:"rpId"`
	AllowCredentials []struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"allowCredentials"`
}

// ReadOptions decodes options into v: go-webauthn's {"publicKey": …} or
// the bare options JSON the browser's PublicKeyCredential parse methods
// take.
func ReadOptions(t testing.TB, options []byte, v any) {
	t.Helper()
	var wrapped struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &wrapped); err != nil {
		t.Fatalf("options %s: %v", options, err)
	}
	if len(wrapped.PublicKey) > 0 {
		options = wrapped.PublicKey
	}
	if err := json.Unmarshal(options, v); err != nil {
		t.Fatalf("options %s: %v", options, err)
	}
}

// Create answers creation options with a new credential: the
// RegistrationResponseJSON and the credential.
func (a *Authenticator) Create(t testing.TB, options []byte) ([]byte, *Credential) {
	t.Helper()
	var o CreationOptions
	ReadOptions(t, options, &o)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &Credential{ID: make([]byte, 16), Key: key, RPID: o.RP.ID, UserHandle: Unb64(t, o.User.ID), Backup: a.Backup}
	rand.Read(c.ID)
	clientData := a.clientData(t, "webauthn.create", o.Challenge)

	pub, err := key.PublicKey.Bytes() // 0x04 ‖ x ‖ y
	if err != nil {
		t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:65]})
	if err != nil {
		t.Fatal(err)
	}
	authData := c.authData(c.RPID, flagAT, 0)
	authData = append(authData, make([]byte, 16)...) // AAGUID: none
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(c.ID)))
	authData = append(authData, c.ID...)
	authData = append(authData, cose...)
	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return MustJSON(t, map[string]any{
		"id": B64(c.ID), "rawId": B64(c.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{"credProps": map[string]any{"rk": true}},
		"response": map[string]any{
			"clientDataJSON": B64(clientData), "authenticatorData": B64(authData), "transports": []string{"internal"},
			"publicKey": B64(spki), "publicKeyAlgorithm": -7, "attestationObject": B64(attObj),
		},
	}), c
}

// Signing is what an assertion is made of; tests change it to make bad
// ones.
type Signing struct {
	Origin    string
	RPID      string
	Challenge string // base64url, from the options
	Count     uint32
}

// Get answers request options with an assertion by c: the
// AuthenticationResponseJSON. Its counter moves one forward (stays 0 for a
// backed-up credential) unless change sets it.
func (a *Authenticator) Get(t testing.TB, c *Credential, options []byte, change ...func(*Signing)) []byte {
	t.Helper()
	var o RequestOptions
	ReadOptions(t, options, &o)
	s := Signing{Origin: a.Origin, RPID: c.RPID, Challenge: o.Challenge, Count: c.Count + 1}
	if c.Backup {
		s.Count = 0
	}
	for _, f := range change {
		f(&s)
	}
	c.Count = s.Count
	clientData := (&Authenticator{Origin: s.Origin}).clientData(t, "webauthn.get", s.Challenge)
	authData := c.authData(s.RPID, 0, s.Count)
	h := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.Key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return MustJSON(t, map[string]any{
		"id": B64(c.ID), "rawId": B64(c.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": B64(clientData), "authenticatorData": B64(authData),
			"signature": B64(sig), "userHandle": B64(c.UserHandle),
		},
	})
}

func (a *Authenticator) clientData(t testing.TB, typ, challenge string) []byte {
	return MustJSON(t, map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
}

// authData is rpIdHash ‖ flags ‖ signCount, with user presence and
// verification (and the backup flags of a synced credential) set.
func (c *Credential) authData(rpID string, flags byte, count uint32) []byte {
	h := sha256.Sum256([]byte(rpID))
	flags |= flagUP | flagUV
	if c.Backup {
		flags |= flagBE | flagBS
	}
	out := append(h[:], flags)
	return binary.BigEndian.AppendUint32(out, count)
}

// MustJSON is v's JSON, failing t on error.
func MustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
