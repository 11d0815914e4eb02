package pgxstore_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/deviceauth/deviceauth/internal/protocol"
)

// BenchmarkBaselineSignVerify is the floor of a challenge cycle: one ES256
// signature by the device and one verification by the server. A copy of the
// root package's, so that the ratio of BenchmarkChallengeCyclePostgres to it
// comes from one run.
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

// BenchmarkChallengeCyclePostgres is one whole cycle through Service calls
// over pgxstore on the real server (rate limits off): track → fetch → the
// device signs → respond → validate, 11 round trips of which 4 commit a
// write, each waiting for the server's WAL flush.
func BenchmarkChallengeCyclePostgres(b *testing.B) {
	e := newCycleEnv(b, newPool(b, 4))
	for b.Loop() {
		e.cycle(b, func(int) {})
	}
}

// BenchmarkChallengeCyclePostgresAsyncCommit is the same cycle with
// synchronous_commit off for the benchmark's sessions, so commits do not
// wait for the disk: what is left is round trips and work.
func BenchmarkChallengeCyclePostgresAsyncCommit(b *testing.B) {
	e := newCycleEnv(b, newPool(b, 4, noCommitFlush))
	for b.Loop() {
		e.cycle(b, func(int) {})
	}
}
