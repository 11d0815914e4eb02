package redisstore_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// BenchmarkBaselineSignVerify is the floor of a challenge cycle (DESIGN §9):
// one ES256 signature by the device and one verification by the server. A
// copy of the root package's, so that one go test -bench run reports the
// floor beside the cycles below.
func BenchmarkBaselineSignVerify(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	msg := protocol.ResponseMessage(protocol.Response{ChallengeID: protocol.NewID(), Nonce: make([]byte, 32),
		Action: "transfer", CredentialID: protocol.NewID(), Decision: "approve", DetailsDigest: make([]byte, 32)})
	for b.Loop() {
		h := sha256.Sum256(msg)
		sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
		if err != nil {
			b.Fatal(err)
		}
		h2 := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(&key.PublicKey, h2[:], sig) {
			b.Fatal("did not verify")
		}
	}
}

// BenchmarkChallengeCycleRedis is one whole cycle through Service calls
// (track → fetch → the device signs → respond → validate, as
// BenchmarkChallengeCycle in the root package) over this store: against the
// Redis of DEVICEAUTH_REDIS_URL (skipped without it) and against miniredis.
func BenchmarkChallengeCycleRedis(b *testing.B) {
	b.Run("Redis", func(b *testing.B) {
		client := realRedisClient(b)
		benchmarkCycle(b, newStore(b, client, isolatedPrefix(b, client)))
	})
	b.Run("Miniredis", func(b *testing.B) {
		_, client := miniredisClient(b)
		benchmarkCycle(b, newStore(b, client, "deviceauth"))
	})
}

// benchmarkCycle runs cycles with rate limits off, as the root package's
// BenchmarkChallengeCycle does.
func benchmarkCycle(b *testing.B, st store.Store) {
	e := newCycleEnv(b, st, false)
	e.run(b, nil) // warm-up: connections made, scripts known
	for b.Loop() {
		e.run(b, nil)
	}
}
