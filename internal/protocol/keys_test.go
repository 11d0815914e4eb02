package protocol

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
)

// testKeys are keys of every kind a test may need, generated once.
type testKeys struct {
	p256     *ecdsa.PrivateKey
	p256SPKI []byte
	p256Raw  []byte // 0x04 ‖ X ‖ Y
	ed       ed25519.PrivateKey
	edSPKI   []byte
	edRaw    []byte
	p384SPKI []byte
	p384Raw  []byte
	rsaSPKI  []byte
}

// sharedTestKeys generates the keys once for the whole test binary (RSA is slow).
var sharedTestKeys = sync.OnceValue(func() testKeys {
	must := func(b []byte, err error) []byte {
		if err != nil {
			panic(err)
		}
		return b
	}
	var k testKeys
	k.p256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k.p256SPKI = must(x509.MarshalPKIXPublicKey(&k.p256.PublicKey))
	k.p256Raw = must(k.p256.PublicKey.Bytes())
	k.ed = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	k.edRaw = k.ed.Public().(ed25519.PublicKey)
	k.edSPKI = must(x509.MarshalPKIXPublicKey(k.ed.Public()))
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	k.p384SPKI = must(x509.MarshalPKIXPublicKey(&p384.PublicKey))
	k.p384Raw = must(p384.PublicKey.Bytes())
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	k.rsaSPKI = must(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey))
	return k
})

func TestParsePublicKey_AcceptsBothEncodingsAndNormalises(t *testing.T) {
	keys := sharedTestKeys()
	tests := []struct {
		name     string
		alg      string
		in       []byte
		wantSPKI []byte
	}{
		{"ES256 SPKI", AlgES256, keys.p256SPKI, keys.p256SPKI},
		{"ES256 uncompressed point", AlgES256, keys.p256Raw, keys.p256SPKI},
		{"EdDSA SPKI", AlgEdDSA, keys.edSPKI, keys.edSPKI},
		{"EdDSA raw", AlgEdDSA, keys.edRaw, keys.edSPKI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Clone(tt.in)
			k, err := ParsePublicKey(tt.alg, in)
			if err != nil {
				t.Fatalf("ParsePublicKey = %v, want a key", err)
			}
			if k.Algorithm != tt.alg || !bytes.Equal(k.SPKI, tt.wantSPKI) {
				t.Fatalf("got (%s, SPKI %x), want (%s, SPKI %x)", k.Algorithm, k.SPKI, tt.alg, tt.wantSPKI)
			}
			for i := range in {
				in[i] ^= 0xff // the key must not alias the caller's buffer
			}
			again, err := ParseSPKI(tt.alg, k.SPKI)
			if err != nil || !sameKey(k, again) {
				t.Fatalf("ParseSPKI(stored SPKI) = (%v, %v), want the same key", again, err)
			}
		})
	}
}

