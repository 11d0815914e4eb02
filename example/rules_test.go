package main

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/risk"
	"github.com/deviceauth/deviceauth/rules"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// TestRules_ExampleFile tests the demo's rules.yaml the way an app tests
// its own: through the Service's Explain, which computes the signals from
// what the store holds and evaluates every rule with no side effects.
func TestRules_ExampleFile(t *testing.T) {
	app, err := NewApp(AppConfig{BaseURL: "http://127.0.0.1:1", Store: memstore.New(), Key: randomKey(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(context.Background())
	ctx := t.Context()
	ip := netip.MustParseAddr("192.0.2.1")
	transfer := func(eur float64) deviceauth.TrackRequest {
		return deviceauth.TrackRequest{UserID: "ada", Action: "transfer", ClientIP: ip, Amount: risk.Amount{Value: eur, Currency: "EUR"}}
	}
	explain := func(what string, req deviceauth.TrackRequest, state deviceauth.ActionState, rule string, code bool) {
		t.Helper()
		e, err := app.svc.Explain(ctx, req)
		if err != nil {
			t.Fatalf("%s: Explain: %v", what, err)
		}
		if e.Decision.State != state || e.Decision.Rule != rule || e.Decision.VerificationCode != code {
			t.Fatalf("%s: %s by %q (code %v), want %s by %q (code %v)", what, e.Decision.State, e.Decision.Rule, e.Decision.VerificationCode, state, rule, code)
		}
	}
	explain("a small transfer from a new place", transfer(25), deviceauth.StateChallengeRequired, "new-place", true)
	explain("a transfer of 10 000 EUR", transfer(10000), deviceauth.StateReview, "large-transfer", false)
	explain("9 999.99 EUR", transfer(9999.99), deviceauth.StateChallengeRequired, "new-place", true)
	// Explain recorded nothing: ten real transfers in a minute are fine,
	// the eleventh is a burst.
	for range 10 {
		if _, err := app.svc.Track(ctx, transfer(25)); err != nil {
			t.Fatal(err)
		}
	}
	explain("the eleventh transfer in a minute", transfer(25), deviceauth.StateBlock, "transfer-burst", false)
	explain("another action meanwhile", deviceauth.TrackRequest{UserID: "ada", Action: "addAuthenticator", ClientIP: ip},
		deviceauth.StateChallengeRequired, "new-place", true)

	// Signals the demo cannot stage in a unit test (three denials), set by
	// hand on the compiled file.
	set, err := loadRules()
	if err != nil {
		t.Fatal(err)
	}
	s := rules.NewSignals("addAuthenticator")
	s.Failures.Denies, s.Failures.WrongCodes = 2, 1
	s.Known.Prefix, s.Known.Browser = true, true
	if e := set.Explain(ctx, s); e.Result.Verdict.Outcome != rules.Block || e.Result.Rule != "too-many-failures" {
		t.Fatalf("three failures: %+v", e.Result)
	}
	s.Failures = risk.FailureSignals{}
	if e := set.Explain(ctx, s); e.Result.Verdict.Outcome != rules.Challenge || e.Result.Rule != "" || e.Result.Verdict.VerificationCode {
		t.Fatalf("a known place: %+v, want the default challenge", e.Result)
	}
}
