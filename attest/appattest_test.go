package attest

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// appleCase is one App Attest vector in a common shape.
type appleCase struct {
	vector         string
	appID          string
	at, leafExpiry time.Time
	object, keyID  []byte
	clientData     []byte
	clientDataHash []byte // as the vector states it
	publicKey      []byte // uncompressed point
	assertion      []byte
	assertionData  []byte // clientData of the assertion
	assertionCount uint32
}

// appleCases reads every Apple vector of the index.
func appleCases(t testing.TB) []appleCase {
	t.Helper()
	var out []appleCase
	for _, v := range loadIndex(t).Apple {
		c := appleCase{vector: v.Vector, appID: v.AppID, at: v.VerifyAt, leafExpiry: v.LeafNotAfter}
		if filepath.Ext(v.Vector) == ".yaml" {
			docs := yamlDocs(t, v.Vector)
			att, as := docs[0], docs[1]
			if att["type"] != "attestation" || as["type"] != "assertion" {
				t.Fatalf("%s: documents %s, %s", v.Vector, att["type"], as["type"])
			}
			c.object, c.keyID = std64(t, att["attestationBase64"]), std64(t, att["keyIdBase64"])
			c.clientData, c.clientDataHash = std64(t, att["clientDataBase64"]), std64(t, att["clientDataHashSha256Base64"])
			blk, _ := pem.Decode([]byte(att["publicKey"]))
			pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			c.publicKey, _ = pub.(interface{ Bytes() ([]byte, error) }).Bytes()
			c.assertion, c.assertionData = std64(t, as["assertionBase64"]), std64(t, as["clientDataBase64"])
			n, _ := strconv.Atoi(as["counter"])
			c.assertionCount = uint32(n)
		} else {
			var j struct {
				AttestationObjectB64, KeyIDB64, ClientDataB64, ClientDataHashB64 string
				Expected                                                         struct{ PublicKeyUncompressedHex string }
				Assertion                                                        struct {
					AssertionB64, ClientDataB64 string
					Expected                    struct{ Counter uint32 }
				}
			}
			b, err := os.ReadFile(filepath.Join(vectorDir, v.Vector))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &j); err != nil {
				t.Fatal(err)
			}
			c.object, c.keyID = std64(t, j.AttestationObjectB64), std64(t, j.KeyIDB64)
			c.clientData, c.clientDataHash = std64(t, j.ClientDataB64), std64(t, j.ClientDataHashB64)
			c.publicKey = unhex(j.Expected.PublicKeyUncompressedHex)
			c.assertion, c.assertionData = std64(t, j.Assertion.AssertionB64), std64(t, j.Assertion.ClientDataB64)
			c.assertionCount = j.Assertion.Expected.Counter
		}
		out = append(out, c)
	}
	return out
}

func std64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64 %q…: %v", s[:min(len(s), 20)], err)
	}
	return b
}

