package instancetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// compatAcross proves the compat credential kind (package
// compat/authsignal, through the Service's steps it is built on) on a real
// store across two instances: a compat key registered on A answers on B
// a challenge tracked on A; its approval validates exactly once across
// both, and only where weak bindings are admitted; a QR challenge a
// browser created on A is claimed on B and answered on A; a native route
// never passes on a compat approval.
func compatAcross(t *testing.T, A, B *Instance, rounds int) {
	ctx := context.Background()
	user := "compat-" + rand.Text()[:8]
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := seam.Compat.Register(A.Service, ctx, seam.CompatRegistration{UserID: user, PublicKey: spki, Name: "compat phone", Platform: "android"})
	if err != nil {
		t.Fatalf("registering a compat key on A: %v", err)
	}
	if got, err := seam.Compat.Credential(B.Service, ctx, cred.ID); err != nil || got.Kind != store.KindCompat || got.UserID != user {
		t.Fatalf("the compat key read on B = %+v, %v", got, err)
	}
	sign := func(id string) []byte {
		h := sha256.Sum256([]byte(id))
		sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}

	for round := range max(rounds/5, 2) {
		r, err := seam.Compat.Track(A.Service, ctx, deviceauth.TrackRequest{UserID: user, Action: "transfer"})
		if err != nil {
			t.Fatalf("round %d: compat track on A: %v", round, err)
		}
		res := r.(deviceauth.TrackResult)
		if _, err := seam.Compat.Answer(B.Service, ctx, seam.CompatAnswer{ChallengeID: res.ChallengeID, CredentialID: cred.ID, Approve: true, Signature: sign(res.ChallengeID)}); err != nil {
			t.Fatalf("round %d: compat approval on B: %v", round, err)
		}
		// Refused where weak bindings are not admitted, on both, without
		// using the approval up.
		for _, in := range []*Instance{A, B} {
			if v, err := in.Service.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: user, Action: "transfer"}); err != nil || v.Valid {
				t.Fatalf("round %d: a compat approval validated without weak bindings: %+v, %v", round, v, err)
			}
		}
		if st := B.Gated(t, user, res.Token); st != 403 {
			t.Fatalf("round %d: a native route on a compat approval: %d, want 403", round, st)
		}
		var valid atomic.Int64
		Race(32, func(i int) {
			in := A
			if i%2 == 1 {
				in = B
			}
			v, err := in.Service.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: user, Action: "transfer", WeakBinding: true})
			if err != nil {
				t.Errorf("Validate: %v", err)
			}
			if v.Valid {
				if !v.WeakBinding || v.CredentialID != cred.ID {
					t.Errorf("a compat approval validated as %+v", v)
				}
				valid.Add(1)
			}
		})
		if valid.Load() != 1 {
			t.Fatalf("round %d: %d validations of one compat approval across two instances, want 1", round, valid.Load())
		}
	}

	// A QR challenge a browser created on A, claimed on B, approved on A,
	// read with the browser's binding on B.
	ch, binding, err := seam.Compat.Create(A.Service, ctx, true, deviceauth.ActionSignIn, "192.0.2.7", "Browser/1")
	if err != nil {
		t.Fatalf("compat QR on A: %v", err)
	}
	if _, err := seam.Compat.Claim(B.Service, ctx, seam.CompatAnswer{ChallengeID: ch.ID, CredentialID: cred.ID, Signature: sign(ch.ID)}); err != nil {
		t.Fatalf("claim on B: %v", err)
	}
	if _, err := seam.Compat.Claim(A.Service, ctx, seam.CompatAnswer{ChallengeID: ch.ID, CredentialID: cred.ID, Signature: sign(ch.ID)}); !errors.Is(err, deviceauth.ErrChallengeClosed) {
		t.Fatalf("a second claim on A: %v, want ErrChallengeClosed", err)
	}
	if _, err := seam.Compat.Answer(A.Service, ctx, seam.CompatAnswer{ChallengeID: ch.ID, CredentialID: cred.ID, Approve: true, Signature: sign(ch.ID)}); err != nil {
		t.Fatalf("approval on A: %v", err)
	}
	got, err := seam.Compat.Bound(B.Service, ctx, ch.ID, binding)
	if err != nil || got.State != store.StateApproved || got.UserID != user || got.ClaimedBy != cred.ID {
		t.Fatalf("the QR challenge read on B = %+v, %v", got, err)
	}
	tok := seam.Compat.Token(B.Service, ch.ID)
	if v, err := B.Service.Validate(ctx, deviceauth.ValidateRequest{Token: tok, UserID: user, Action: deviceauth.ActionSignIn, WeakBinding: true}); err != nil || !v.Valid {
		t.Fatalf("the QR sign-in on B: %+v, %v", v, err)
	}
	if v, err := A.Service.Validate(ctx, deviceauth.ValidateRequest{Token: tok, UserID: user, Action: deviceauth.ActionSignIn, WeakBinding: true}); err != nil || v.Valid {
		t.Fatalf("the QR sign-in again on A: %+v, %v", v, err)
	}
}
