package rules_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/rules"
)

func mustNew(t *testing.T, def rules.Definition, opts rules.Options) *rules.Set {
	t.Helper()
	set, err := rules.New(def, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return set
}

func oneRule(when string) rules.Definition {
	return rules.Definition{
		Default: rules.Verdict{Outcome: rules.Allow},
		Rules:   []rules.Rule{{Name: "r", When: when, Then: rules.Verdict{Outcome: rules.Block}}},
	}
}

func TestSignalsTable(t *testing.T) {
	tests := []struct {
		name  string
		when  string
		set   func(s *rules.Signals)
		match bool
	}{
		{"new prefix", "!known.prefix", func(s *rules.Signals) {}, true},
		{"known prefix", "!known.prefix", func(s *rules.Signals) { s.Known.Prefix = true }, false},
		{"new browser", "!known.browser", func(s *rules.Signals) {}, true},
		{"known browser", "!known.browser", func(s *rules.Signals) { s.Known.Browser = true }, false},
		{"velocity under", "velocity.minute > 5 || velocity.hour > 20 || velocity.day > 100", func(s *rules.Signals) { s.Velocity = rules.VelocitySignals{Minute: 5, Hour: 20, Day: 100} }, false},
		{"velocity minute over", "velocity.minute > 5", func(s *rules.Signals) { s.Velocity.Minute = 6 }, true},
		{"velocity day over", "velocity.day > 100", func(s *rules.Signals) { s.Velocity.Day = 101 }, true},
		{"failures", "failures.denies + failures.wrongCodes + failures.validations >= 3", func(s *rules.Signals) { s.Failures = rules.FailureSignals{Denies: 1, WrongCodes: 1, Validations: 1} }, true},
		{"failures under", "failures.denies + failures.wrongCodes + failures.validations >= 3", func(s *rules.Signals) { s.Failures.Denies = 2 }, false},
		{"recency never", `recency.action < duration("15m")`, func(s *rules.Signals) {}, false},
		{"recency recent", `recency.action < duration("15m")`, func(s *rules.Signals) { s.Recency.Action = 14 * time.Minute }, true},
		{"recency stale", `recency.any < duration("15m")`, func(s *rules.Signals) { s.Recency.Any = 15 * time.Minute }, false},
		{"amount at threshold", `amount.value >= 1000.0 && amount.currency == "EUR"`, func(s *rules.Signals) { s.Amount = rules.Amount{Value: 1000, Currency: "EUR"} }, true},
		{"amount below threshold", `amount.value >= 1000.0 && amount.currency == "EUR"`, func(s *rules.Signals) { s.Amount = rules.Amount{Value: 999.99, Currency: "EUR"} }, false},
		{"amount other currency", `amount.value >= 1000.0 && amount.currency == "EUR"`, func(s *rules.Signals) { s.Amount = rules.Amount{Value: 5000, Currency: "USD"} }, false},
		{"custom string", `"tier" in custom && custom.tier == "gold"`, func(s *rules.Signals) { s.Custom = map[string]any{"tier": "gold"} }, true},
		{"custom absent", `"tier" in custom && custom.tier == "gold"`, func(s *rules.Signals) {}, false},
		{"custom number", `custom.score > 0.5`, func(s *rules.Signals) { s.Custom = map[string]any{"score": 0.75} }, true},
		{"custom number against int literal", `custom.score > 1 && custom.count == 3.0`, func(s *rules.Signals) { s.Custom = map[string]any{"score": 1.5, "count": 3} }, true},
		{"custom bool", `custom.vip`, func(s *rules.Signals) { s.Custom = map[string]any{"vip": true} }, true},
		{"custom list", `"beta" in custom.flags`, func(s *rules.Signals) { s.Custom = map[string]any{"flags": []any{"alpha", "beta"}} }, true},
		{"custom map", `custom.account.age_days < 7.0`, func(s *rules.Signals) { s.Custom = map[string]any{"account": map[string]any{"age_days": 3.0}} }, true},
		{"user kinds", `"passkey" in user.kinds && user.credentials == 2`, func(s *rules.Signals) { s.User.Kinds = []string{"device", "passkey"}; s.User.Credentials = 2 }, true},
		{"new credential", `user.newestCredentialAge < duration("24h")`, func(s *rules.Signals) { s.User.NewestCredentialAge = time.Hour }, true},
		{"no credential is never new", `user.newestCredentialAge < duration("24h")`, func(s *rules.Signals) {}, false},
		{"request", `request.ip.startsWith("203.0.113.") && request.userAgent.contains("curl")`, func(s *rules.Signals) { s.Request = rules.RequestSignals{IP: "203.0.113.9", UserAgent: "curl/8"} }, true},
		{"geo", `geo.country != "FR" || geo.asn == 64500`, func(s *rules.Signals) { s.Geo = rules.Geo{Country: "FR", ASN: 64501} }, false},
		{"action", `action == "pay"`, func(s *rules.Signals) {}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := mustNew(t, oneRule(tt.when), rules.Options{})
			s := rules.NewSignals("pay")
			tt.set(&s)
			res := set.Evaluate(context.Background(), &s)
			if res.Err != nil {
				t.Fatalf("evaluation error: %v", res.Err)
			}
			want, wantRule := rules.Allow, ""
			if tt.match {
				want, wantRule = rules.Block, "r"
			}
			if res.Verdict.Outcome != want || res.Rule != wantRule {
				t.Fatalf("got %s by %q, want %s by %q", res.Verdict.Outcome, res.Rule, want, wantRule)
			}
		})
	}
}

