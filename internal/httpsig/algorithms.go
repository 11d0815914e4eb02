package httpsig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

// Algorithm names of RFC 9421 §3.3 that this package implements.
const (
	// AlgECDSAP256SHA256 is ECDSA over P-256 with SHA-256; the signature is
	// the 64-byte concatenation r‖s (RFC 9421 §3.3.4), not ASN.1 DER.
	AlgECDSAP256SHA256 = "ecdsa-p256-sha256"
	// AlgEd25519 is pure Ed25519 over the signature base (RFC 9421 §3.3.6).
	AlgEd25519 = "ed25519"
)

// AlgorithmFor returns the algorithm that fits pub: [AlgECDSAP256SHA256] for
// a P-256 *ecdsa.PublicKey, [AlgEd25519] for an ed25519.PublicKey.
func AlgorithmFor(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k != nil && k.Curve == elliptic.P256() && k.X != nil && k.Y != nil {
			return AlgECDSAP256SHA256, nil
		}
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return AlgEd25519, nil
		}
	}
	return "", fmt.Errorf("%w: no algorithm for key type %T", ErrAlgorithm, pub)
}

// SignBase signs base with signer under alg and returns the signature bytes
// as RFC 9421 defines them. For [AlgECDSAP256SHA256] signer must return
// ASN.1 DER from Sign (as *ecdsa.PrivateKey and platform keys do); SignBase
// converts it to r‖s. For [AlgEd25519] signer signs base itself
// (crypto.Hash(0)).
func SignBase(alg string, signer crypto.Signer, base []byte) ([]byte, error) {
	if got, err := AlgorithmFor(signer.Public()); err != nil || got != alg {
		return nil, fmt.Errorf("%w: signer's key does not fit %q", ErrAlgorithm, alg)
	}
	switch alg {
	case AlgECDSAP256SHA256:
		digest := sha256.Sum256(base)
		der, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("httpsig: signing: %w", err)
		}
		return derToRaw(der)
	case AlgEd25519:
		sig, err := signer.Sign(rand.Reader, base, crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("httpsig: signing: %w", err)
		}
		return sig, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrAlgorithm, alg)
}

// VerifyBase checks sig over base with pub under alg. It returns
// [ErrAlgorithm] when alg is unknown or pub does not fit it, and
// [ErrBadSignature] when the signature does not verify.
func VerifyBase(alg string, pub crypto.PublicKey, base, sig []byte) error {
	if got, err := AlgorithmFor(pub); err != nil || got != alg {
		return fmt.Errorf("%w: key of type %T does not fit %q", ErrAlgorithm, pub, alg)
	}
	ok := false
	switch alg {
	case AlgECDSAP256SHA256:
		if len(sig) == 64 {
			digest := sha256.Sum256(base)
			var der [72]byte
			ok = ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], rawToDER(der[:0], sig))
		}
	case AlgEd25519:
		// ed25519.Verify panics on a key of the wrong length; AlgorithmFor
		// checked it.
		ok = len(sig) == ed25519.SignatureSize && ed25519.Verify(pub.(ed25519.PublicKey), base, sig)
	}
	if !ok {
		return ErrBadSignature
	}
	return nil
}

// derToRaw converts an ASN.1 DER ECDSA P-256 signature to r‖s, each
// left-padded to 32 bytes. It reads the DER in place: SEQUENCE { INTEGER r,
// INTEGER s } with short-form lengths (a P-256 signature is at most 72
// bytes), each integer minimal, positive and of at most 256 bits, nothing
// after.
func derToRaw(der []byte) ([]byte, error) {
	bad := errNotDER
	if len(der) < 2 || der[0] != 0x30 || int(der[1]) != len(der)-2 || der[1] >= 0x80 {
		return nil, bad
	}
	raw := make([]byte, 64)
	rest := der[2:]
	for half := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || rest[1] >= 0x80 || int(rest[1]) > len(rest)-2 {
			return nil, bad
		}
		n := rest[2 : 2+int(rest[1])]
		rest = rest[2+len(n):]
		switch {
		case len(n) == 0 || n[0]&0x80 != 0: // empty or negative
			return nil, bad
		case n[0] == 0 && len(n) > 1 && n[1]&0x80 == 0: // not minimal
			return nil, bad
		case n[0] == 0:
			n = n[1:]
		}
		if len(n) == 0 || len(n) > 32 { // zero, or more than 256 bits
			return nil, bad
		}
		copy(raw[half*32+32-len(n):(half+1)*32], n)
	}
	if len(rest) != 0 {
		return nil, bad
	}
	return raw, nil
}

// errNotDER is derToRaw's error.
var errNotDER = fmt.Errorf("%w: signer returned no ASN.1 DER P-256 signature", ErrAlgorithm)

// rawToDER appends the ASN.1 DER of the ECDSA signature r‖s (raw, 64
// bytes) to b: each half as a minimal positive INTEGER.
func rawToDER(b, raw []byte) []byte {
	integer := func(b, n []byte) []byte {
		for len(n) > 1 && n[0] == 0 {
			n = n[1:]
		}
		pad := n[0]&0x80 != 0
		l := len(n)
		if pad {
			l++
		}
		b = append(b, 0x02, byte(l))
		if pad {
			b = append(b, 0)
		}
		return append(b, n...)
	}
	b = append(b, 0x30, 0)
	start := len(b)
	b = integer(b, raw[:32])
	b = integer(b, raw[32:])
	b[start-1] = byte(len(b) - start)
	return b
}
