package protocol

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
)

// es256Sig is one ES256 signature over a message in both encodings.
type es256Sig struct {
	der, raw []byte
	r, s     *big.Int
}

func signES256(t testing.TB, priv *ecdsa.PrivateKey, msg []byte) es256Sig {
	t.Helper()
	digest := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return es256From(t, r, s)
}

func es256From(t testing.TB, r, s *big.Int) es256Sig {
	t.Helper()
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 64)
	r.FillBytes(raw[:32])
	s.FillBytes(raw[32:])
	return es256Sig{der: der, raw: raw, r: r, s: s}
}

func parsedKeys(t testing.TB) (es256, eddsa PublicKey) {
	t.Helper()
	keys := sharedTestKeys()
	es256, err := ParsePublicKey(AlgES256, keys.p256SPKI)
	if err != nil {
		t.Fatal(err)
	}
	eddsa, err = ParsePublicKey(AlgEdDSA, keys.edRaw)
	if err != nil {
		t.Fatal(err)
	}
	return es256, eddsa
}

// Replay is stopped by the challenge's state, not here: (r, n−s) verifies like (r, s).
func TestVerify_ES256AcceptsHighSTwin(t *testing.T) {
	keys := sharedTestKeys()
	es256, _ := parsedKeys(t)
	msg := []byte("deviceauth/v1/response\x00twin")
	sig := signES256(t, keys.p256, msg)
	n := elliptic.P256().Params().N
	twin := es256From(t, sig.r, new(big.Int).Sub(n, sig.s))
	if bytes.Equal(twin.der, sig.der) {
		t.Fatal("twin equals the original signature")
	}
	for _, tt := range []struct {
		name   string
		format string
		sig    []byte
	}{
		{"original der", FormatDER, sig.der},
		{"twin der", FormatDER, twin.der},
		{"original raw", FormatRaw, sig.raw},
		{"twin raw", FormatRaw, twin.raw},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := es256.Verify(tt.format, msg, tt.sig); err != nil {
				t.Fatalf("Verify = %v, want nil (no low-S rule)", err)
			}
		})
	}
}