func TestRulesOrderAndActions(t *testing.T) {
	def := rules.Definition{
		Default: rules.Verdict{Outcome: rules.Challenge},
		Rules: []rules.Rule{
			{Name: "block-all-big", When: "amount.value > 100.0", Then: rules.Verdict{Outcome: rules.Block}},
			{Name: "pay-review", Actions: []string{"pay"}, When: "amount.value > 10.0", Then: rules.Verdict{Outcome: rules.Review}},
			{Name: "login-allow", Actions: []string{"login"}, When: "known.browser", Then: rules.Verdict{Outcome: rules.Allow}},
			{Name: "all-known", When: "known.browser", Then: rules.Verdict{Outcome: rules.Challenge, Methods: []deviceauth.Method{deviceauth.MethodPasskey}, VerificationCode: true}},
		},
	}
	set := mustNew(t, def, rules.Options{})
	tests := []struct {
		action  string
		amount  float64
		browser bool
		want    rules.Outcome
		rule    string
	}{
		{"pay", 500, true, rules.Block, "block-all-big"},
		{"pay", 50, true, rules.Review, "pay-review"},
		{"login", 50, true, rules.Allow, "login-allow"}, // pay-review is not for login
		{"pay", 5, true, rules.Challenge, "all-known"},  // login-allow is not for pay
		{"other", 5, true, rules.Challenge, "all-known"},
		{"other", 5, false, rules.Challenge, ""},
	}
	for _, tt := range tests {
		s := rules.NewSignals(tt.action)
		s.Amount.Value, s.Known.Browser = tt.amount, tt.browser
		res := set.Evaluate(context.Background(), &s)
		if res.Verdict.Outcome != tt.want || res.Rule != tt.rule {
			t.Errorf("%s %v %v: got %s by %q, want %s by %q", tt.action, tt.amount, tt.browser, res.Verdict.Outcome, res.Rule, tt.want, tt.rule)
		}
		if tt.rule == "all-known" && (!res.Verdict.VerificationCode || len(res.Verdict.Methods) != 1 || res.Verdict.Methods[0] != deviceauth.MethodPasskey) {
			t.Errorf("all-known verdict = %+v", res.Verdict)
		}
	}
}

