package rules_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/rules"
)

// tenRules is a realistic set: every rule reads a different signal, and
// none matches the benchmark's signals, so all ten are evaluated.
var tenRules = rules.Definition{
	Default: rules.Verdict{Outcome: rules.Challenge},
	Rules: []rules.Rule{
		{Name: "failures", When: "failures.denies + failures.wrongCodes + failures.validations >= 5", Then: rules.Verdict{Outcome: rules.Block}},
		{Name: "burst", When: "velocity.minute > 10", Then: rules.Verdict{Outcome: rules.Block}},
		{Name: "daily", When: "velocity.day > 500", Then: rules.Verdict{Outcome: rules.Review}},
		{Name: "big-eur", Actions: []string{"pay"}, When: `amount.currency == "EUR" && amount.value >= 10000.0`, Then: rules.Verdict{Outcome: rules.Review}},
		{Name: "remembered", When: `known.browser && recency.action < duration("15m")`, Then: rules.Verdict{Outcome: rules.Allow}},
		{Name: "fresh-credential", When: `user.newestCredentialAge < duration("1h")`, Then: rules.Verdict{Outcome: rules.Challenge, VerificationCode: true}},
		{Name: "abroad", When: `geo.country != "" && geo.country != "DE"`, Then: rules.Verdict{Outcome: rules.Challenge, VerificationCode: true}},
		{Name: "bot", When: `request.userAgent.contains("curl")`, Then: rules.Verdict{Outcome: rules.Block}},
		{Name: "vip", When: `"tier" in custom && custom.tier == "vip"`, Then: rules.Verdict{Outcome: rules.Allow}},
		{Name: "new-place", When: `!known.prefix && !known.browser && velocity.hour > 3`, Then: rules.Verdict{Outcome: rules.Challenge, VerificationCode: true}},
	},
}

func benchSignals() rules.Signals {
	s := rules.NewSignals("pay")
	s.User = rules.UserSignals{Enrolled: true, Credentials: 1, Kinds: []string{"device"}, NewestCredentialAge: 48 * time.Hour}
	s.Request = rules.RequestSignals{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
	s.Known = rules.KnownSignals{Prefix: true, Browser: false}
	s.Velocity = rules.VelocitySignals{Minute: 1, Hour: 2, Day: 3}
	s.Amount = rules.Amount{Value: 20, Currency: "EUR"}
	s.Custom = map[string]any{"plan": "basic"}
	s.Geo = rules.Geo{Country: "DE", ASN: 3320}
	return s
}

// BenchmarkEvaluate10 evaluates a 10-rule set where no rule matches, the
// most expensive path. Compare with BenchmarkBaselineSignVerify in the
// same run: the budget is 10% of it.
func BenchmarkEvaluate10(b *testing.B) {
	set, err := rules.New(tenRules, rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	s := benchSignals()
	ctx := context.Background()
	if res := set.Evaluate(ctx, &s); res.Rule != "" || res.Err != nil {
		b.Fatalf("a rule matched or failed: %+v", res)
	}
	b.ReportAllocs()
	for b.Loop() {
		set.Evaluate(ctx, &s)
	}
}

// BenchmarkBaselineSignVerify is one ES256 signature and its verification,
// the cryptographic floor of one challenge.
func BenchmarkBaselineSignVerify(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("deviceauth benchmark challenge"))
	b.ReportAllocs()
	for b.Loop() {
		sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
		if err != nil || !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
			b.Fatal("sign+verify failed")
		}
	}
}
