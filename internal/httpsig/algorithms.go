package httpsig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"math/big"
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
			r := new(big.Int).SetBytes(sig[:32])
			s := new(big.Int).SetBytes(sig[32:])
			ok = ecdsa.Verify(pub.(*ecdsa.PublicKey), digest[:], r, s)
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
// left-padded to 32 bytes.
func derToRaw(der []byte) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) != 0 || sig.R == nil || sig.S == nil ||
		sig.R.Sign() <= 0 || sig.S.Sign() <= 0 || sig.R.BitLen() > 256 || sig.S.BitLen() > 256 {
		return nil, fmt.Errorf("%w: signer returned no ASN.1 DER P-256 signature", ErrAlgorithm)
	}
	raw := make([]byte, 64)
	sig.R.FillBytes(raw[:32])
	sig.S.FillBytes(raw[32:])
	return raw, nil
}