func TestRulesMalformed(t *testing.T) {
	ok := rules.Verdict{Outcome: rules.Block}
	tests := []struct {
		name string
		def  rules.Definition
		want string // substring of the error
		pos  [2]int // line, column for a *CompileError; zero when none
	}{
		{"syntax error", rules.Definition{Default: ok, Rules: []rules.Rule{{Name: "bad", When: "known.prefix &&\n  (velocity.minute > ", Then: ok}}}, `rule "bad": 2:`, [2]int{2, 22}},
		{"unknown variable", rules.Definition{Default: ok, Rules: []rules.Rule{{Name: "typo", When: "known.prefx", Then: ok}}}, `rule "typo": 1:6: undeclared reference`, [2]int{1, 6}},
		{"unknown variable later", rules.Definition{Default: ok, Rules: []rules.Rule{{Name: "typo2", When: "known.prefix && nope > 1", Then: ok}}}, "undeclared reference", [2]int{1, 17}},
		{"wrong type", rules.Definition{Default: ok, Rules: []rules.Rule{{Name: "int", When: "velocity.minute + 1", Then: ok}}}, `rule "int": 1:`, [2]int{1, 17}},
		{"wrong operand type", rules.Definition{Default: ok, Rules: []rules.Rule{{Name: "cmp", When: `amount.value > "x"`, Then: ok}}}, "no matching overload", [2]int{1, 14}},
		{"duplicate names", rules.Definition{Default: ok, Rules: []rules.Rule{{Name: "a", When: "true", Then: ok}, {Name: "a", When: "false", Then: ok}}}, `rule "a": duplicate name`, [2]int{}},
		{"empty name", rules.Definition{Default: ok, Rules: []rules.Rule{{When: "true", Then: ok}}}, "rule 1 has no name", [2]int{}},
		{"unknown outcome", rules.Definition{Default: ok, Rules: []rules.Rule{{Name: "o", When: "true", Then: rules.Verdict{Outcome: "MAYBE"}}}}, `rule "o": unknown outcome "MAYBE"`, [2]int{}},
		{"unknown method", rules.Definition{Default: ok, Rules: []rules.Rule{{Name: "m", When: "true", Then: rules.Verdict{Outcome: rules.Challenge, Methods: []deviceauth.Method{"SMS"}}}}}, `unknown method "SMS"`, [2]int{}},
		{"methods on allow", rules.Definition{Default: ok, Rules: []rules.Rule{{Name: "m", When: "true", Then: rules.Verdict{Outcome: rules.Allow, VerificationCode: true}}}}, "takes no methods", [2]int{}},
		{"no default", rules.Definition{}, `default: unknown outcome ""`, [2]int{}},
		{"bad onError", rules.Definition{Default: ok, OnError: rules.Allow}, "onError", [2]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rules.New(tt.def, rules.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			var ce *rules.CompileError
			if errors.As(err, &ce) != (tt.pos != [2]int{}) {
				t.Fatalf("CompileError = %v for %v", ce, err)
			}
			if ce != nil && (ce.Line != tt.pos[0] || ce.Column != tt.pos[1]) {
				t.Fatalf("position %d:%d, want %d:%d (%v)", ce.Line, ce.Column, tt.pos[0], tt.pos[1], err)
			}
		})
	}
}

type reported struct {
	rule string
	err  error
}