func TestParsePublicKey_CurveBoundToAlgorithm(t *testing.T) {
	keys := sharedTestKeys()
	compressed := append([]byte{2 + keys.p256Raw[64]&1}, keys.p256Raw[1:33]...)
	tests := []struct {
		name string
		alg  string
		in   []byte
		want error
	}{
		{"P-256 SPKI under EdDSA", AlgEdDSA, keys.p256SPKI, ErrInvalidKey},
		{"P-256 point under EdDSA", AlgEdDSA, keys.p256Raw, ErrInvalidKey},
		{"Ed25519 SPKI under ES256", AlgES256, keys.edSPKI, ErrInvalidKey},
		{"Ed25519 raw under ES256", AlgES256, keys.edRaw, ErrInvalidKey},
		{"P-384 SPKI under ES256", AlgES256, keys.p384SPKI, ErrInvalidKey},
		{"P-384 point under ES256", AlgES256, keys.p384Raw, ErrInvalidKey},
		{"P-384 SPKI under EdDSA", AlgEdDSA, keys.p384SPKI, ErrInvalidKey},
		{"RSA SPKI under ES256", AlgES256, keys.rsaSPKI, ErrInvalidKey},
		{"RSA SPKI under EdDSA", AlgEdDSA, keys.rsaSPKI, ErrInvalidKey},
		{"compressed P-256 point", AlgES256, compressed, ErrInvalidKey},
		{"P-256 point one byte short", AlgES256, keys.p256Raw[:64], ErrInvalidKey},
		{"P-256 point one byte long", AlgES256, append(bytes.Clone(keys.p256Raw), 0), ErrInvalidKey},
		{"P-256 point without 0x04", AlgES256, keys.p256Raw[1:], ErrInvalidKey},
		{"P-256 point off the curve", AlgES256, append(bytes.Clone(keys.p256Raw[:64]), keys.p256Raw[64]^1), ErrInvalidKey},
		{"P-256 SPKI with trailing byte", AlgES256, append(bytes.Clone(keys.p256SPKI), 0), ErrInvalidKey},
		{"Ed25519 raw one byte short", AlgEdDSA, keys.edRaw[:31], ErrInvalidKey},
		{"Ed25519 raw one byte long", AlgEdDSA, append(bytes.Clone(keys.edRaw), 0), ErrInvalidKey},
		{"Ed25519 SPKI truncated", AlgEdDSA, keys.edSPKI[:len(keys.edSPKI)-1], ErrInvalidKey},
		{"empty ES256", AlgES256, nil, ErrInvalidKey},
		{"empty EdDSA", AlgEdDSA, nil, ErrInvalidKey},
		{"unknown algorithm", "RS256", keys.rsaSPKI, ErrUnsupportedAlgorithm},
		{"algorithm is case-sensitive", "es256", keys.p256SPKI, ErrUnsupportedAlgorithm},
		{"empty algorithm", "", keys.p256SPKI, ErrUnsupportedAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePublicKey(tt.alg, tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParsePublicKey = (%+v, %v), want %v", k, err, tt.want)
			}
			if k.Key != nil || k.SPKI != nil || k.Algorithm != "" {
				t.Fatalf("refused key still returned %+v, want the zero PublicKey", k)
			}
		})
	}
}

func TestParseSPKI_RefusesRawKeys(t *testing.T) {
	keys := sharedTestKeys()
	tests := []struct {
		name string
		alg  string
		in   []byte
		want error
	}{
		{"P-256 point", AlgES256, keys.p256Raw, ErrInvalidKey},
		{"Ed25519 raw", AlgEdDSA, keys.edRaw, ErrInvalidKey},
		{"Ed25519 SPKI under ES256", AlgES256, keys.edSPKI, ErrInvalidKey},
		{"unknown algorithm", "ES384", keys.p384SPKI, ErrUnsupportedAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseSPKI(tt.alg, tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("ParseSPKI = %v, want %v", err, tt.want)
			}
		})
	}
}

