package httpsig

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSign_CanonicalAsGeneral: Sign's canonical writer gives the bytes the
// structured-field library gives (Ed25519 signs deterministically), for
// requests with and without a body, query or escapes.
func TestSign_CanonicalAsGeneral(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	now := time.Unix(1764892800, 0)
	for _, tc := range []struct{ method, url, body string }{
		{"GET", "https://app.example/deviceauth/v1/challenges/ch_1", ""},
		{"GET", "https://App.Example:443/v1/challenges?x=a%20b&y=", ""},
		{"POST", "http://127.0.0.1:8080/deviceauth/v1/credentials/cr_1/push-token", `{"pushToken":"t"}`},
		{"DELETE", "https://app.example/a%2Fb/c", ""},
	} {
		var got, want http.Header
		for i, sign := range []func(*http.Request, []byte, string, *ed25519.PrivateKey, time.Time, string, string) error{
			func(r *http.Request, b []byte, k string, s *ed25519.PrivateKey, n time.Time, nc, a string) error {
				return signCanonical(r, b, k, s, n, nc, a)
			},
			func(r *http.Request, b []byte, k string, s *ed25519.PrivateKey, n time.Time, nc, a string) error {
				return signGeneral(r, b, k, s, n, nc, a)
			},
		} {
			r, err := http.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if err := sign(r, []byte(tc.body), "cr_abc-1", &key, now, "nonce_0123456789abcdef", "ed25519"); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				got = r.Header
			} else {
				want = r.Header
			}
		}
		for _, f := range []string{"Signature-Input", "Signature", "Content-Digest"} {
			if !slices.Equal(got[f], want[f]) {
				t.Errorf("%s %s: %s = %q, the general writer's %q", tc.method, tc.url, f, got[f], want[f])
			}
		}
	}
}

// FuzzCanonicalAgreesWithGeneral: whatever parseCanonical accepts, the
// general parser reads as one signature tagged deviceauth with the same
// label, components (without parameters), parameters, value and
// serialization — so Verify's canonical path can only agree with its
// general one.
func FuzzCanonicalAgreesWithGeneral(f *testing.F) {
	f.Add(`deviceauth=("@method" "@authority" "@path" "@query");created=1700000000;keyid="cr_1";nonce="abcdefghijklmnopq";alg="ed25519";tag="deviceauth"`, `deviceauth=:AAAA:`)
	f.Add(`sig=("@method" "content-digest");tag="deviceauth";expires=-5;created=0`, `sig=::`)
	f.Add(`deviceauth=("@method");created=007;tag="deviceauth"`, `deviceauth=:AA==:`)
	f.Add(`deviceauth=("@method" "@method");tag="deviceauth";tag="deviceauth"`, `deviceauth=:AA==:`)
	f.Add(`deviceauth=();tag="";tag="deviceauth"`, `deviceauth=:AA==:`)
	f.Fuzz(func(t *testing.T, input, signature string) {
		h := http.Header{"Signature-Input": {input}, "Signature": {signature}}
		cs, ok := parseCanonical(h)
		if !ok {
			return
		}
		sigs, err := ParseSignatures(h)
		if err != nil || len(sigs) != 1 {
			t.Fatalf("canonical %q %q; general: %v, %d signatures", input, signature, err, len(sigs))
		}
		g := sigs[0]
		ser, err := g.Input.Serialize()
		if err != nil || ser != cs.params || g.Label != cs.label || !bytes.Equal(g.Value, cs.value) || len(g.Input.Components) != cs.n {
			t.Fatalf("canonical %+v; general %+v (%q, %v)", cs, g, ser, err)
		}
		for i, c := range g.Input.Components {
			if c.Name != cs.components[i] || (c.Params != nil && len(c.Params.Names()) > 0) {
				t.Fatalf("component %d: general %+v, canonical %q", i, c, cs.components[i])
			}
		}
		if tag, _ := g.Input.Tag(); tag != ProfileTag {
			t.Fatalf("general tag %q", tag)
		}
		var pv paramValues
		if c, ok := g.Input.Created(); ok {
			pv.created, pv.hasCreated = c.Unix(), true
		}
		if e, ok := g.Input.Expires(); ok {
			pv.expires, pv.hasExpires = e.Unix(), true
		}
		pv.keyID, pv.hasKeyID = g.Input.KeyID()
		pv.nonce, pv.hasNonce = g.Input.Nonce()
		alg, hasAlg := g.Input.Alg()
		if pv != cs.paramValues || alg != cs.alg || hasAlg != cs.hasAlg {
			t.Fatalf("parameters: general %+v alg %q %v, canonical %+v alg %q %v", pv, alg, hasAlg, cs.paramValues, cs.alg, cs.hasAlg)
		}
	})
}

// FuzzDERToRawAsASN1: derToRaw accepts exactly the DER that encoding/asn1
// reads as two positive integers of at most 256 bits and writes back the
// same (so nothing after them, inside the sequence or out), and gives the
// same r‖s; rawToDER of that is what encoding/asn1 writes.
func FuzzDERToRawAsASN1(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for range 4 {
		der, _ := ecdsa.SignASN1(rand.Reader, key, make([]byte, 32))
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	f.Add([]byte{0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01})
	f.Add([]byte{0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01})
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, der []byte) {
		var v struct{ R, S *big.Int }
		rest, err := asn1.Unmarshal(der, &v)
		want := err == nil && len(rest) == 0 && v.R.Sign() > 0 && v.S.Sign() > 0 && v.R.BitLen() <= 256 && v.S.BitLen() <= 256
		if want {
			back, _ := asn1.Marshal(v)
			want = bytes.Equal(back, der)
		}
		raw, err := derToRaw(der)
		if (err == nil) != want {
			t.Fatalf("derToRaw(%x): %v; encoding/asn1 accepts: %v", der, err, want)
		}
		if !want {
			return
		}
		wantRaw := make([]byte, 64)
		v.R.FillBytes(wantRaw[:32])
		v.S.FillBytes(wantRaw[32:])
		if !bytes.Equal(raw, wantRaw) {
			t.Fatalf("derToRaw(%x) = %x, want %x", der, raw, wantRaw)
		}
		back, _ := asn1.Marshal(v)
		if got := rawToDER(nil, raw); !bytes.Equal(got, back) {
			t.Fatalf("rawToDER(%x) = %x, encoding/asn1 writes %x", raw, got, back)
		}
	})
}
