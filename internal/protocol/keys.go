package protocol

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
)

// Signature algorithms a device key may use.
const (
	// AlgES256 is ECDSA on P-256 with SHA-256 (Secure Enclave, Android Keystore, WebCrypto).
	AlgES256 = "ES256"
	// AlgEdDSA is pure Ed25519.
	AlgEdDSA = "EdDSA"
)

var (
	// ErrUnsupportedAlgorithm means the algorithm is neither AlgES256 nor AlgEdDSA.
	ErrUnsupportedAlgorithm = errors.New("protocol: unsupported algorithm")
	// ErrInvalidKey means the key bytes do not parse, are of the wrong length or curve for the
	// algorithm, or do not encode a valid point.
	ErrInvalidKey = errors.New("protocol: invalid public key")
)

// p256PointLen is the length of an uncompressed P-256 point: 0x04 ‖ X ‖ Y.
const p256PointLen = 65

// PublicKey is a parsed, validated device key.
type PublicKey struct {
	Algorithm string           // AlgES256 or AlgEdDSA
	Key       crypto.PublicKey // *ecdsa.PublicKey (P-256) or ed25519.PublicKey
	SPKI      []byte           // normalised SPKI DER (what is stored)
}

// ParsePublicKey parses key bytes as a device sends them: for AlgES256 SPKI DER or the 65-byte
// uncompressed point (0x04 ‖ X ‖ Y); for AlgEdDSA SPKI DER or the 32 raw bytes. The curve is
// bound to the algorithm. Compressed P-256 points are refused, as are points not on the curve,
// non-canonical Ed25519 encodings and Ed25519 points of small order.
//
// The encoding is told apart by length (a raw Ed25519 key may well start with the SPKI
// SEQUENCE tag). The result never aliases b.
func ParsePublicKey(alg string, b []byte) (PublicKey, error) {
	switch alg {
	case AlgES256:
		if len(b) != p256PointLen {
			return parseSPKI(alg, b, true)
		}
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b)
		if err != nil {
			return PublicKey{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		return newES256Key(k)
	case AlgEdDSA:
		if len(b) != ed25519.PublicKeySize {
			return parseSPKI(alg, b, true)
		}
		return newEdDSAKey(b, true)
	default:
		return PublicKey{}, ErrUnsupportedAlgorithm
	}
}

// ParseSPKI parses a key stored as SPKI DER (PublicKey.SPKI) under alg, with the same curve
// binding as ParsePublicKey. It is on the hot path (every response is verified against a
// stored key), so it trusts that ParsePublicKey checked the key before it was stored: P-256
// points are still checked by the standard library, but the Ed25519 point check (≈100 µs of
// math/big) is not repeated. Parse anything a client sends with ParsePublicKey.
func ParseSPKI(alg string, spki []byte) (PublicKey, error) {
	return parseSPKI(alg, spki, false)
}

// parseSPKI parses SPKI DER; checkPoint asks for the Ed25519 point check.
func parseSPKI(alg string, spki []byte, checkPoint bool) (PublicKey, error) {
	if alg != AlgES256 && alg != AlgEdDSA {
		return PublicKey{}, ErrUnsupportedAlgorithm
	}
	parsed, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	switch k := parsed.(type) {
	case *ecdsa.PublicKey:
		if alg != AlgES256 || k.Curve != elliptic.P256() {
			return PublicKey{}, fmt.Errorf("%w: %s needs a %s key, got ECDSA %s", ErrInvalidKey, alg, curveOf(alg), k.Curve.Params().Name)
		}
		return newES256Key(k)
	case ed25519.PublicKey:
		if alg != AlgEdDSA {
			return PublicKey{}, fmt.Errorf("%w: %s needs a %s key, got Ed25519", ErrInvalidKey, alg, curveOf(alg))
		}
		return newEdDSAKey(k, checkPoint)
	default:
		return PublicKey{}, fmt.Errorf("%w: %s needs a %s key, got %T", ErrInvalidKey, alg, curveOf(alg), parsed)
	}
}

func curveOf(alg string) string {
	if alg == AlgES256 {
		return "P-256"
	}
	return "Ed25519"
}

// newES256Key wraps a P-256 key that the standard library has already checked is on the curve.
func newES256Key(k *ecdsa.PublicKey) (PublicKey, error) {
	spki, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return PublicKey{Algorithm: AlgES256, Key: k, SPKI: spki}, nil
}

// newEdDSAKey wraps a 32-byte Ed25519 key. The standard library takes any 32 bytes as one and
// only finds out at verification, so checkPoint checks the point here.
func newEdDSAKey(raw []byte, checkPoint bool) (PublicKey, error) {
	if checkPoint && !validEd25519Point(raw) {
		return PublicKey{}, fmt.Errorf("%w: not a canonical Ed25519 point of large order", ErrInvalidKey)
	}
	k := ed25519.PublicKey(bytes.Clone(raw))
	spki, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return PublicKey{Algorithm: AlgEdDSA, Key: k, SPKI: spki}, nil
}

// Curve constants of edwards25519 (RFC 8032 §5.1): p = 2²⁵⁵ − 19, d = −121665/121666 mod p.
var (
	edP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	edD = func() *big.Int {
		d := new(big.Int).ModInverse(big.NewInt(121666), edP)
		d.Mul(d, big.NewInt(-121665))
		return d.Mod(d, edP)
	}()
)

// validEd25519Point reports whether b is the canonical encoding (RFC 8032 §5.1.3) of a point
// on edwards25519 whose order is not small. A small-order key verifies forged signatures, so
// it is refused; registration is rare, so math/big is fast enough here.
func validEd25519Point(b []byte) bool {
	if len(b) != ed25519.PublicKeySize {
		return false
	}
	be := make([]byte, len(b)) // y, little-endian with the sign of x in the top bit
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	xOdd := be[0]>>7 == 1
	be[0] &= 0x7f
	y := new(big.Int).SetBytes(be)
	if y.Cmp(edP) >= 0 {
		return false
	}
	// x² = (y² − 1) / (d·y² + 1); the denominator is never 0 because d is not a square.
	y2 := new(big.Int).Mul(y, y)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	v := new(big.Int).Mul(edD, y2)
	v.Add(v, big.NewInt(1)).Mod(v, edP)
	vInv := new(big.Int).ModInverse(v, edP)
	if vInv == nil {
		return false
	}
	x2 := u.Mul(u, vInv).Mod(u, edP)
	x := new(big.Int).ModSqrt(x2, edP)
	if x == nil || (x.Sign() == 0 && xOdd) {
		return false
	}
	// Small order means [8]P is the identity (0, 1).
	for range 3 {
		x, y = edDouble(x, y)
	}
	return x.Sign() != 0 || y.Cmp(big.NewInt(1)) != 0
}

// edDouble doubles an affine point on −x² + y² = 1 + d·x²·y². The formula is complete on this
// curve (no denominator vanishes), so no special cases.
func edDouble(x, y *big.Int) (*big.Int, *big.Int) {
	xx := new(big.Int).Mul(x, x)
	yy := new(big.Int).Mul(y, y)
	xNum := new(big.Int).Mul(x, y)
	xNum.Lsh(xNum, 1)
	xDen := new(big.Int).Sub(yy, xx)
	yNum := new(big.Int).Add(yy, xx)
	yDen := new(big.Int).Sub(big.NewInt(2), xDen)
	x3 := xNum.Mul(xNum, xDen.ModInverse(xDen.Mod(xDen, edP), edP)).Mod(xNum, edP)
	y3 := yNum.Mul(yNum, yDen.ModInverse(yDen.Mod(yDen, edP), edP)).Mod(yNum, edP)
	return x3, y3
}
