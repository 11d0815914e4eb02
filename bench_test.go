package deviceauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/protocol"
)

// BenchmarkBaselineSignVerify is the floor of a challenge cycle: one ES256
// signature by the device and one verification by the server.
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

// BenchmarkChallengeCycle is one whole cycle through Service calls over
// memstore: track → fetch → the device signs → respond → validate.
func BenchmarkChallengeCycle(b *testing.B) {
	e := newEnv(b, noRateLimits)
	ctx := context.Background()
	d := e.enrolKeyed("alice")
	dev := deviceauth.DeviceIdentity{CredentialID: d.CredentialID, UserID: "alice"}
	for b.Loop() {
		res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails})
		if err != nil {
			b.Fatal(err)
		}
		v, err := e.svc.FetchChallenge(ctx, dev, res.ChallengeID)
		if err != nil {
			b.Fatal(err)
		}
		digest := protocol.DetailsDigest(v.Details)
		msg := protocol.ResponseMessage(protocol.Response{ChallengeID: v.ChallengeID, Nonce: v.Nonce, Action: v.Action,
			CredentialID: d.CredentialID, Decision: "approve", DetailsDigest: digest[:]})
		h := sha256.Sum256(msg)
		sig, _ := ecdsa.SignASN1(rand.Reader, d.key, h[:])
		if _, err := e.svc.Respond(ctx, deviceauth.Response{ChallengeID: v.ChallengeID, CredentialID: d.CredentialID,
			Decision: "approve", Signature: sig}); err != nil {
			b.Fatal(err)
		}
		val, err := e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: "alice", Action: "transfer", Details: transferDetails})
		if err != nil || !val.Valid {
			b.Fatal("not valid", err)
		}
	}
}

// BenchmarkValidate is Validate alone on approved challenges.
func BenchmarkValidate(b *testing.B) {
	e := newEnv(b, noRateLimits)
	ctx := context.Background()
	d := e.enrolKeyed("alice")
	tokens := approvedTokens(b, e, d, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: tokens[i], UserID: "alice", Action: "transfer", Details: transferDetails})
		if err != nil || !v.Valid {
			b.Fatal("not valid", err)
		}
	}
}

// approvedTokens makes n approved challenges and returns their tokens.
func approvedTokens(b *testing.B, e *env, d keyedDevice, n int) []string {
	ctx := context.Background()
	tokens := make([]string, n)
	for i := range tokens {
		res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails})
		if err != nil {
			b.Fatal(err)
		}
		ch, err := d.Challenge(ctx, res.ChallengeID)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.svc.Respond(ctx, d.response(b, ch, "approve", "")); err != nil {
			b.Fatal(err)
		}
		tokens[i] = res.Token
	}
	return tokens
}
