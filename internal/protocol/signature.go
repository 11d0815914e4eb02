package protocol

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
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
// INTEGER }: definite minimal lengths, minimal two's-complement integers, nothing after.
// DER has one encoding per value, so a signature has one accepted form. Range (0 < r, s < n)
// is the verifier's concern. It reads the bytes in place: a verification allocates nothing
// for it (encoding/asn1 would parse into big.Ints and re-encode to compare).
func isDERSignature(sig []byte) bool {
	body, rest, ok := derElement(sig, 0x30)
	if !ok || len(rest) != 0 {
		return false
	}
	for range 2 {
		var n []byte
		if n, body, ok = derElement(body, 0x02); !ok || !minimalInteger(n) {
			return false
		}
	}
	return len(body) == 0
}

// derElement reads one element with tag from b: its contents and what follows. The length
// must be definite and minimal: short form below 128, else 0x81 or 0x82 and no leading zero
// byte and no value that the short form would hold.
func derElement(b []byte, tag byte) (contents, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	n, hdr := int(b[1]), 2
	switch {
	case n < 0x80:
	case n == 0x81 && len(b) >= 3 && b[2] >= 0x80:
		n, hdr = int(b[2]), 3
	case n == 0x82 && len(b) >= 4 && b[2] != 0:
		n, hdr = int(b[2])<<8|int(b[3]), 4
	default:
		return nil, nil, false
	}
	if len(b)-hdr < n {
		return nil, nil, false
	}
	return b[hdr : hdr+n], b[hdr+n:], true
}

// minimalInteger reports whether n is a minimal two's-complement INTEGER: not empty, and no
// leading byte that only repeats the sign of the next.
func minimalInteger(n []byte) bool {
	return len(n) > 0 && (len(n) == 1 ||
		!(n[0] == 0x00 && n[1]&0x80 == 0) && !(n[0] == 0xff && n[1]&0x80 != 0))
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
