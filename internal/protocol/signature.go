package protocol

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"math/big"
)

// Signature formats a device declares as signatureFormat.
const (
	// FormatDER is an X9.62 ASN.1 DER ECDSA signature, SEQUENCE { r INTEGER, s INTEGER }: what
	// iOS (ecdsaSignatureMessageX962SHA256) and Android (SHA256withECDSA) produce. The default.
	FormatDER = "der"
	// FormatRaw is r ‖ s as two 32-byte big-endian integers (64 bytes): what WebCrypto produces.
	// Ed25519 signatures are always in this shape (R ‖ S, 64 bytes).
	FormatRaw = "raw"
)

var (
	// ErrMalformedSignature means the signature's encoding is wrong: not DER, wrong raw length,
	// or a format unknown for the key's algorithm.
	ErrMalformedSignature = errors.New("protocol: malformed signature")
	// ErrBadSignature means the signature is well-formed but does not verify.
	ErrBadSignature = errors.New("protocol: signature does not verify")
)

// es256RawLen is the length of a FormatRaw ES256 signature: r ‖ s, 32 bytes each.
const es256RawLen = 64

// Verify checks sig over msg with the key.
//
// For AlgES256 (ECDSA P-256 over SHA-256(msg)) format is FormatDER or FormatRaw, "" meaning
// FormatDER. There is no low-S rule: (r, s) and (r, n−s) both verify, as Wycheproof expects;
// replay is stopped by the challenge's state, not by the signature bytes.
//
// For AlgEdDSA (pure Ed25519 over msg) the signature is the 64-byte R ‖ S and format is "" or
// FormatRaw; FormatDER is refused with ErrMalformedSignature since Ed25519 has no DER form.
//
// Errors: ErrMalformedSignature, ErrBadSignature, or ErrInvalidKey when k was not built by
// ParsePublicKey or ParseSPKI.
func (k PublicKey) Verify(format string, msg, sig []byte) error {
	switch key := k.Key.(type) {
	case *ecdsa.PublicKey:
		if k.Algorithm != AlgES256 || key == nil || key.Curve != elliptic.P256() {
			return ErrInvalidKey
		}
		return verifyES256(key, format, msg, sig)
	case ed25519.PublicKey:
		// ed25519.Verify panics on a key of the wrong length.
		if k.Algorithm != AlgEdDSA || len(key) != ed25519.PublicKeySize {
			return ErrInvalidKey
		}
		return verifyEdDSA(key, format, msg, sig)
	default:
		return ErrInvalidKey
	}
}

func verifyES256(key *ecdsa.PublicKey, format string, msg, sig []byte) error {
	digest := sha256.Sum256(msg)
	switch format {
	case FormatDER, "":
		if !isDERSignature(sig) {
			return ErrMalformedSignature
		}
		if !ecdsa.VerifyASN1(key, digest[:], sig) {
			return ErrBadSignature
		}
		return nil
	case FormatRaw:
		if len(sig) != es256RawLen {
			return ErrMalformedSignature
		}
		r := new(big.Int).SetBytes(sig[:es256RawLen/2])
		s := new(big.Int).SetBytes(sig[es256RawLen/2:])
		if !ecdsa.Verify(key, digest[:], r, s) {
			return ErrBadSignature
		}
		return nil
	default:
		return ErrMalformedSignature
	}
}

// isDERSignature reports whether sig is exactly the DER encoding of SEQUENCE { INTEGER,
// INTEGER }. encoding/asn1 alone tolerates extra elements, so the parse must re-encode to the
// same bytes; DER has one encoding per value. Range (0 < r, s < n) is the verifier's concern.
func isDERSignature(sig []byte) bool {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &rs)
	if err != nil || len(rest) != 0 {
		return false
	}
	again, err := asn1.Marshal(rs)
	return err == nil && bytes.Equal(again, sig)
}

func verifyEdDSA(key ed25519.PublicKey, format string, msg, sig []byte) error {
	switch format {
	case FormatRaw, "":
		if len(sig) != ed25519.SignatureSize {
			return ErrMalformedSignature
		}
		if !ed25519.Verify(key, msg, sig) {
			return ErrBadSignature
		}
		return nil
	default:
		return ErrMalformedSignature
	}
}