func TestRulesEvaluationErrorFailsClosed(t *testing.T) {
	tests := []struct {
		name    string
		when    string
		onError rules.Outcome
		custom  map[string]any
		want    rules.Verdict
	}{
		{"division by zero", "100 / velocity.minute > 1", "", nil, rules.Verdict{Outcome: rules.Challenge, Methods: []deviceauth.Method{deviceauth.MethodDevice}, VerificationCode: true}},
		{"missing map key", `custom.tier == "gold"`, "", map[string]any{"other": 1}, rules.Verdict{Outcome: rules.Challenge, Methods: []deviceauth.Method{deviceauth.MethodDevice}, VerificationCode: true}},
		{"missing key blocks", `custom.tier == "gold"`, rules.Block, nil, rules.Verdict{Outcome: rules.Block}},
		{"dyn not bool", `custom.flag`, rules.Block, map[string]any{"flag": "yes"}, rules.Verdict{Outcome: rules.Block}},
		{"cost limit", `custom.list.all(x, custom.list.all(y, x + y > 0))`, rules.Block, map[string]any{"list": bigList(200)}, rules.Verdict{Outcome: rules.Block}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []reported
			def := rules.Definition{
				Default: rules.Verdict{Outcome: rules.Challenge, Methods: []deviceauth.Method{deviceauth.MethodDevice}},
				OnError: tt.onError,
				Rules: []rules.Rule{
					{Name: "failing", When: tt.when, Then: rules.Verdict{Outcome: rules.Allow}},
					{Name: "after", When: "true", Then: rules.Verdict{Outcome: rules.Allow}},
				},
			}
			set := mustNew(t, def, rules.Options{CostLimit: 1000, OnError: func(_ context.Context, rule string, err error) {
				got = append(got, reported{rule, err})
			}})
			s := rules.NewSignals("pay")
			s.Custom = tt.custom
			res := set.Evaluate(context.Background(), &s)
			if res.Err == nil || res.Rule != "failing" {
				t.Fatalf("result = %+v, want an error from rule failing", res)
			}
			if res.Verdict.Outcome != tt.want.Outcome || res.Verdict.VerificationCode != tt.want.VerificationCode || len(res.Verdict.Methods) != len(tt.want.Methods) {
				t.Fatalf("verdict = %+v, want %+v", res.Verdict, tt.want)
			}
			if sub := wantErrText[tt.name]; !strings.Contains(res.Err.Error(), sub) {
				t.Fatalf("error %q, want it to contain %q", res.Err, sub)
			}
			if len(got) != 1 || got[0].rule != "failing" || got[0].err != res.Err {
				t.Fatalf("OnError calls = %v, want one for rule failing", got)
			}
		})
	}
}

var wantErrText = map[string]string{
	"division by zero":   "division by zero",
	"missing map key":    "no such key",
	"missing key blocks": "no such key",
	"dyn not bool":       "did not give a bool",
	"cost limit":         "cost limit exceeded",
}

func bigList(n int) []any {
	l := make([]any, n)
	for i := range l {
		l[i] = float64(i + 1)
	}
	return l
}

func TestRulesCostLimitAllowsCheapRules(t *testing.T) {
	set := mustNew(t, oneRule(`custom.list.all(x, x > 0.0)`), rules.Options{CostLimit: 1000})
	s := rules.NewSignals("pay")
	s.Custom = map[string]any{"list": bigList(10)}
	if res := set.Evaluate(context.Background(), &s); res.Err != nil || res.Rule != "r" {
		t.Fatalf("result = %+v, want rule r to match without error", res)
	}
}

