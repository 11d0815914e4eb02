package roottest_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/internal/seam"
)

// The anonymous creator of a QR challenge cannot choose what the phone
// shows, nor use a QR challenge for another action to sign in.
func TestQR_AnonymousCreatorCannotChooseTheAction(t *testing.T) {
	q := newQREnv(t)
	browser := q.browser()
	for _, body := range []string{`{"action":"transfer"}`, `{"action":"addAuthenticator"}`, `{"action":"Sign in to your bank"}`} {
		if st, eb := q.call(t, browser, "POST", "/v1/qr", body, nil); st != 400 || eb.Error != "invalid_request" {
			t.Fatalf("create QR with %s: %d %+v, want 400 invalid_request", body, st, eb)
		}
	}
	if _, err := q.svc.CreateQR(context.Background(), deviceauth.QRRequest{Action: "transfer"}); !errors.Is(err, deviceauth.ErrInvalidRequest) {
		t.Fatalf("CreateQR for transfer: %v, want invalid_request", err)
	}
	if qc := q.createQR(t, browser, `{"action":"signIn"}`); qc.ChallengeID == "" {
		t.Fatal("no sign-in QR challenge")
	}
}

func TestQR_OnlyASignInActionSignsIn(t *testing.T) {
	q := newQREnv(t, func(c *deviceauth.Config) { c.QRActions = []string{deviceauth.ActionSignIn, "approveOrder"} })
	ctx := context.Background()
	phone := q.enrol("alice", "ES256")
	browser := q.browser()
	qc := q.createQR(t, browser, `{"action":"approveOrder"}`)
	approveQR(t, phone, qc)
	if st, eb := q.call(t, browser, "POST", "/v1/qr/"+qc.ChallengeID+"/complete", "", nil); st != 403 || eb.Error != "challenge_failed" {
		t.Fatalf("completing an approveOrder QR challenge: %d %+v, want 403 challenge_failed", st, eb)
	}
	if got := q.signIns(); len(got) != 0 {
		t.Fatalf("an approveOrder QR challenge signed in %v", got)
	}
	// Refused before it was consumed: the application's own completion
	// still validates it, once, for its action.
	var binding string
	for _, c := range browser.Jar.Cookies(mustParseURL(t, q.srv.URL+"/deviceauth")) {
		if c.Name == qrBindingCookie(qc.ChallengeID) {
			binding = c.Value
		}
	}
	v, err := q.svc.CompleteQR(ctx, qc.ChallengeID, binding)
	if err != nil || !v.Valid || v.Action != "approveOrder" || v.UserID != "alice" || v.Method != deviceauth.MethodQRCode {
		t.Fatalf("CompleteQR = %+v, %v; want alice's approveOrder by QR_CODE", v, err)
	}
}

// QR creation and claim respect the wrong-code block, across instances:
// wrong codes typed for QR challenges counted on one instance block the
// phone's user from claiming, and the browser's IP from creating, on the
// other, until the window ends.
func TestQR_WrongCodeBlockStopsClaimAndCreation(t *testing.T) {
	limit := func(c *deviceauth.Config) { c.WrongCodeLimit = 2 }
	q := newQREnv(t, limit, noRateLimits)
	ctx := context.Background()
	kd := q.enrolKeyed("alice")
	other, attacker := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("203.0.113.9")
	b, err := deviceauth.New(deviceauth.Config{Store: q.store, Keys: [][]byte{bytes.Repeat([]byte{7}, 32)},
		PublicURL: q.srv.URL + "/deviceauth", Now: q.clock.Now, WrongCodeLimit: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	alice := seam.Device{CredentialID: kd.CredentialID, UserID: "alice"}
	create := func(svc *deviceauth.Service, ip netip.Addr) (deviceauth.QRChallenge, device.QRCode, error) {
		qc, err := svc.CreateQR(ctx, deviceauth.QRRequest{ClientIP: ip})
		if err != nil {
			return qc, device.QRCode{}, err
		}
		code, err := device.ParseQRPayload(qc.Payload)
		if err != nil {
			t.Fatal(err)
		}
		return qc, code, nil
	}

	// The attacker's QR codes, claimed and answered with wrong codes on A.
	for range 2 {
		qc, code, err := create(q.svc, attacker)
		if err != nil {
			t.Fatal(err)
		}
		view, err := cycletest.ClaimQR(q.svc, ctx, alice, code.ChallengeID, code.ClaimSecret)
		if err != nil {
			t.Fatal(err)
		}
		wrong := "00"
		if qc.VerificationCode == wrong {
			wrong = "11"
		}
		ch := device.Challenge{ID: view.ChallengeID, Action: view.Action, Nonce: view.Nonce, Details: view.Details}
		if _, err := q.svc.Respond(ctx, kd.response(t, ch, "approve", wrong)); !errors.Is(err, deviceauth.ErrWrongCode) {
			t.Fatalf("a wrong code: %v", err)
		}
	}
	// On B: alice's phone may claim nothing, and the challenge stays
	// unclaimed; the attacker's IP may create nothing.
	_, code, err := create(b, other)
	if err != nil {
		t.Fatalf("CreateQR from another IP: %v", err)
	}
	if _, err := cycletest.ClaimQR(b, ctx, alice, code.ChallengeID, code.ClaimSecret); !errors.Is(err, deviceauth.ErrRateLimited) {
		t.Fatalf("a blocked user's claim: %v, want rate_limited", err)
	}
	if _, _, err := create(b, attacker); !errors.Is(err, deviceauth.ErrRateLimited) {
		t.Fatalf("CreateQR from the IP whose codes were wrong: %v, want rate_limited", err)
	}
	// The window ends: both work again.
	q.clock.Advance(10 * time.Minute)
	if _, _, err := create(b, attacker); err != nil {
		t.Fatalf("CreateQR after the window: %v", err)
	}
	_, code, _ = create(b, other)
	if _, err := cycletest.ClaimQR(b, ctx, alice, code.ChallengeID, code.ClaimSecret); err != nil {
		t.Fatalf("a claim after the window: %v", err)
	}
}
