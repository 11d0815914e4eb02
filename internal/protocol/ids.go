package protocol

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
)

// ErrInvalidBase64 means a value is not canonical base64url without padding.
var ErrInvalidBase64 = errors.New("protocol: invalid base64url")

// maxNameLen bounds IDs and action names.
const maxNameLen = 64

// ValidAction reports whether s is an action name: 1 to 64 characters of [A-Za-z0-9_.:-]
// (lower camel case by convention, such as "transfer" or "addAuthenticator").
func ValidAction(s string) bool {
	return validName(s, "_.:-")
}

// ValidID reports whether s is a well-formed server-generated ID (challenge, credential):
// 1 to 64 characters of [A-Za-z0-9_-], so it is safe in URLs, QR codes and headers.
func ValidID(s string) bool {
	return validName(s, "_-")
}

func validName(s, punct string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && strings.IndexByte(punct, c) < 0 {
			return false
		}
	}
	return true
}

// NewID returns a new random ID: 16 bytes (128 bits) from crypto/rand as base64url without
// padding, 22 characters. It always satisfies ValidID.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return EncodeBase64(b[:])
}

// EncodeBase64 encodes b as base64url without padding (RFC 4648 §5), the form of every binary
// value in the protocol's JSON.
func EncodeBase64(b []byte) string {
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeBase64 decodes base64url without padding. It refuses padding, the standard alphabet's
// '+' and '/', line breaks (which encoding/base64 would skip) and non-zero trailing bits, so
// each byte string has exactly one accepted encoding.
func DecodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, ErrInvalidBase64
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, ErrInvalidBase64
	}
	return b, nil
}
