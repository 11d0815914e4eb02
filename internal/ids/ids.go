// Package ids mints and reads the record IDs and counter keys that carry a
// user's tag, so that a store which must keep one user's records together
// (Redis Cluster, where a script runs only on keys of one hash slot) can
// place a record from its ID or key alone. The Service mints with it;
// redisstore reads with it; every other store treats IDs and keys as
// opaque. It is internal: the tag is a placement detail between this
// module's Service and its stores, not API.
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// User tags let a store keep one user's records together when it must
// find a record from its ID alone: Redis Cluster runs a script only on keys
// of one hash slot, so a challenge, its user's credentials and its user's
// indexes can be changed in one script only when they share a slot. The
// Service therefore mints the IDs of records it creates for a known user
// with NewUserID, which puts UserTag(userID) inside the ID; IDTag reads it
// back. Other stores treat IDs as opaque.
//
// A tag is TagLen base64url characters of SHA-256 over a label and the user
// ID: 18 bits, enough to spread users over every hash slot, too few to
// tell who a user is or whether two IDs with one tag are one user's.

// TagLen is the length of a user tag.
const TagLen = 3

// TaggedIDLen is the length of an ID NewUserID mints: a two-letter type,
// "_", the tag and 22 random characters (128 bits).
const TaggedIDLen = 2 + 1 + TagLen + 22

// UserTag is the tag of userID's records.
func UserTag(userID string) string {
	var tag [TagLen]byte
	putUserTag(tag[:], userID)
	return string(tag[:])
}

// NewUserID returns a new random ID of type prefix (two lower-case
// letters, such as "ch") for a record of userID: prefix, "_", UserTag(userID)
// and 128 random bits in base64url, 28 characters in all.
func NewUserID(prefix, userID string) string {
	if len(prefix) != 2 || !lower(prefix[0]) || !lower(prefix[1]) {
		panic("ids: NewUserID prefix must be two lower-case letters")
	}
	var b [16]byte
	rand.Read(b[:])          // never fails: crypto/rand crashes the program instead
	var id [TaggedIDLen]byte // built in place: one allocation, the string
	copy(id[:], prefix)
	id[2] = '_'
	putUserTag(id[3:3+TagLen], userID)
	base64.RawURLEncoding.Encode(id[3+TagLen:], b[:])
	return string(id[:])
}

// putUserTag writes UserTag(userID) into dst (TagLen bytes).
func putUserTag(dst []byte, userID string) {
	h := sha256.New()
	h.Write(userTagLabel)
	h.Write([]byte(userID))
	var sum [sha256.Size]byte
	var tag [4]byte
	base64.RawURLEncoding.Encode(tag[:], h.Sum(sum[:0])[:3])
	copy(dst, tag[:TagLen])
}

// userTagLabel starts the hashed input of a user tag.
var userTagLabel = []byte("deviceauth/v1/user-tag\x00")

// IDTag returns the user tag inside id and true when id has the form
// NewUserID mints, and "" and false otherwise. Any ID of that form has a
// tag, whoever minted it: a store uses the tag only to place records, so
// an ID that merely looks tagged is placed by a tag no user shares, which
// costs round trips, never correctness.
func IDTag(id string) (string, bool) {
	if len(id) != TaggedIDLen || id[2] != '_' || !lower(id[0]) || !lower(id[1]) {
		return "", false
	}
	for i := 3; i < len(id); i++ {
		if !base64URL(id[i]) {
			return "", false
		}
	}
	return id[3 : 3+TagLen], true
}

func lower(c byte) bool { return 'a' <= c && c <= 'z' }

func base64URL(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// UserCounterKey names a counter of userID: name, the user ID's length in
// bytes, the user ID and rest, joined by ":" (the length makes the user
// unambiguous whatever bytes it holds). CounterUser reads the user back, so
// a store that keeps a user's records together may keep such counters with
// them — Redis Cluster does, so that BeginChallenge reads the wrong-code
// counter in the user's slot.
func UserCounterKey(name, userID, rest string) string {
	return name + ":" + strconv.Itoa(len(userID)) + ":" + userID + ":" + rest
}

// CounterUser returns the user a counter key names when it has the form
// UserCounterKey makes, and false otherwise. A key that merely looks so
// names a user it does not belong to, which may cost a store round trips,
// never correctness: every method places a key the same way.
func CounterUser(key string) (string, bool) {
	_, rest, ok := strings.Cut(key, ":")
	if !ok {
		return "", false
	}
	digits, rest, ok := strings.Cut(rest, ":")
	if !ok || digits == "" || len(digits) > 9 || (len(digits) > 1 && digits[0] == '0') {
		return "", false
	}
	n := 0
	for i := range len(digits) {
		c := digits[i]
		if c < '0' || c > '9' {
			return "", false
		}
		n = n*10 + int(c-'0')
	}
	if n >= len(rest) || rest[n] != ':' {
		return "", false
	}
	return rest[:n], true
}