func TestVerify_Formats(t *testing.T) {
	keys := sharedTestKeys()
	es256, eddsa := parsedKeys(t)
	msg := []byte("message")
	sig := signES256(t, keys.p256, msg)
	edSig := ed25519.Sign(keys.ed, msg)

	extraElement, _ := asn1.Marshal(struct{ R, S, T *big.Int }{sig.r, sig.s, big.NewInt(0)})
	longFormLength := append([]byte{0x30, 0x81, sig.der[1]}, sig.der[2:]...) // BER, not DER
	negativeR, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).Neg(sig.r), sig.s})
	zeroR := bytes.Clone(sig.raw)
	clear(zeroR[:32])
	flippedRaw := bytes.Clone(sig.raw)
	flippedRaw[63] ^= 1
	flippedEd := bytes.Clone(edSig)
	flippedEd[0] ^= 1

	tests := []struct {
		name   string
		key    PublicKey
		format string
		msg    []byte
		sig    []byte
		want   error
	}{
		{"ES256 der", es256, FormatDER, msg, sig.der, nil},
		{"ES256 empty format means der", es256, "", msg, sig.der, nil},
		{"ES256 raw", es256, FormatRaw, msg, sig.raw, nil},
		{"ES256 der under raw", es256, FormatRaw, msg, sig.der, ErrMalformedSignature},
		{"ES256 raw under der", es256, FormatDER, msg, sig.raw, ErrMalformedSignature},
		{"ES256 raw under empty format", es256, "", msg, sig.raw, ErrMalformedSignature},
		{"ES256 format is case-sensitive", es256, "DER", msg, sig.der, ErrMalformedSignature},
		{"ES256 unknown format", es256, "p1363", msg, sig.raw, ErrMalformedSignature},
		{"ES256 der with trailing byte", es256, FormatDER, msg, append(bytes.Clone(sig.der), 0), ErrMalformedSignature},
		{"ES256 der truncated", es256, FormatDER, msg, sig.der[:len(sig.der)-1], ErrMalformedSignature},
		{"ES256 der with a third integer", es256, FormatDER, msg, extraElement, ErrMalformedSignature},
		{"ES256 BER long-form length", es256, FormatDER, msg, longFormLength, ErrMalformedSignature},
		{"ES256 empty signature", es256, FormatDER, msg, nil, ErrMalformedSignature},
		{"ES256 raw 63 bytes", es256, FormatRaw, msg, sig.raw[:63], ErrMalformedSignature},
		{"ES256 raw 65 bytes", es256, FormatRaw, msg, append(bytes.Clone(sig.raw), 0), ErrMalformedSignature},
		{"ES256 der, other message", es256, FormatDER, []byte("other"), sig.der, ErrBadSignature},
		{"ES256 raw, other message", es256, FormatRaw, []byte("other"), sig.raw, ErrBadSignature},
		{"ES256 der, negative r (well-formed DER, out of range)", es256, FormatDER, msg, negativeR, ErrBadSignature},
		{"ES256 raw, r = 0", es256, FormatRaw, msg, zeroR, ErrBadSignature},
		{"ES256 raw, flipped bit", es256, FormatRaw, msg, flippedRaw, ErrBadSignature},
		{"ES256 signature under EdDSA key", eddsa, FormatRaw, msg, sig.raw, ErrBadSignature},
		{"EdDSA empty format", eddsa, "", msg, edSig, nil},
		{"EdDSA raw", eddsa, FormatRaw, msg, edSig, nil},
		{"EdDSA der refused: Ed25519 has no DER form", eddsa, FormatDER, msg, edSig, ErrMalformedSignature},
		{"EdDSA unknown format", eddsa, "ed25519", msg, edSig, ErrMalformedSignature},
		{"EdDSA 63 bytes", eddsa, FormatRaw, msg, edSig[:63], ErrMalformedSignature},
		{"EdDSA 65 bytes", eddsa, FormatRaw, msg, append(bytes.Clone(edSig), 0), ErrMalformedSignature},
		{"EdDSA empty signature", eddsa, "", msg, nil, ErrMalformedSignature},
		{"EdDSA other message", eddsa, "", []byte("other"), edSig, ErrBadSignature},
		{"EdDSA flipped bit", eddsa, "", msg, flippedEd, ErrBadSignature},
		{"EdDSA signature under ES256 key", es256, FormatRaw, msg, edSig, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.key.Verify(tt.format, tt.msg, tt.sig)
			if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// Verify must not panic on a PublicKey built by hand (ed25519.Verify panics on a short key).
func TestVerify_RefusesKeysNotFromParse(t *testing.T) {
	keys := sharedTestKeys()
	es256, eddsa := parsedKeys(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tests := []struct {
		name string
		key  PublicKey
	}{
		{"zero PublicKey", PublicKey{}},
		{"short Ed25519 key", PublicKey{Algorithm: AlgEdDSA, Key: ed25519.PublicKey(keys.edRaw[:31])}},
		{"nil ECDSA key", PublicKey{Algorithm: AlgES256, Key: (*ecdsa.PublicKey)(nil)}},
		{"P-384 key", PublicKey{Algorithm: AlgES256, Key: &p384.PublicKey}},
		{"ES256 key labelled EdDSA", PublicKey{Algorithm: AlgEdDSA, Key: es256.Key}},
		{"EdDSA key labelled ES256", PublicKey{Algorithm: AlgES256, Key: eddsa.Key}},
		{"Ed25519 key as a pointer", PublicKey{Algorithm: AlgEdDSA, Key: &keys.ed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.key.Verify("", []byte("m"), make([]byte, 64)); !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("Verify = %v, want ErrInvalidKey", err)
			}
		})
	}
}

func FuzzVerifySignature(f *testing.F) {
	keys := sharedTestKeys()
	es256, eddsa := parsedKeys(f)
	msg := []byte("message")
	sig := signES256(f, keys.p256, msg)
	for _, format := range []string{"", FormatDER, FormatRaw, "x"} {
		f.Add(false, format, msg, sig.der)
		f.Add(false, format, msg, sig.raw)
		f.Add(true, format, msg, ed25519.Sign(keys.ed, msg))
		f.Add(false, format, msg, []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
		f.Add(true, format, []byte{}, []byte{})
	}
	f.Fuzz(func(t *testing.T, ed bool, format string, msg, sig []byte) {
		key := es256
		if ed {
			key = eddsa
		}
		err := key.Verify(format, msg, sig)
		if err != nil && !errors.Is(err, ErrMalformedSignature) && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("Verify = %v, want nil, ErrMalformedSignature or ErrBadSignature", err)
		}
	})
}

func BenchmarkVerifyES256(b *testing.B) {
	es256, _ := parsedKeys(b)
	msg := ResponseMessage(Response{ChallengeID: NewID(), Nonce: make([]byte, 16), Action: "transfer",
		CredentialID: NewID(), Decision: DecisionApprove, DetailsDigest: make([]byte, 32)})
	sig := signES256(b, sharedTestKeys().p256, msg)
	for b.Loop() {
		if err := es256.Verify(FormatDER, msg, sig.der); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyEdDSA(b *testing.B) {
	_, eddsa := parsedKeys(b)
	msg := ResponseMessage(Response{ChallengeID: NewID(), Nonce: make([]byte, 16), Action: "transfer",
		CredentialID: NewID(), Decision: DecisionApprove, DetailsDigest: make([]byte, 32)})
	sig := ed25519.Sign(sharedTestKeys().ed, msg)
	for b.Loop() {
		if err := eddsa.Verify("", msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

// derByASN1 is the former check of a DER signature, by encoding/asn1:
// parse, then re-encode to the same bytes. isDERSignature must agree with
// it on every input.
func derByASN1(sig []byte) bool {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &rs)
	if err != nil || len(rest) != 0 {
		return false
	}
	again, err := asn1.Marshal(rs)
	return err == nil && bytes.Equal(again, sig)
}

// FuzzDERSignature: the in-place DER check accepts exactly what parsing
// and re-encoding with encoding/asn1 accepts.
func FuzzDERSignature(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for range 8 {
		h := sha256.Sum256([]byte("seed"))
		sig, _ := ecdsa.SignASN1(rand.Reader, key, h[:])
		f.Add(sig)
	}
	for _, s := range []string{"", "30", "3000", "30020200", "3006020101020101", "300602010102010100", "30070201010202007f",
		"3007020101020200ff", "3007020101020280ff", "300602810101020101", "3081060201010201010", "3006020180020101", "30060201ff020101"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, sig []byte) {
		if got, want := isDERSignature(sig), derByASN1(sig); got != want {
			t.Fatalf("isDERSignature(%x) = %v, encoding/asn1 says %v", sig, got, want)
		}
	})
}

// TestDERSignature_AllocatesNothing: the check reads the bytes in place.
func TestDERSignature_AllocatesNothing(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h := sha256.Sum256([]byte("m"))
	sig, _ := ecdsa.SignASN1(rand.Reader, key, h[:])
	if n := testing.AllocsPerRun(100, func() {
		if !isDERSignature(sig) {
			t.Fatal("a true signature refused")
		}
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