func sum(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

// TestVerifyAppAttest_Vectors verifies every App Attest attestation and assertion of the index
// at its instant, in the development environment it was made in.
func TestVerifyAppAttest_Vectors(t *testing.T) {
	for _, c := range appleCases(t) {
		t.Run(c.vector, func(t *testing.T) {
			if !bytes.Equal(sum(c.clientData), c.clientDataHash) {
				t.Fatal("the vector's clientDataHash is not SHA-256 of its clientData")
			}
			cfg := AppAttestConfig{AppIDs: []string{"OTHERTEAM.com.example", c.appID}, Development: true}
			res, err := VerifyAppAttest(c.object, c.keyID, sum(c.clientData), cfg, c.at)
			if err != nil {
				t.Fatal(err)
			}
			want := Result{Kind: KindAppleAppAttest, SecurityLevel: SecuritySecureEnclave, HardwareBacked: true,
				UserAuth: UserAuthUnknown, AppIDs: []string{c.appID}, VerifiedBoot: BootUnknown, Apple: res.Apple}
			if !equalResult(res, want) {
				t.Errorf("result\n got %+v\nwant %+v", res, want)
			}
			a := res.Apple
			if !bytes.Equal(a.KeyID, c.keyID) || !bytes.Equal(a.PublicKey, c.publicKey) || a.AppID != c.appID ||
				a.Environment != "development" || a.Counter != 0 || len(a.Receipt) == 0 {
				t.Errorf("App Attest record = %+v", a)
			}
			n, err := VerifyAssertion(c.assertion, sum(c.assertionData), *a)
			if err != nil || n != c.assertionCount {
				t.Fatalf("assertion: counter %d, %v; want %d", n, err, c.assertionCount)
			}
			a.Counter = n
			if _, err := VerifyAssertion(c.assertion, sum(c.assertionData), *a); !errors.Is(err, ErrCounter) {
				t.Errorf("replayed assertion: err = %v, want ErrCounter", err)
			}
		})
	}
}

// basD is the bas-d/appattest vector (attestation and assertion, counter 3), verified: the
// starting point of the refusal tests.
func basD(t testing.TB) (appleCase, AppAttestConfig, Result) {
	t.Helper()
	c := appleCases(t)[7]
	if c.vector != "apple/bas-d-appattest/vectors.json" {
		t.Fatalf("case 7 is %s", c.vector)
	}
	cfg := AppAttestConfig{AppIDs: []string{c.appID}, Development: true}
	res, err := VerifyAppAttest(c.object, c.keyID, sum(c.clientData), cfg, c.at)
	if err != nil {
		t.Fatal(err)
	}
	return c, cfg, res
}

func TestVerifyAppAttest_Refuses(t *testing.T) {
	c, cfg, _ := basD(t)
	hash := sum(c.clientData)

	var obj map[string]any
	if err := cbor.Unmarshal(c.object, &obj); err != nil {
		t.Fatal(err)
	}
	reencode := func(edit func(stmt map[any]any)) []byte {
		var o map[string]any
		_ = cbor.Unmarshal(c.object, &o)
		edit(o["attStmt"].(map[any]any))
		b, err := cbor.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tamper := func(i int) []byte {
		return reencode(func(s map[any]any) {
			x5c := s["x5c"].([]any)
			der := slices.Clone(x5c[i].([]byte))
			der[len(der)-1] ^= 1 // last byte of the signature
			x5c[i] = der
		})
	}
	leafOnly := reencode(func(s map[any]any) { s["x5c"] = s["x5c"].([]any)[:1] })
	wrongFmt := bytes.Replace(c.object, []byte("apple-appattest"), []byte("apple-appattesx"), 1)

	tests := []struct {
		name   string
		object []byte
		keyID  []byte
		hash   []byte
		cfg    AppAttestConfig
		at     time.Time
		want   error
	}{
		{"after the leaf expired", c.object, c.keyID, hash, cfg, c.leafExpiry.Add(time.Second), ErrValidity},
		{"no time given", c.object, c.keyID, hash, cfg, time.Time{}, ErrValidity},
		{"production server", c.object, c.keyID, hash, AppAttestConfig{AppIDs: cfg.AppIDs}, c.at, ErrEnvironment},
		{"another app", c.object, c.keyID, hash, AppAttestConfig{AppIDs: []string{"35MFYY2JY5.co.chiff.other"}, Development: true}, c.at, ErrApp},
		{"no app configured", c.object, c.keyID, hash, AppAttestConfig{Development: true}, c.at, ErrApp},
		{"another registration's clientDataHash", c.object, c.keyID, sum([]byte("other")), cfg, c.at, ErrChallenge},
		{"clientDataHash of the wrong size", c.object, c.keyID, hash[:31], cfg, c.at, ErrChallenge},
		{"another keyId", c.object, sum([]byte("key")), hash, cfg, c.at, ErrKeyMismatch},
		{"tampered leaf", tamper(0), c.keyID, hash, cfg, c.at, ErrSignature},
		{"tampered intermediate", tamper(1), c.keyID, hash, cfg, c.at, ErrUntrustedRoot},
		{"leaf without its intermediate", leafOnly, c.keyID, hash, cfg, c.at, ErrUntrustedRoot},
		{"not apple-appattest", wrongFmt, c.keyID, hash, cfg, c.at, ErrMalformed},
		{"not CBOR", []byte{0xff}, c.keyID, hash, cfg, c.at, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := VerifyAppAttest(tt.object, tt.keyID, tt.hash, tt.cfg, tt.at)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if res.Kind != "" || res.Apple != nil {
				t.Errorf("a refusal returned a result: %+v", res)
			}
		})
	}
}

func TestVerifyAssertion_Refuses(t *testing.T) {
	c, _, res := basD(t)
	att := *res.Apple
	other := att
	other.AppID = "35MFYY2JY5.co.chiff.other"
	otherKey := att
	otherKey.PublicKey = appleCases(t)[8].publicKey
	var a map[string][]byte
	_ = cbor.Unmarshal(c.assertion, &a)
	a["authenticatorData"] = slices.Clone(a["authenticatorData"])
	a["authenticatorData"][36]++ // counter + 1
	bumped, _ := cbor.Marshal(a)

	tests := []struct {
		name      string
		assertion []byte
		hash      []byte
		att       AppAttestation
		want      error
	}{
		{"another clientData", c.assertion, sum([]byte("other")), att, ErrSignature},
		{"counter edited", bumped, sum(c.assertionData), att, ErrSignature},
		{"another key", c.assertion, sum(c.assertionData), otherKey, ErrSignature},
		{"another app", c.assertion, sum(c.assertionData), other, ErrApp},
		{"not CBOR", []byte{0xff}, sum(c.assertionData), att, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, err := VerifyAssertion(tt.assertion, tt.hash, tt.att); !errors.Is(err, tt.want) || n != 0 {
				t.Fatalf("counter %d, err = %v, want %v", n, err, tt.want)
			}
		})
	}
}

// TestResult_JSONRoundTrip: a Result is stored as JSON with the credential and must come back
// identical, for both kinds and for NotAttested.
func TestResult_JSONRoundTrip(t *testing.T) {
	_, _, apple := basD(t)
	chain := loadChain(t, webauthnGo)
	android, err := VerifyAndroidKey(chain, unhex("5652e2dc45549a96f96afa225502f87fadc08a60bc021392c0be8c5062fd5f5e"), leafKey(t, chain), AndroidConfig{}, time.Date(2025, 1, 20, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Result{apple, android, NotAttested} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Result
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Errorf("%s: JSON round trip changed the result:\n got %+v\nwant %+v", r.Kind, back, r)
		}
	}
}
