package redisstore

import (
	"crypto/sha256"
	"encoding/base64"
)

// keyspace names the keys of one prefix (see the package doc for the
// layout). Records live in a hash tag of their own ID; what is scoped to a
// user lives in the user's tag, so that every operation can be made of
// scripts on one slot each (on a Cluster; a single node runs scripts across
// tags).
type keyspace struct {
	base string // "<prefix>:v1:"
}

func newKeyspace(prefix string) keyspace { return keyspace{base: prefix + ":v1:"} }

func (k keyspace) challenge(id string) string  { return k.base + "{c:" + id + "}" }
func (k keyspace) credential(id string) string { return k.base + "{k:" + id + "}" }

// user returns the hash tag of userID's keys. 128 bits of SHA-256 keep
// arbitrary user IDs short and free of braces; finding two user IDs with one
// tag is out of reach.
func (k keyspace) user(userID string) string {
	h := sha256.Sum256([]byte(userID))
	return k.base + "{u:" + base64.RawURLEncoding.EncodeToString(h[:16]) + "}"
}

// userCredentials names userID's credential index: a hash of credential ID
// to kind.
func (k keyspace) userCredentials(userID string) string { return k.user(userID) + ":creds" }
func (k keyspace) userPending(userID string) string     { return k.user(userID) + ":pending" }

// idempotency names the key that maps userID's idempotency key to the
// challenge it created.
func (k keyspace) idempotency(userID, key string) string {
	h := sha256.Sum256([]byte(key))
	return k.user(userID) + ":idem:" + base64.RawURLEncoding.EncodeToString(h[:])
}

func (k keyspace) registrationToken(hash []byte) string {
	return k.base + "rt:" + base64.RawURLEncoding.EncodeToString(hash)
}

func (k keyspace) counter(key string) string { return k.base + "ctr:" + key }
func (k keyspace) nonce(nonce string) string { return k.base + "nonce:" + nonce }

// wakeChannel is the pub/sub channel on which every change of a challenge
// publishes its ID.
func (k keyspace) wakeChannel() string { return k.base + "wake" }
