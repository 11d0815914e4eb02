package deviceauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"math"
	"strings"
	"sync"
)

const (
	tokenPrefix             = "dat_"
	registrationTokenPrefix = "drt_"
	tokenLabel              = "deviceauth/v1/token"
	maxCodeDigits           = 9
)

// challengeToken derives the token of a challenge (docs/architecture.md#tokens-codes-and-time):
// "dat_" ‖ base64url(challengeID ‖ HMAC-SHA256(key, "deviceauth/v1/token" ‖ challengeID)).
// It is derived, never stored, so the same challenge always has the same
// token and the store holds none.
func (s *Service) challengeToken(challengeID string) string {
	id := append(make([]byte, 0, len(challengeID)+sha256.Size), challengeID...)
	raw := s.macs[0].sum(id, id) // the ID, then its MAC
	out := make([]byte, len(tokenPrefix)+base64.RawURLEncoding.EncodedLen(len(raw)))
	base64.RawURLEncoding.Encode(out[copy(out, tokenPrefix):], raw)
	return string(out)
}

// parseChallengeToken returns the challenge ID a token names when its MAC
// verifies under one of the keys.
func (s *Service) parseChallengeToken(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok || len(rest) > 200 {
		return "", false
	}
	var buf, sum [160]byte // rest is at most 200 characters: 150 bytes
	n, err := base64.RawURLEncoding.Decode(buf[:], []byte(rest))
	if err != nil || n <= sha256.Size {
		return "", false
	}
	id, mac := buf[:n-sha256.Size], buf[n-sha256.Size:n]
	for _, m := range s.macs {
		if hmac.Equal(mac, m.sum(sum[:0], id)) {
			return string(id), true
		}
	}
	return "", false
}

// tokenMACer computes token MACs under one key, reusing HMAC states: the
// keyed state is set up once per pooled value, not at every token.
type tokenMACer struct{ pool sync.Pool }

func newTokenMACer(key []byte) *tokenMACer {
	k := append([]byte(nil), key...)
	return &tokenMACer{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}}
}

// sum appends the MAC of challengeID to dst.
func (m *tokenMACer) sum(dst, challengeID []byte) []byte {
	h := m.pool.Get().(hash.Hash)
	defer m.pool.Put(h)
	h.Reset()
	h.Write(tokenLabelBytes)
	h.Write(challengeID)
	return h.Sum(dst)
}

// tokenLabelBytes is tokenLabel, converted once.
var tokenLabelBytes = []byte(tokenLabel)

// newRegistrationToken returns a random registration token (256 bits) and
// the SHA-256 under which it is stored.
func newRegistrationToken() (string, []byte) {
	t := registrationTokenPrefix + rand.Text() + rand.Text()
	return t, hashToken(t)
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// newCode returns a uniformly random verification code of n digits.
func newCode(n int) string {
	limit := uint64(1)
	for range n {
		limit *= 10
	}
	// Uniform over [0, limit): values from the top partial block of
	// 2^64 are drawn again.
	top := math.MaxUint64 - math.MaxUint64%limit
	var b [8]byte
	for {
		rand.Read(b[:])
		v := binary.LittleEndian.Uint64(b[:])
		if v >= top {
			continue
		}
		v %= limit
		var digits [maxCodeDigits]byte
		for i := n - 1; i >= 0; i-- {
			digits[i] = byte('0' + v%10)
			v /= 10
		}
		return string(digits[:n])
	}
}

// newNonce returns 32 random bytes.
func newNonce() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}
