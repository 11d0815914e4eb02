package roottest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
)

// TestLogs_NoSecrets runs every flow (registration, approve with a code,
// wrong code, deny, replay, a method refused at Validate, QR wrong codes
// up to the block, store failure) with debug logging and checks no
// log line or event carries a token, nonce, code, signature or details.
func TestLogs_NoSecrets(t *testing.T) {
	e := newEnv(t, func(c *deviceauth.Config) { c.WrongCodeLimit = 2; c.RecoveryCodes = 4 })
	ctx := context.Background()
	var secrets []string
	g, err := e.svc.MintRegistrationToken(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, g.Token)
	d := e.enrolKeyed("bob")
	// Register alice's device by hand so the proof signature is known.
	reg := deviceauth.Registration{Token: g.Token, Algorithm: "ES256", PublicKey: mustSPKI(t, d), Name: "phone", Platform: "ios", PushToken: "apns-PushSecretAlice"}
	reg.Signature = d.signDER(t, protocol.RegistrationMessageV2(reg.Token, "ES256", reg.PublicKey, reg.Name, reg.Platform, reg.PushToken))
	secrets = append(secrets, protocol.EncodeBase64(reg.Signature), hex.EncodeToString(reg.Signature), "PushSecret")
	if _, err := e.svc.Register(ctx, reg); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPushToken(ctx, "fcm-PushSecretBob"); err != nil {
		t.Fatal(err)
	}

	details := deviceauth.Details{Message: "Pay Zanzibar Holdings", Fields: []deviceauth.Field{{Label: "IBAN", Value: "ZZ9912345678"}}}
	secrets = append(secrets, "Zanzibar", "ZZ9912345678")
	res := e.track("bob", "transfer", details, true)
	secrets = append(secrets, res.Token, "code="+res.VerificationCode, `"`+res.VerificationCode+`"`)
	ch, err := d.Challenge(ctx, res.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, protocol.EncodeBase64(ch.Nonce), hex.EncodeToString(ch.Nonce))
	wrong := "00"
	if res.VerificationCode == wrong {
		wrong = "01"
	}
	secrets = append(secrets, `"`+wrong+`"`)
	bad := d.response(t, ch, "approve", wrong)
	good := d.response(t, ch, "approve", res.VerificationCode)
	for _, r := range []deviceauth.DeviceAnswer{bad, good} {
		secrets = append(secrets, protocol.EncodeBase64(r.Signature), hex.EncodeToString(r.Signature))
	}
	if _, err := e.svc.Respond(ctx, bad); !errorsIs(err, deviceauth.ErrWrongCode) {
		t.Fatalf("wrong code: %v", err)
	}
	if _, err := e.svc.Respond(ctx, good); err != nil {
		t.Fatal(err)
	}
	e.svc.Respond(ctx, good) // a replay, logged as refused
	e.validate(res.Token, "bob", "other", details)
	if v := e.validate(res.Token, "bob", "transfer", details); !v.Valid {
		t.Fatal("validation failed")
	}
	denied := e.track("bob", "signIn", deviceauth.Details{}, false)
	secrets = append(secrets, denied.Token)
	dch, _ := d.Challenge(ctx, denied.ChallengeID)
	d.Deny(ctx, dch, "not_me")

	// A phone's approval refused where a passkey is asked for.
	pk := e.track("bob", "transfer", details, true)
	secrets = append(secrets, pk.Token, `"`+pk.VerificationCode+`"`)
	pch, _ := d.Challenge(ctx, pk.ChallengeID)
	if _, err := e.svc.Respond(ctx, d.response(t, pch, "approve", pk.VerificationCode)); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: pk.Token, UserID: "bob", Action: "transfer", Details: details,
		Methods: []deviceauth.Method{deviceauth.MethodPasskey}}); v.Valid {
		t.Fatal("a phone's approval validated for a passkey")
	}
	// QR wrong codes up to the block, then a refused claim and creation.
	bobDev := seam.Device{CredentialID: d.CredentialID, UserID: "bob"}
	qrIP := netip.MustParseAddr("203.0.113.9")
	for range 2 {
		qc, err := e.svc.CreateQR(ctx, deviceauth.QRRequest{ClientIP: qrIP})
		if err != nil {
			t.Fatal(err)
		}
		code, _ := device.ParseQRPayload(qc.Payload)
		secrets = append(secrets, code.ClaimSecret, qc.Binding, `"`+qc.VerificationCode+`"`)
		view, err := cycletest.ClaimQR(e.svc, ctx, bobDev, code.ChallengeID, code.ClaimSecret)
		if err != nil {
			t.Fatal(err)
		}
		wrong := "00"
		if qc.VerificationCode == wrong {
			wrong = "01"
		}
		qch := device.Challenge{ID: view.ChallengeID, Action: view.Action, Nonce: view.Nonce, Details: view.Details}
		e.svc.Respond(ctx, d.response(t, qch, "approve", wrong))
	}
	qc, _ := e.svc.CreateQR(ctx, deviceauth.QRRequest{})
	code, _ := device.ParseQRPayload(qc.Payload)
	secrets = append(secrets, code.ClaimSecret, qc.Binding)
	if _, err := cycletest.ClaimQR(e.svc, ctx, bobDev, code.ChallengeID, code.ClaimSecret); !errorsIs(err, deviceauth.ErrRateLimited) {
		t.Fatalf("a blocked claim: %v", err)
	}
	if _, err := e.svc.CreateQR(ctx, deviceauth.QRRequest{ClientIP: qrIP}); !errorsIs(err, deviceauth.ErrRateLimited) {
		t.Fatalf("a blocked creation: %v", err)
	}
	// The lifecycle: a first-device token refused after the first
	// enrolment, a removal with step-up and one a device signs itself.
	early, _ := e.svc.MintRegistrationToken(ctx, "carol", "")
	secrets = append(secrets, early.Token)
	carol := e.enrol("carol", "ES256")
	if _, err := e.device("ES256").Register(ctx, early.Token, "thief", "android"); apiCode(err) != "registration_failed" {
		t.Fatalf("the early token: %v", err)
	}
	addRes := e.track("carol", deviceauth.ActionAddAuthenticator, deviceauth.Details{}, true)
	secrets = append(secrets, addRes.Token, `"`+addRes.VerificationCode+`"`)
	approve(t, carol, addRes.ChallengeID, addRes.VerificationCode)
	added, _ := e.svc.MintRegistrationToken(ctx, "carol", addRes.Token)
	secrets = append(secrets, added.Token)
	tablet := e.device("ES256")
	tablet.Register(ctx, added.Token, "tablet", "android")
	cs, _ := e.svc.Credentials(ctx, "carol")
	i := slices.IndexFunc(cs, func(c deviceauth.Credential) bool { return c.ID == tablet.CredentialID })
	rmRes := e.track("carol", deviceauth.ActionRemoveAuthenticator, deviceauth.RemovalDetails(cs[i]), true)
	secrets = append(secrets, rmRes.Token, `"`+rmRes.VerificationCode+`"`)
	approve(t, carol, rmRes.ChallengeID, rmRes.VerificationCode)
	if err := e.svc.RemoveCredential(ctx, "carol", tablet.CredentialID, rmRes.Token); err != nil {
		t.Fatal(err)
	}
	rcRes := e.track("carol", deviceauth.ActionRecoveryCodes, deviceauth.Details{}, true)
	secrets = append(secrets, rcRes.Token, `"`+rcRes.VerificationCode+`"`)
	approve(t, carol, rcRes.ChallengeID, rcRes.VerificationCode)
	codes, err := e.svc.RecoveryCodes(ctx, "carol", rcRes.Token)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, codes...)
	e.svc.MintRegistrationToken(ctx, "carol", "ZZZZ-ZZZZ-ZZZZ-ZZZZ") // a wrong code
	secrets = append(secrets, "ZZZZ-ZZZZ-ZZZZ-ZZZZ")
	if g, err := e.svc.MintRegistrationToken(ctx, "carol", codes[0]); err != nil {
		t.Fatal(err)
	} else {
		secrets = append(secrets, g.Token)
	}
	carol.Remove(ctx)

	e.store.Fail.Store(true)
	e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: denied.Token, UserID: "bob", Action: "signIn"})
	e.store.Fail.Store(false)

	logs := e.logs.String()
	events := fmt.Sprintf("%+v", e.events.all())
	if !strings.Contains(logs, res.ChallengeID) || !strings.Contains(logs, "challenge.wrongCode") ||
		!strings.Contains(events, "method_not_admitted") || !strings.Contains(events, "wrong_code_limit") ||
		!strings.Contains(logs, "registration.refused") || !strings.Contains(logs, "sessions.endOthers") ||
		!strings.Contains(logs, "recoveryCode.used") {
		t.Fatalf("the logs do not show the flow at all:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a log line carries the secret %q", s)
		}
		if strings.Contains(events, s) {
			t.Errorf("an event carries the secret %q", s)
		}
	}
}

