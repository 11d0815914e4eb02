package redisstore

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/deviceauth/deviceauth/internal/ids"
)

// keyspace names the keys of one prefix (see the package doc for the
// layout). A user's keys live in the hash tag of the user's tag
// (ids.UserTag), and so do the records whose IDs carry a tag
// (ids.IDTag) and the counters whose keys name a user; a record whose ID
// carries none lives in a tag of its own ID. Keys that share a tag share a
// slot (and a Ring's shard), so a script may declare them all, on a Cluster
// too.
type keyspace struct {
	base string // "<prefix>:v1:"
}

func newKeyspace(prefix string) keyspace { return keyspace{base: prefix + ":v1:"} }

// userTag is the hash tag of the keys of a user whose tag is tag.
func (k keyspace) userTag(tag string) string { return k.base + "{t:" + tag + "}" }

// record names the record id of a type (c, k): in the tag id carries, or
// in a tag of its own.
func (k keyspace) record(typ, id string) string {
	if tag, ok := ids.IDTag(id); ok {
		return k.taggedRecords(typ, tag) + id
	}
	return k.base + "{" + typ + ":" + id + "}"
}

// taggedRecords is the start of the names of the records of a type whose
// IDs carry tag: the name of each is it and the ID.
func (k keyspace) taggedRecords(typ, tag string) string { return k.userTag(tag) + ":" + typ + ":" }

func (k keyspace) challenge(id string) string  { return k.record("c", id) }
func (k keyspace) credential(id string) string { return k.record("k", id) }
func (k keyspace) ceremony(id string) string   { return k.record("ce", id) }

// user returns the prefix of userID's keys: the user's tag, then 128 bits
// of SHA-256 of the user ID, which keep arbitrary user IDs short and free
// of braces (finding two user IDs with one hash is out of reach; the tag,
// 18 bits, only places the keys).
func (k keyspace) user(userID string) string {
	h := sha256.Sum256([]byte(userID))
	return k.userTag(ids.UserTag(userID)) + ":u:" + base64.RawURLEncoding.EncodeToString(h[:16])
}

// userCredentials names userID's credential index: a hash of credential ID
// to kind (see credentialHint).
func (k keyspace) userCredentials(userID string) string { return k.user(userID) + ":creds" }
func (k keyspace) userPending(userID string) string     { return k.user(userID) + ":pending" }

// userRecovery names userID's recovery codes: a set of code hashes, in the
// user's hash tag.
func (k keyspace) userRecovery(userID string) string { return k.user(userID) + ":recovery" }

// idempotency names the key that maps userID's idempotency key to the
// challenge it created.
func (k keyspace) idempotency(userID, key string) string {
	h := sha256.Sum256([]byte(key))
	return k.user(userID) + ":idem:" + base64.RawURLEncoding.EncodeToString(h[:])
}

func (k keyspace) registrationToken(hash []byte) string {
	return k.base + "rt:" + base64.RawURLEncoding.EncodeToString(hash)
}

// counter names counter key: in the tag of the user the key names (see
// ids.CounterUser), else outside any user's tag.
func (k keyspace) counter(key string) string {
	if user, ok := ids.CounterUser(key); ok {
		return k.userTag(ids.UserTag(user)) + ":ctr:" + key
	}
	return k.base + "ctr:" + key
}

func (k keyspace) nonce(nonce string) string { return k.base + "nonce:" + nonce }

// wakeChannel is the pub/sub channel on which every change of a challenge
// publishes its ID.
func (k keyspace) wakeChannel() string { return k.base + "wake" }

// hashTag is the part of key that Redis Cluster (and a Ring) hashes to place
// it: the text between the first '{' and the first '}' after it when that
// is not empty, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// oneTag reports whether keys share a hash tag, and so a slot and a node:
// one script may then declare them all. Keys of different tags may share a
// slot by chance; they are taken for keys of different slots, which costs
// round trips, never correctness (and a Ring places them apart anyway).
func oneTag(keys ...string) bool {
	for _, key := range keys[1:] {
		if hashTag(key) != hashTag(keys[0]) {
			return false
		}
	}
	return true
}

// credentialHint marks an entry of a user's credential index that was
// written in another step than its record (the record lives in another
// slot: see the package doc), so that it is a hint: a record may be gone
// while its entry stays. The entry's value is then the marker and the
// kind. Entries written with their record in one script are the kind
// alone, exact.
const credentialHint = "?"