func TestRulesPolicyAdapter(t *testing.T) {
	def := rules.Definition{
		Default: rules.Verdict{Outcome: rules.Allow},
		Rules: []rules.Rule{
			{Name: "unenrolled", When: "!user.enrolled", Then: rules.Verdict{Outcome: rules.Block}},
			{Name: "abroad", When: `geo.country != "DE"`, Then: rules.Verdict{Outcome: rules.Challenge, VerificationCode: true, Methods: []deviceauth.Method{deviceauth.MethodPush}}},
			{Name: "hosting", When: `geo.asn == 64500`, Then: rules.Verdict{Outcome: rules.Review}},
			{Name: "bot", When: `request.userAgent.contains("bot") && request.ip == "192.0.2.1"`, Then: rules.Verdict{Outcome: rules.Block}},
			{Name: "broken", When: `custom.missing == 1`, Then: rules.Verdict{Outcome: rules.Allow}},
		},
		OnError: rules.Block,
	}
	set := mustNew(t, def, rules.Options{})
	p := set.Policy()
	// The Service computes the signals; these stand in for them.
	signals := func(f func(s *rules.Signals)) rules.Signals {
		s := rules.NewSignals("pay")
		s.User.Enrolled = true
		s.Geo = rules.Geo{Country: "DE", ASN: 1}
		s.Custom = map[string]any{"missing": 2}
		f(&s)
		return s
	}
	tests := []struct {
		name string
		in   deviceauth.PolicyInput
		want deviceauth.Decision
	}{
		{"unenrolled", deviceauth.PolicyInput{Action: "pay", Signals: signals(func(s *rules.Signals) { s.User.Enrolled = false })},
			deviceauth.Decision{State: deviceauth.StateBlock, Rule: "unenrolled"}},
		{"home", deviceauth.PolicyInput{Action: "pay", Signals: signals(func(s *rules.Signals) {})},
			deviceauth.Decision{State: deviceauth.StateAllow}},
		{"hosting", deviceauth.PolicyInput{Action: "pay", Signals: signals(func(s *rules.Signals) { s.Geo.ASN = 64500 })},
			deviceauth.Decision{State: deviceauth.StateReview, Rule: "hosting"}},
		{"bot", deviceauth.PolicyInput{Action: "pay", Signals: signals(func(s *rules.Signals) { s.Request = rules.RequestSignals{IP: "192.0.2.1", UserAgent: "a bot"} })},
			deviceauth.Decision{State: deviceauth.StateBlock, Rule: "bot"}},
		{"abroad", deviceauth.PolicyInput{Action: "pay", Signals: signals(func(s *rules.Signals) { s.Geo.Country = "FR" })},
			deviceauth.Decision{State: deviceauth.StateChallengeRequired, VerificationCode: true, Methods: []deviceauth.Method{deviceauth.MethodPush}, Rule: "abroad"}},
		// Without the Service's signals, the input's own fields stand in.
		{"by hand", deviceauth.PolicyInput{Action: "pay", Enrolled: false, ClientIP: netip.MustParseAddr("192.0.2.1")},
			deviceauth.Decision{State: deviceauth.StateBlock, Rule: "unenrolled"}},
	}
	for _, tt := range tests {
		got, err := p.Decide(context.Background(), tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Decide = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
	// An evaluation error fails closed as the file says, and the decision
	// carries it for the Service's event.
	got, _ := p.Decide(context.Background(), deviceauth.PolicyInput{Action: "pay", Signals: signals(func(s *rules.Signals) { s.Custom = nil })})
	if got.State != deviceauth.StateBlock || got.Rule != "broken" || got.Err == nil {
		t.Fatalf("Decide with a failing rule = %+v, want BLOCK by rule broken with its error", got)
	}
}

func TestExplainEveryRule(t *testing.T) {
	calls := 0
	def := rules.Definition{
		Default: rules.Verdict{Outcome: rules.Challenge},
		Rules: []rules.Rule{
			{Name: "login-only", Actions: []string{"login"}, When: "true", Then: rules.Verdict{Outcome: rules.Allow}},
			{Name: "small", When: "amount.value < 10.0", Then: rules.Verdict{Outcome: rules.Allow}},
			{Name: "broken", When: "custom.x == 1", Then: rules.Verdict{Outcome: rules.Allow}},
			{Name: "eur", When: `amount.currency == "EUR"`, Then: rules.Verdict{Outcome: rules.Review}},
		},
	}
	var decided []string
	set := mustNew(t, def, rules.Options{
		OnError: func(context.Context, string, error) { calls++ },
		OnDecision: func(_ context.Context, s *rules.Signals, res rules.Result) {
			decided = append(decided, s.Action+":"+res.Rule)
		},
	})
	s := rules.NewSignals("pay")
	s.Amount = rules.Amount{Value: 50, Currency: "EUR"}
	ex := set.Explain(context.Background(), s)
	if ex.Result.Rule != "broken" || ex.Result.Verdict.Outcome != rules.Challenge || ex.Result.Err == nil {
		t.Fatalf("Result = %+v, want a fail-closed challenge from broken", ex.Result)
	}
	want := []struct {
		name             string
		applies, matched bool
		err              bool
	}{{"login-only", false, false, false}, {"small", true, false, false}, {"broken", true, false, true}, {"eur", true, true, false}}
	if len(ex.Rules) != len(want) {
		t.Fatalf("got %d rule results, want %d", len(ex.Rules), len(want))
	}
	for i, w := range want {
		r := ex.Rules[i]
		if r.Name != w.name || r.Applies != w.applies || r.Matched != w.matched || (r.Err != nil) != w.err {
			t.Errorf("rule %d = %+v, want %+v", i, r, w)
		}
	}
	if ex.Signals.Amount != s.Amount || ex.Signals.Action != "pay" {
		t.Errorf("Signals = %+v", ex.Signals)
	}
	if calls != 0 {
		t.Errorf("Explain called OnError %d times, want 0 (no side effects)", calls)
	}
	// Evaluate agrees with Explain's Result and does report.
	if res := set.Evaluate(context.Background(), &s); res.Rule != ex.Result.Rule || res.Verdict.Outcome != ex.Result.Verdict.Outcome || calls != 1 {
		t.Fatalf("Evaluate = %+v (calls %d), Explain said %+v", res, calls, ex.Result)
	}
	if len(decided) != 1 || decided[0] != "pay:broken" {
		t.Fatalf("OnDecision saw %v, want only Evaluate's pay:broken", decided)
	}
}

func TestExplainExampleFile(t *testing.T) {
	set, err := rules.Load("testdata/example.yaml", rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		set  func(s *rules.Signals)
		want rules.Outcome
		rule string
	}{
		{"blocked after failures", func(s *rules.Signals) { s.Failures.Denies, s.Failures.WrongCodes = 2, 1 }, rules.Block, "too-many-failures"},
		{"remembered browser", func(s *rules.Signals) { s.Action = "login"; s.Known.Browser = true; s.Recency.Any = 5 * time.Minute }, rules.Allow, "remembered-browser"},
		{"remembered browser expired", func(s *rules.Signals) {
			s.Action = "login"
			s.Known.Browser, s.Known.Prefix = true, true
			s.Recency.Any = 20 * time.Minute
		}, rules.Challenge, ""},
		{"new place", func(s *rules.Signals) { s.Known.Browser = true }, rules.Challenge, "new-place"},
	}
	for _, tt := range tests {
		s := rules.NewSignals("transfer")
		tt.set(&s)
		ex := set.Explain(context.Background(), s)
		if ex.Result.Verdict.Outcome != tt.want || ex.Result.Rule != tt.rule {
			t.Errorf("%s: got %s by %q, want %s by %q", tt.name, ex.Result.Verdict.Outcome, ex.Result.Rule, tt.want, tt.rule)
		}
	}
}

func TestRulesConcurrentEvaluate(t *testing.T) {
	def := rules.Definition{
		Default: rules.Verdict{Outcome: rules.Challenge},
		Rules: []rules.Rule{
			{Name: "vip", When: `"tier" in custom && custom.tier == "vip"`, Then: rules.Verdict{Outcome: rules.Allow}},
			{Name: "big", When: "amount.value > 100.0", Then: rules.Verdict{Outcome: rules.Review}},
		},
	}
	set := mustNew(t, def, rules.Options{})
	done := make(chan error)
	for g := range 8 {
		go func() {
			for i := range 200 {
				s := rules.NewSignals("pay")
				want, rule := rules.Challenge, ""
				switch (g + i) % 3 {
				case 0:
					s.Custom = map[string]any{"tier": "vip"}
					want, rule = rules.Allow, "vip"
				case 1:
					s.Amount.Value = 500
					want, rule = rules.Review, "big"
				}
				if res := set.Evaluate(context.Background(), &s); res.Verdict.Outcome != want || res.Rule != rule {
					done <- fmt.Errorf("goroutine %d, %d: got %s by %q, want %s by %q", g, i, res.Verdict.Outcome, res.Rule, want, rule)
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