// A device that signs for another host than Config.PublicURL (here
// localhost where the server is configured as 127.0.0.1) is refused, and
// the log says so with both authorities — the one thing a bad signature
// cannot tell by itself. A signature that is simply wrong says nothing of
// the kind.
func TestLogs_AuthorityMismatchNamesBothHosts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.enrolKeyed("bob")
	u, err := url.Parse(e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	expected := u.Host // 127.0.0.1:PORT
	received := "localhost:" + u.Port()
	elsewhere, err := device.New("http://"+received+"/deviceauth", d.key)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere.CredentialID, elsewhere.Now = d.CredentialID, e.clock.Now
	if _, err := elsewhere.Pending(ctx); !isUnauthorized(err) {
		t.Fatalf("a request signed for %s: %v, want unauthorized", received, err)
	}
	line := logLine(e.logs.String(), "another host than Config.PublicURL")
	for _, want := range []string{`"level":"INFO"`, `"expectedAuthority":"` + expected + `"`, `"receivedAuthority":"` + received + `"`,
		`"credentialId":"` + d.CredentialID + `"`} {
		if !strings.Contains(line, want) {
			t.Fatalf("the log line %q lacks %s; logs:\n%s", line, want, e.logs.String())
		}
	}
	if strings.Contains(line, "Signature") || strings.Contains(line, "nonce") {
		t.Fatalf("the log line carries signature material: %s", line)
	}

	// Another key's signature, sent to the same other host: refused, and
	// not explained as a host mismatch.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forger, err := device.New("http://"+received+"/deviceauth", other)
	if err != nil {
		t.Fatal(err)
	}
	forger.CredentialID, forger.Now = d.CredentialID, e.clock.Now
	before := strings.Count(e.logs.String(), "another host than Config.PublicURL")
	if _, err := forger.Pending(ctx); !isUnauthorized(err) {
		t.Fatalf("a forged request: %v, want unauthorized", err)
	}
	if after := strings.Count(e.logs.String(), "another host than Config.PublicURL"); after != before {
		t.Fatalf("a wrong signature was logged as a host mismatch:\n%s", e.logs.String())
	}
}

// isUnauthorized reports whether a device call was refused 401
// unauthorized.
func isUnauthorized(err error) bool {
	e, ok := err.(*device.Error)
	return ok && e.Status == 401 && e.Code == "unauthorized"
}

// logLine is the first line of logs containing s, "" when none does.
func logLine(logs, s string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