// The standard library takes any 32 bytes as an Ed25519 key; ParsePublicKey checks the point.
func TestParsePublicKey_Ed25519Points(t *testing.T) {
	tests := []struct {
		name   string
		hex    string // the 32-byte little-endian encoding
		wantOK bool
	}{
		{"base point", "5866666666666666666666666666666666666666666666666666666666666666", true},
		{"y = 3, a point of large order", "0300000000000000000000000000000000000000000000000000000000000000", true},
		{"y = 2 is not on the curve", "0200000000000000000000000000000000000000000000000000000000000000", false},
		{"identity (order 1)", "0100000000000000000000000000000000000000000000000000000000000000", false},
		{"identity with x sign bit set (x = 0 has no sign)", "0100000000000000000000000000000000000000000000000000000000000080", false},
		{"y = −1 (order 2)", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false},
		{"y = 0 (order 4)", "0000000000000000000000000000000000000000000000000000000000000000", false},
		{"y = 0, other x (order 4)", "0000000000000000000000000000000000000000000000000000000000000080", false},
		{"order 8", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", false},
		{"order 8, other x", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", false},
		{"order 8, other y", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", false},
		{"non-canonical y = p", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false},
		{"non-canonical y = p + 3 (the y = 3 point)", "f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := unhex(t, tt.hex)
			_, errRaw := ParsePublicKey(AlgEdDSA, raw)
			spki, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(raw))
			if err != nil {
				t.Fatal(err)
			}
			_, errSPKI := ParsePublicKey(AlgEdDSA, spki)
			for enc, err := range map[string]error{"raw": errRaw, "spki": errSPKI} {
				if tt.wantOK && err != nil {
					t.Errorf("%s: ParsePublicKey = %v, want a key", enc, err)
				}
				if !tt.wantOK && !errors.Is(err, ErrInvalidKey) {
					t.Errorf("%s: ParsePublicKey = %v, want ErrInvalidKey", enc, err)
				}
			}
		})
	}
}

// ParseSPKI is on the hot path and trusts that ParsePublicKey checked the key before it was
// stored; this pins that documented split.
func TestParseSPKI_DoesNotRepeatEd25519PointCheck(t *testing.T) {
	identity := make(ed25519.PublicKey, ed25519.PublicKeySize)
	identity[0] = 1
	spki, err := x509.MarshalPKIXPublicKey(identity)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePublicKey(AlgEdDSA, spki); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("ParsePublicKey(identity) = %v, want ErrInvalidKey", err)
	}
	if _, err := ParseSPKI(AlgEdDSA, spki); err != nil {
		t.Fatalf("ParseSPKI(identity) = %v, want nil: stored keys are not checked again", err)
	}
}

// sameKey reports whether two parsed keys are the same key in the same normal form.
func sameKey(a, b PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	ak, ok := a.Key.(equaler)
	return ok && a.Algorithm == b.Algorithm && bytes.Equal(a.SPKI, b.SPKI) && ak.Equal(b.Key)
}

func FuzzParsePublicKey(f *testing.F) {
	keys := sharedTestKeys()
	for _, alg := range []string{AlgES256, AlgEdDSA} {
		for _, b := range [][]byte{keys.p256SPKI, keys.p256Raw, keys.edSPKI, keys.edRaw, keys.p384SPKI,
			keys.rsaSPKI, nil, {0x04}, {0x30, 0x00}, []byte(strings.Repeat("\x04", 65))} {
			f.Add(alg, b)
		}
	}
	f.Add("RS256", keys.rsaSPKI)
	f.Fuzz(func(t *testing.T, alg string, b []byte) {
		k, err := ParsePublicKey(alg, b)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) && !errors.Is(err, ErrUnsupportedAlgorithm) {
				t.Fatalf("ParsePublicKey error %v is neither ErrInvalidKey nor ErrUnsupportedAlgorithm", err)
			}
			return
		}
		if k.Algorithm != alg {
			t.Fatalf("Algorithm = %q, want %q", k.Algorithm, alg)
		}
		again, err := ParseSPKI(alg, k.SPKI)
		if err != nil || !sameKey(k, again) {
			t.Fatalf("ParseSPKI(SPKI of a parsed key) = (%+v, %v), want %+v", again, err, k)
		}
		// Any signature must verify to nil or a sentinel, never panic.
		if err := k.Verify("", b, b); err != nil && !errors.Is(err, ErrMalformedSignature) && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Verify on a parsed key = %v", err)
		}
	})
}

// BenchmarkParseSPKI is the per-response cost of loading a stored key.
func BenchmarkParseSPKI(b *testing.B) {
	keys := sharedTestKeys()
	for _, bb := range []struct {
		alg  string
		spki []byte
	}{{AlgES256, keys.p256SPKI}, {AlgEdDSA, keys.edSPKI}} {
		b.Run(bb.alg, func(b *testing.B) {
			for b.Loop() {
				if _, err := ParseSPKI(bb.alg, bb.spki); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
