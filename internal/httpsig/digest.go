package httpsig

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"

	"github.com/dunglas/httpsfv"
)

// ContentDigest returns a Content-Digest field value (RFC 9530) with the
// sha-256 of body, such as `sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:`.
func ContentDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// VerifyContentDigest checks the Content-Digest field lines against body
// (RFC 9530). At least one sha-256 or sha-512 member is required, and every
// such member must match; members with other algorithms are ignored. Any
// failure is [ErrDigest].
func VerifyContentDigest(lines []string, body []byte) error {
	if len(lines) == 0 {
		return fmt.Errorf("%w: no Content-Digest field", ErrDigest)
	}
	d, err := httpsfv.UnmarshalDictionary(lines)
	if err != nil {
		return fmt.Errorf("%w: Content-Digest does not parse: %v", ErrDigest, err)
	}
	checked := 0
	for _, alg := range d.Names() {
		var want []byte
		switch alg {
		case "sha-256":
			sum := sha256.Sum256(body)
			want = sum[:]
		case "sha-512":
			sum := sha512.Sum512(body)
			want = sum[:]
		default:
			continue
		}
		m, _ := d.Get(alg)
		item, isItem := m.(httpsfv.Item)
		got, isBytes := item.Value.([]byte)
		if !isItem || !isBytes {
			return fmt.Errorf("%w: %s member is not a byte sequence", ErrDigest, alg)
		}
		if subtle.ConstantTimeCompare(got, want) != 1 {
			return fmt.Errorf("%w: %s does not match the body", ErrDigest, alg)
		}
		checked++
	}
	if checked == 0 {
		return fmt.Errorf("%w: no sha-256 or sha-512 member", ErrDigest)
	}
	return nil
}
