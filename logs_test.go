package deviceauth_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/protocol"
)

// TestLogs_NoSecrets runs every flow (registration, approve with a code,
// wrong code, deny, replay, store failure) with debug logging and checks no
// log line or event carries a token, nonce, code, signature or details.
func TestLogs_NoSecrets(t *testing.T) {
	e := newEnv(t)
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
	for _, r := range []deviceauth.Response{bad, good} {
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
	e.store.Fail.Store(true)
	e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: denied.Token, UserID: "bob", Action: "signIn"})
	e.store.Fail.Store(false)

	logs := e.logs.String()
	events := fmt.Sprintf("%+v", e.events.all())
	if !strings.Contains(logs, res.ChallengeID) || !strings.Contains(logs, "challenge.wrongCode") {
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
