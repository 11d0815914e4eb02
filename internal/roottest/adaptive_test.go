package roottest_test

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/risk"
	"github.com/deviceauth/deviceauth/rules"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// adaptiveRules is the rule set of these tests, as an app would write it.
const adaptiveRules = `
rules:
  - name: blocked-country
    when: geo.country == "KP"
    then: {outcome: BLOCK}
  - name: too-fast
    actions: [transfer]
    when: velocity.minute > 3
    then: {outcome: BLOCK}
  - name: big-transfer
    actions: [transfer]
    when: amount.value >= 10000.0
    then: {outcome: REVIEW}
  - name: remembered-browser
    when: recency.action < duration("15m") && known.prefix
    then: {outcome: ALLOW}
  - name: vip
    when: '"tier" in custom && custom.tier == "gold"'
    then: {outcome: ALLOW}
  - name: broken
    actions: [broken]
    when: custom.missing == 1
    then: {outcome: ALLOW}
default: {outcome: CHALLENGE}
onError: BLOCK
`

// fakeGeo places 198.51.100.0/24 in KP and everything else in DE.
type fakeGeo struct{}

func (fakeGeo) Resolve(_ context.Context, ip netip.Addr) (risk.Geo, error) {
	if netip.MustParsePrefix("198.51.100.0/24").Contains(ip) {
		return risk.Geo{Country: "KP", ASN: 64500}, nil
	}
	if ip == netip.MustParseAddr("203.0.113.66") {
		return risk.Geo{}, errors.New("geo database unavailable")
	}
	return risk.Geo{Country: "DE", ASN: 3320}, nil
}

// adaptiveEnv is a Service over memstore with adaptiveRules, an injected
// clock and its events captured.
type adaptiveEnv struct {
	*cycletest.Env
	clock  *clock
	mu     sync.Mutex
	events []event.Event
}

// compileRules parses and compiles a rules file's text.
func compileRules(t testing.TB, text string) *rules.Set {
	t.Helper()
	def, err := rules.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.New(def, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func newAdaptiveEnv(t *testing.T, opts ...func(*deviceauth.Config)) *adaptiveEnv {
	t.Helper()
	set := compileRules(t, adaptiveRules)
	a := &adaptiveEnv{clock: newClock()}
	all := append([]func(*deviceauth.Config){func(c *deviceauth.Config) {
		c.Rules, c.Geo, c.Now = set.Policy(), fakeGeo{}, a.clock.Now
		c.OnEvent = func(_ context.Context, e event.Event) {
			a.mu.Lock()
			a.events = append(a.events, e)
			a.mu.Unlock()
		}
	}}, opts...)
	a.Env = cycletest.New(t, memstore.New(), all...)
	return a
}

// eventsOf returns the captured events of type typ.
func (a *adaptiveEnv) eventsOf(typ event.Type) []event.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []event.Event
	for _, e := range a.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

var (
	homeIP    = netip.MustParseAddr("192.0.2.10")
	homeIP2   = netip.MustParseAddr("192.0.2.77") // same /24
	awayIP    = netip.MustParseAddr("203.0.113.5")
	browserA  = "browserAAAAAAAAAAAAAAA"
	browserB  = "browserBBBBBBBBBBBBBBB"
	transfer  = deviceauth.Details{Message: "Send 10.00 EUR to Bob"}
	transfer2 = deviceauth.Details{Message: "Send 10000.00 EUR to Mallory"}
)

// withDefaults is req for the env's user and "transfer" unless it names
// others.
func (a *adaptiveEnv) withDefaults(req deviceauth.TrackRequest) deviceauth.TrackRequest {
	req.UserID = cmp.Or(req.UserID, a.User)
	req.Action = cmp.Or(req.Action, "transfer")
	return req
}

// track tracks req (withDefaults) and fails t on an error.
func (a *adaptiveEnv) track(t *testing.T, req deviceauth.TrackRequest) deviceauth.TrackResult {
	t.Helper()
	req = a.withDefaults(req)
	res, err := a.Service.Track(t.Context(), req)
	if err != nil {
		t.Fatalf("Track(%s from %v): %v", req.Action, req.ClientIP, err)
	}
	return res
}

// pass tracks, approves on the device and validates one challenge.
func (a *adaptiveEnv) pass(t *testing.T, req deviceauth.TrackRequest) deviceauth.TrackResult {
	t.Helper()
	req = a.withDefaults(req)
	res := a.track(t, req)
	if res.State != deviceauth.StateChallengeRequired || res.ChallengeID == "" {
		t.Fatalf("Track = %+v, want a challenge", res)
	}
	a.Approve(t, t.Context(), res.ChallengeID)
	v, err := a.Service.Validate(t.Context(), deviceauth.ValidateRequest{Token: res.Token, UserID: a.User, Action: req.Action, Details: req.Details})
	if err != nil || !v.Valid {
		t.Fatalf("Validate = %+v, %v", v, err)
	}
	return res
}

func (a *adaptiveEnv) explain(t *testing.T, req deviceauth.TrackRequest) deviceauth.Explanation {
	t.Helper()
	e, err := a.Service.Explain(t.Context(), a.withDefaults(req))
	if err != nil {
		t.Fatalf("Explain: %v", err)
	}
	return e
}

func TestRules_DecideTrackOutcomes(t *testing.T) {
	a := newAdaptiveEnv(t)
	tests := []struct {
		name      string
		req       deviceauth.TrackRequest
		wantState deviceauth.ActionState
		wantRule  string
	}{
		{"default challenges", deviceauth.TrackRequest{ClientIP: homeIP, Browser: browserA, Details: transfer}, deviceauth.StateChallengeRequired, ""},
		{"geo blocks", deviceauth.TrackRequest{ClientIP: netip.MustParseAddr("198.51.100.7"), Details: transfer}, deviceauth.StateBlock, "blocked-country"},
		{"amount reviews", deviceauth.TrackRequest{ClientIP: homeIP, Details: transfer2, Amount: risk.Amount{Value: 10000, Currency: "EUR"}}, deviceauth.StateReview, "big-transfer"},
		{"amount rule is per action", deviceauth.TrackRequest{Action: "settings", ClientIP: homeIP, Amount: risk.Amount{Value: 10000, Currency: "EUR"}}, deviceauth.StateChallengeRequired, ""},
		{"custom data allows", deviceauth.TrackRequest{Action: "settings", Custom: map[string]any{"tier": "gold"}}, deviceauth.StateAllow, "vip"},
		{"custom data of another value", deviceauth.TrackRequest{Action: "settings", Custom: map[string]any{"tier": "silver"}}, deviceauth.StateChallengeRequired, ""},
	}
	for _, tt := range tests {
		res := a.track(t, tt.req)
		if res.State != tt.wantState || res.Rule != tt.wantRule {
			t.Errorf("%s: Track = %s by %q, want %s by %q", tt.name, res.State, res.Rule, tt.wantState, tt.wantRule)
		}
		if res.ActionID == "" {
			t.Errorf("%s: Track recorded no action", tt.name)
		}
		if (res.State == deviceauth.StateChallengeRequired) != (res.ChallengeID != "") {
			t.Errorf("%s: state %s with challenge %q", tt.name, res.State, res.ChallengeID)
		}
	}
}

func TestRules_EvaluationErrorFailsClosedWithAnEvent(t *testing.T) {
	a := newAdaptiveEnv(t)
	res := a.track(t, deviceauth.TrackRequest{Action: "broken"})
	if res.State != deviceauth.StateBlock || res.Rule != "broken" {
		t.Fatalf("Track of a failing rule = %s by %q, want BLOCK by broken (onError: BLOCK)", res.State, res.Rule)
	}
	evs := a.eventsOf(event.RuleError)
	if len(evs) != 1 || evs[0].Rule != "broken" || evs[0].Action != "broken" {
		t.Fatalf("rule.error events = %+v, want one for rule broken", evs)
	}
}

func TestRules_DecisionMethodsRestrictTheChallenge(t *testing.T) {
	a := newAdaptiveEnv(t, func(c *deviceauth.Config) {
		c.Rules = deviceauth.PolicyFunc(func(_ context.Context, in deviceauth.PolicyInput) (deviceauth.Decision, error) {
			return deviceauth.Decision{State: deviceauth.StateChallengeRequired, Methods: []deviceauth.Method{deviceauth.MethodPush}, Rule: "push-only"}, nil
		})
	})
	res := a.track(t, deviceauth.TrackRequest{Methods: []deviceauth.Method{deviceauth.MethodDevice, deviceauth.MethodPush}})
	if len(res.Methods) != 1 || res.Methods[0] != deviceauth.MethodPush {
		t.Fatalf("methods = %v, want [PUSH] as the decision asks", res.Methods)
	}
	// Methods the request did not name: the decision cannot add them, and
	// with none in common the default stays.
	res = a.track(t, deviceauth.TrackRequest{})
	if len(res.Methods) != 1 || res.Methods[0] != deviceauth.MethodDevice {
		t.Fatalf("methods = %v, want [DEVICE]", res.Methods)
	}
}

func TestSignals_KnownPrefixBrowserAndRecency(t *testing.T) {
	a := newAdaptiveEnv(t)
	e := a.explain(t, deviceauth.TrackRequest{ClientIP: homeIP, Browser: browserA, Details: transfer})
	if e.Signals.Known.Prefix || e.Signals.Known.Browser || e.Signals.Recency.Action != risk.Never || e.Signals.Recency.Any != risk.Never {
		t.Fatalf("before any pass: known %+v, recency %+v; want nothing known", e.Signals.Known, e.Signals.Recency)
	}
	a.pass(t, deviceauth.TrackRequest{ClientIP: homeIP, Browser: browserA, Details: transfer})
	a.clock.Advance(5 * time.Minute)

	e = a.explain(t, deviceauth.TrackRequest{ClientIP: homeIP2, Browser: browserA, Details: transfer})
	if !e.Signals.Known.Prefix || !e.Signals.Known.Browser || e.Signals.Recency.Action != 5*time.Minute || e.Signals.Recency.Any != 5*time.Minute {
		t.Fatalf("after a pass from the /24 and browser: known %+v, recency %+v", e.Signals.Known, e.Signals.Recency)
	}
	if e.Decision.State != deviceauth.StateAllow || e.Decision.Rule != "remembered-browser" {
		t.Fatalf("Explain decision = %+v, want ALLOW by remembered-browser", e.Decision)
	}
	e = a.explain(t, deviceauth.TrackRequest{Action: "settings", ClientIP: awayIP, Browser: browserA})
	if e.Signals.Known.Prefix || !e.Signals.Known.Browser || e.Signals.Recency.Action != risk.Never || e.Signals.Recency.Any != 5*time.Minute {
		t.Fatalf("another action from another prefix: known %+v, recency %+v", e.Signals.Known, e.Signals.Recency)
	}
	e = a.explain(t, deviceauth.TrackRequest{ClientIP: homeIP, Browser: browserB})
	if !e.Signals.Known.Prefix || e.Signals.Known.Browser || e.Signals.Recency.Any != risk.Never {
		t.Fatalf("another browser: known %+v, recency %+v", e.Signals.Known, e.Signals.Recency)
	}
	// "Remember this browser for 15 minutes" is one rule.
	if res := a.track(t, deviceauth.TrackRequest{ClientIP: homeIP, Browser: browserA, Details: transfer}); res.State != deviceauth.StateAllow {
		t.Fatalf("Track from the remembered browser = %s, want ALLOW", res.State)
	}
	a.clock.Advance(11 * time.Minute)
	if res := a.track(t, deviceauth.TrackRequest{ClientIP: homeIP, Browser: browserA, Details: transfer}); res.State != deviceauth.StateChallengeRequired {
		t.Fatalf("Track 16 minutes after the pass = %s, want a challenge", res.State)
	}
	// Known ends with Config.KnownFor (30 days by default).
	a.clock.Advance(30 * 24 * time.Hour)
	e = a.explain(t, deviceauth.TrackRequest{ClientIP: homeIP, Browser: browserA})
	if e.Signals.Known.Prefix || e.Signals.Known.Browser {
		t.Fatalf("after KnownFor: known %+v, want nothing known", e.Signals.Known)
	}
}

func TestSignals_VelocityAndFailures(t *testing.T) {
	a := newAdaptiveEnv(t)
	for i := range 3 {
		res := a.track(t, deviceauth.TrackRequest{Details: transfer})
		if res.State != deviceauth.StateChallengeRequired {
			t.Fatalf("Track %d = %s, want a challenge", i+1, res.State)
		}
	}
	e := a.explain(t, deviceauth.TrackRequest{})
	if e.Signals.Velocity != (risk.VelocitySignals{Minute: 4, Hour: 4, Day: 4}) {
		t.Fatalf("velocity = %+v, want 4 (three tracked, this one)", e.Signals.Velocity)
	}
	if res := a.track(t, deviceauth.TrackRequest{Details: transfer}); res.State != deviceauth.StateBlock || res.Rule != "too-fast" {
		t.Fatalf("fourth Track in a minute = %s by %q, want BLOCK by too-fast", res.State, res.Rule)
	}
	a.clock.Advance(2 * time.Minute)
	e = a.explain(t, deviceauth.TrackRequest{})
	if e.Signals.Velocity != (risk.VelocitySignals{Minute: 1, Hour: 5, Day: 5}) {
		t.Fatalf("velocity two minutes later = %+v", e.Signals.Velocity)
	}
	if e = a.explain(t, deviceauth.TrackRequest{Action: "settings"}); e.Signals.Velocity != (risk.VelocitySignals{Minute: 1, Hour: 1, Day: 1}) {
		t.Fatalf("velocity of another action = %+v, want only itself", e.Signals.Velocity)
	}

	// A denial counts as a failure for an hour.
	res := a.track(t, deviceauth.TrackRequest{Action: "settings"})
	a.Deny(t, t.Context(), res.ChallengeID)
	if e = a.explain(t, deviceauth.TrackRequest{}); e.Signals.Failures.Denies != 1 {
		t.Fatalf("failures after a denial = %+v, want 1 denial", e.Signals.Failures)
	}
	a.clock.Advance(time.Hour)
	if e = a.explain(t, deviceauth.TrackRequest{}); e.Signals.Failures.Denies != 0 {
		t.Fatalf("failures an hour after a denial = %+v, want none", e.Signals.Failures)
	}
}

func TestSignals_UserRequestGeoAndCustom(t *testing.T) {
	a := newAdaptiveEnv(t)
	a.clock.Advance(2 * time.Hour)
	e := a.explain(t, deviceauth.TrackRequest{ClientIP: homeIP, UserAgent: "Mozilla/5.0 test", Custom: map[string]any{"score": 0.5, "n": 3},
		Amount: risk.Amount{Value: 12.5, Currency: "EUR"}})
	s := e.Signals
	if !s.User.Enrolled || s.User.Credentials != 1 || strings.Join(s.User.Kinds, ",") != "device" || s.User.NewestCredentialAge != 2*time.Hour {
		t.Fatalf("user signals = %+v", s.User)
	}
	if s.Request.IP != "192.0.2.10" || s.Request.UserAgent != "Mozilla/5.0 test" || s.Geo != (risk.Geo{Country: "DE", ASN: 3320}) {
		t.Fatalf("request %+v, geo %+v", s.Request, s.Geo)
	}
	if s.Amount != (risk.Amount{Value: 12.5, Currency: "EUR"}) || s.Custom["score"] != 0.5 || s.Custom["n"] != 3 {
		t.Fatalf("amount %+v, custom %v", s.Amount, s.Custom)
	}
	// A resolver that fails leaves geo empty and does not fail Track.
	if e = a.explain(t, deviceauth.TrackRequest{ClientIP: netip.MustParseAddr("203.0.113.66")}); e.Signals.Geo != (risk.Geo{}) {
		t.Fatalf("geo of a failing resolver = %+v, want empty", e.Signals.Geo)
	}
	for name, custom := range map[string]map[string]any{
		"a func":       {"f": func() {}},
		"a struct":     {"s": struct{}{}},
		"an empty key": {"": 1},
		"too large":    {"big": strings.Repeat("x", 5000)},
	} {
		_, err := a.Service.Track(t.Context(), deviceauth.TrackRequest{UserID: a.User, Action: "transfer", Custom: custom})
		if !errors.Is(err, deviceauth.ErrInvalidRequest) {
			t.Errorf("Track with custom data holding %s: %v, want ErrInvalidRequest", name, err)
		}
	}
	list, _, err := a.Service.Actions(t.Context(), deviceauth.ActionQuery{UserID: a.User})
	if err != nil || len(list) != 0 {
		t.Fatalf("Actions after refused and explained tracks = %d, %v; want none recorded", len(list), err)
	}
}

func TestExplain_HasNoSideEffects(t *testing.T) {
	a := newAdaptiveEnv(t)
	before := len(a.events)
	e := a.explain(t, deviceauth.TrackRequest{Action: "broken"})
	if e.Decision.State != deviceauth.StateBlock || e.Decision.Rule != "broken" || e.Decision.Err == nil {
		t.Fatalf("Explain of a failing rule = %+v", e.Decision)
	}
	names := []string{}
	for _, r := range e.Rules {
		if r.Applies {
			names = append(names, r.Name)
		}
	}
	if strings.Join(names, ",") != "blocked-country,remembered-browser,vip,broken" {
		t.Fatalf("rules that apply to action broken = %v", names)
	}
	e = a.explain(t, deviceauth.TrackRequest{Amount: risk.Amount{Value: 20000, Currency: "EUR"}})
	if e.Decision.State != deviceauth.StateReview {
		t.Fatalf("Explain of a big transfer = %+v, want REVIEW", e.Decision)
	}
	list, _, err := a.Service.Actions(t.Context(), deviceauth.ActionQuery{UserID: a.User})
	if err != nil || len(list) != 0 {
		t.Fatalf("Actions after Explain = %d, %v; want none", len(list), err)
	}
	queue, _, _ := a.Service.Actions(t.Context(), deviceauth.ActionQuery{Reviews: true})
	if len(queue) != 0 || len(a.events) != before {
		t.Fatalf("Explain left %d reviews and %d events", len(queue), len(a.events)-before)
	}
}

func TestReview_ApprovalIsBoundToUserActionAndDetailsAndSingleUse(t *testing.T) {
	a := newAdaptiveEnv(t)
	big := risk.Amount{Value: 10000, Currency: "EUR"}
	held := a.track(t, deviceauth.TrackRequest{Details: transfer2, Amount: big})
	if held.State != deviceauth.StateReview || held.ActionID == "" {
		t.Fatalf("Track = %+v, want REVIEW with an action ID", held)
	}
	queue, _, err := a.Service.Actions(t.Context(), deviceauth.ActionQuery{Reviews: true})
	if err != nil || len(queue) != 1 || queue[0].ID != held.ActionID || queue[0].Review != store.ReviewPending || queue[0].Rule != "big-transfer" {
		t.Fatalf("review queue = %+v, %v", queue, err)
	}
	approved, err := a.Service.DecideReview(t.Context(), deviceauth.ReviewDecision{UserID: a.User, ActionID: held.ActionID, Approve: true, Operator: "ops@bank", Note: "called the customer"})
	if err != nil || approved.Review != store.ReviewApproved || approved.Reviewer != "ops@bank" || approved.ReviewNote != "called the customer" {
		t.Fatalf("DecideReview = %+v, %v", approved, err)
	}
	if evs := a.eventsOf(event.ReviewApproved); len(evs) != 1 || evs[0].Operator != "ops@bank" || evs[0].ChallengeID != held.ActionID {
		t.Fatalf("review.approved events = %+v", evs)
	}
	if _, err := a.Service.DecideReview(t.Context(), deviceauth.ReviewDecision{UserID: a.User, ActionID: held.ActionID, Operator: "other"}); !errors.Is(err, deviceauth.ErrChallengeClosed) {
		t.Fatalf("second DecideReview: %v, want ErrChallengeClosed", err)
	}

	// Other details, another user: the approval does not apply.
	if res := a.track(t, deviceauth.TrackRequest{Details: deviceauth.Details{Message: "Send 10000.00 EUR to Eve"}, Amount: big}); res.State != deviceauth.StateReview {
		t.Fatalf("Track with other details = %s, want REVIEW", res.State)
	}
	bob := a.ForUser(t, "bob")
	if res, _ := a.Service.Track(t.Context(), deviceauth.TrackRequest{UserID: bob.User, Action: "transfer", Details: transfer2, Amount: big}); res.State != deviceauth.StateReview {
		t.Fatalf("another user's Track = %s, want REVIEW", res.State)
	}
	// The approved action passes once (a minute later: under too-fast).
	a.clock.Advance(time.Minute)
	res := a.track(t, deviceauth.TrackRequest{Details: transfer2, Amount: big})
	if res.State != deviceauth.StateAllow || res.Rule != "review:"+held.ActionID {
		t.Fatalf("retry of the approved action = %s by %q, want ALLOW by the review", res.State, res.Rule)
	}
	if res := a.track(t, deviceauth.TrackRequest{Details: transfer2, Amount: big}); res.State != deviceauth.StateReview {
		t.Fatalf("second retry = %s, want REVIEW again", res.State)
	}
}

func TestReview_RejectionAndExpiryKeepItRefused(t *testing.T) {
	a := newAdaptiveEnv(t)
	big := risk.Amount{Value: 10000, Currency: "EUR"}
	held := a.track(t, deviceauth.TrackRequest{Details: transfer2, Amount: big})
	if _, err := a.Service.DecideReview(t.Context(), deviceauth.ReviewDecision{UserID: a.User, ActionID: held.ActionID, Operator: "ops"}); err != nil {
		t.Fatal(err)
	}
	if evs := a.eventsOf(event.ReviewRejected); len(evs) != 1 || evs[0].Operator != "ops" {
		t.Fatalf("review.rejected events = %+v", evs)
	}
	if res := a.track(t, deviceauth.TrackRequest{Details: transfer2, Amount: big}); res.State != deviceauth.StateReview {
		t.Fatalf("retry after a rejection = %s, want REVIEW", res.State)
	}
	// An approval is good for Config.ReviewFor after the action.
	late := a.track(t, deviceauth.TrackRequest{Details: transfer, Amount: big})
	if _, err := a.Service.DecideReview(t.Context(), deviceauth.ReviewDecision{UserID: a.User, ActionID: late.ActionID, Approve: true, Operator: "ops"}); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(24*time.Hour + time.Second)
	if res := a.track(t, deviceauth.TrackRequest{Details: transfer, Amount: big}); res.State != deviceauth.StateReview {
		t.Fatalf("retry a day after the approval = %s, want REVIEW", res.State)
	}
	for name, d := range map[string]deviceauth.ReviewDecision{
		"no operator":       {UserID: a.User, ActionID: late.ActionID, Approve: true},
		"an unknown action": {UserID: a.User, ActionID: "ac_unknown", Approve: true, Operator: "ops"},
		"another user":      {UserID: "mallory", ActionID: held.ActionID, Approve: true, Operator: "ops"},
	} {
		if _, err := a.Service.DecideReview(t.Context(), d); err == nil {
			t.Errorf("DecideReview with %s succeeded", name)
		}
	}
	// An action that was not held for review cannot be approved.
	plain := a.track(t, deviceauth.TrackRequest{Details: transfer})
	if _, err := a.Service.DecideReview(t.Context(), deviceauth.ReviewDecision{UserID: a.User, ActionID: plain.ActionID, Approve: true, Operator: "ops"}); !errors.Is(err, deviceauth.ErrNotFound) {
		t.Fatalf("DecideReview of a challenged action: %v, want ErrNotFound", err)
	}
}

func TestReview_RacingRetriesPassOnce(t *testing.T) {
	a := newAdaptiveEnv(t)
	big := risk.Amount{Value: 10000, Currency: "EUR"}
	for round := range 20 {
		details := deviceauth.Details{Message: "Send 10000.00 EUR, round " + string(rune('A'+round))}
		held := a.track(t, deviceauth.TrackRequest{Details: details, Amount: big})
		if _, err := a.Service.DecideReview(t.Context(), deviceauth.ReviewDecision{UserID: a.User, ActionID: held.ActionID, Approve: true, Operator: "ops"}); err != nil {
			t.Fatal(err)
		}
		var allowed atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 16 {
			wg.Go(func() {
				<-start
				res, err := a.Service.Track(context.Background(), deviceauth.TrackRequest{UserID: a.User, Action: "transfer", Details: details, Amount: big})
				if err == nil && res.State == deviceauth.StateAllow {
					allowed.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := allowed.Load(); n != 1 {
			t.Fatalf("round %d: %d racing retries passed, want 1", round, n)
		}
		a.clock.Advance(time.Hour) // keep velocity under the limit
	}
}

func TestActions_HistoryRecordsDecisionsAndResults(t *testing.T) {
	a := newAdaptiveEnv(t)
	passed := a.pass(t, deviceauth.TrackRequest{ClientIP: homeIP, UserAgent: "<script>alert(1)</script>", Browser: browserA, Details: transfer})
	a.clock.Advance(time.Second)
	denied := a.track(t, deviceauth.TrackRequest{Action: "settings", Details: deviceauth.Details{Message: "Change e-mail"}})
	a.Deny(t, t.Context(), denied.ChallengeID)
	a.clock.Advance(time.Second)
	blocked := a.track(t, deviceauth.TrackRequest{ClientIP: netip.MustParseAddr("198.51.100.1"), Details: transfer})
	a.clock.Advance(time.Second)
	inApp := a.track(t, deviceauth.TrackRequest{Action: "pay", InApp: true, Details: transfer})

	list, next, err := a.Service.Actions(t.Context(), deviceauth.ActionQuery{UserID: a.User})
	if err != nil || next != "" || len(list) != 4 {
		t.Fatalf("Actions = %d, %q, %v; want 4 on one page", len(list), next, err)
	}
	want := []struct {
		id        string
		state     deviceauth.ActionState
		challenge store.State
		method    deviceauth.Method
	}{
		{inApp.ActionID, deviceauth.StateChallengeRequired, "", ""},
		{blocked.ActionID, deviceauth.StateBlock, "", ""},
		{denied.ActionID, deviceauth.StateChallengeRequired, store.StateDenied, deviceauth.MethodDevice},
		{passed.ActionID, deviceauth.StateChallengeRequired, store.StateConsumed, deviceauth.MethodDevice},
	}
	for i, w := range want {
		got := list[i]
		if got.ID != w.id || got.State != w.state || got.Challenge != w.challenge || got.Method != w.method {
			t.Errorf("action %d = %s %s challenge %q method %q; want %s %s %q %q", i, got.ID, got.State, got.Challenge, got.Method, w.id, w.state, w.challenge, w.method)
		}
	}
	p := list[3]
	if p.ClientIP != "192.0.2.10" || p.UserAgent != "<script>alert(1)</script>" || p.Details.Message != transfer.Message || p.PassedAt.IsZero() || p.Signals != nil {
		t.Fatalf("the passed action = %+v", p)
	}
	// Signals are kept where a rule decided, for reviewers.
	if list[1].Rule != "blocked-country" || list[1].Signals == nil || list[1].Signals.Geo.Country != "KP" {
		t.Fatalf("the blocked action's rule = %q, signals %+v", list[1].Rule, list[1].Signals)
	}

	// Pages: two at a time, newest first, nothing lost or repeated.
	var ids []string
	cursor := ""
	for range 3 {
		page, next, err := a.Service.Actions(t.Context(), deviceauth.ActionQuery{UserID: a.User, Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page {
			ids = append(ids, x.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if strings.Join(ids, ",") != strings.Join([]string{inApp.ActionID, blocked.ActionID, denied.ActionID, passed.ActionID}, ",") {
		t.Fatalf("paged IDs = %v", ids)
	}
	if _, _, err := a.Service.Actions(t.Context(), deviceauth.ActionQuery{UserID: a.User, Cursor: "not-a-cursor!"}); !errors.Is(err, deviceauth.ErrInvalidRequest) {
		t.Fatalf("Actions with a bad cursor: %v, want ErrInvalidRequest", err)
	}
}

func TestActions_DefaultPolicyRecordsTooAndRetentionEnds(t *testing.T) {
	c := newClock()
	env := cycletest.New(t, memstore.New(), func(cfg *deviceauth.Config) {
		cfg.Now = c.Now
		cfg.ActionRetention = 48 * time.Hour
		cfg.KnownFor = time.Hour
	})
	env.Cycle(t, nil)
	list, _, err := env.Service.Actions(t.Context(), deviceauth.ActionQuery{UserID: env.User})
	if err != nil || len(list) != 1 || list[0].Challenge != store.StateConsumed || list[0].Signals != nil {
		t.Fatalf("Actions under DefaultPolicy = %+v, %v; want the consumed cycle without signals", list, err)
	}
	c.Advance(48 * time.Hour)
	if list, _, _ = env.Service.Actions(t.Context(), deviceauth.ActionQuery{UserID: env.User}); len(list) != 0 {
		t.Fatalf("Actions after the retention = %d, want none", len(list))
	}
	if _, err := deviceauth.New(deviceauth.Config{Store: memstore.New(), Keys: [][]byte{make([]byte, 32)}, PublicURL: "https://a.example",
		ActionRetention: time.Hour, KnownFor: 2 * time.Hour}); err == nil {
		t.Fatal("New accepted KnownFor over ActionRetention")
	}
}

func TestActions_ForgetErasesTheUser(t *testing.T) {
	st := memstore.New()
	a := newAdaptiveEnv(t, func(c *deviceauth.Config) { c.Store = st })
	a.pass(t, deviceauth.TrackRequest{ClientIP: homeIP, Browser: browserA, Details: transfer})
	// A wrong code on the transfer, as a device's answer would count it.
	wrong := ids.UserCounterKey("wrongcode", a.User, "transfer")
	if _, err := st.IncrementCounter(t.Context(), wrong, time.Hour, a.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if e := a.explain(t, deviceauth.TrackRequest{}); e.Signals.Failures.WrongCodes != 1 {
		t.Fatalf("wrong codes before Forget = %d, want 1", e.Signals.Failures.WrongCodes)
	}
	a.track(t, deviceauth.TrackRequest{Details: transfer2, Amount: risk.Amount{Value: 10000, Currency: "EUR"}})
	bob := a.ForUser(t, "bob")
	if _, err := a.Service.Track(t.Context(), deviceauth.TrackRequest{UserID: bob.User, Action: "transfer"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Service.Forget(t.Context(), a.User); err != nil {
		t.Fatal(err)
	}
	list, _, _ := a.Service.Actions(t.Context(), deviceauth.ActionQuery{UserID: a.User})
	creds, _ := a.Service.Credentials(t.Context(), a.User)
	queue, _, _ := a.Service.Actions(t.Context(), deviceauth.ActionQuery{Reviews: true})
	if len(list) != 0 || len(creds) != 0 || len(queue) != 0 {
		t.Fatalf("after Forget: %d actions, %d credentials, %d reviews; want none", len(list), len(creds), len(queue))
	}
	e := a.explain(t, deviceauth.TrackRequest{ClientIP: homeIP, Browser: browserA})
	if e.Signals.Known.Prefix || e.Signals.Known.Browser || e.Signals.User.Enrolled || e.Signals.Failures.WrongCodes != 0 {
		t.Fatalf("signals after Forget = %+v", e.Signals)
	}
	if other, _, _ := a.Service.Actions(t.Context(), deviceauth.ActionQuery{UserID: bob.User}); len(other) != 1 {
		t.Fatalf("bob's history after forgetting alice = %d actions, want 1", len(other))
	}
	if evs := a.eventsOf(event.UserForgotten); len(evs) != 1 || evs[0].UserID != a.User {
		t.Fatalf("user.forgotten events = %+v", evs)
	}
}

func TestRules_QRSignInRunsRulesAtClaim(t *testing.T) {
	set := compileRules(t, `
rules:
  - name: new-network
    actions: [signIn]
    when: '!known.prefix'
    then: {outcome: REVIEW}
default: {outcome: CHALLENGE}
`)
	a := newAdaptiveEnv(t, func(c *deviceauth.Config) { c.Rules = set.Policy() })
	ctx := t.Context()
	claim := func(ip netip.Addr) (deviceauth.ChallengeView, string, error) {
		qc, err := a.Service.CreateQR(ctx, deviceauth.QRRequest{ClientIP: ip, UserAgent: "Mozilla/5.0 (kiosk)"})
		if err != nil {
			t.Fatal(err)
		}
		code, err := device.ParseQRPayload(qc.Payload)
		if err != nil {
			t.Fatal(err)
		}
		v, err := cycletest.ClaimQR(a.Service, ctx, a.Device, code.ChallengeID, code.ClaimSecret)
		return v, qc.ChallengeID, err
	}
	// A browser on a network the user never passed from: held for review;
	// the browser's challenge fails, and the action is recorded with the
	// browser's IP and user agent.
	_, id, err := claim(awayIP)
	if !errors.Is(err, deviceauth.ErrChallengeClosed) {
		t.Fatalf("claim from a new network: %v, want ErrChallengeClosed", err)
	}
	queue, _, err := a.Service.Actions(ctx, deviceauth.ActionQuery{Reviews: true})
	if err != nil || len(queue) != 1 || queue[0].Action != deviceauth.ActionSignIn || queue[0].UserID != a.User ||
		queue[0].ClientIP != awayIP.String() || queue[0].UserAgent != "Mozilla/5.0 (kiosk)" || queue[0].Rule != "new-network" {
		t.Fatalf("review queue = %+v, %v", queue, err)
	}
	if _, err := cycletest.ClaimQR(a.Service, ctx, a.Device, id, "x"); err == nil {
		t.Fatal("a second claim of the refused challenge succeeded")
	}
	// Approved by an operator, the user's next QR sign-in goes through.
	if _, err := a.Service.DecideReview(ctx, deviceauth.ReviewDecision{UserID: a.User, ActionID: queue[0].ID, Approve: true, Operator: "ops"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := claim(awayIP); err != nil {
		t.Fatalf("claim after the approval: %v", err)
	}
	if _, _, err := claim(awayIP); !errors.Is(err, deviceauth.ErrChallengeClosed) {
		t.Fatalf("second claim after one approval: %v, want ErrChallengeClosed", err)
	}
	// From a network the user passed a challenge from, the claim goes on.
	a.pass(t, deviceauth.TrackRequest{ClientIP: homeIP, Details: transfer})
	a.clock.Advance(time.Second)
	if _, _, err := claim(homeIP2); err != nil {
		t.Fatalf("claim from a known network: %v", err)
	}
	list, _, _ := a.Service.Actions(ctx, deviceauth.ActionQuery{UserID: a.User, Limit: 1})
	if len(list) != 1 || list[0].Action != deviceauth.ActionSignIn || list[0].State != deviceauth.StateChallengeRequired {
		t.Fatalf("the newest action = %+v, want the sign-in recorded at claim", list)
	}
}

// The browser signal's cookie: first party, HttpOnly, SameSite Lax,
// Secure with the __Host- prefix over https, kept once set; Require sets
// it on a route whose policy reads signals, and the record keeps only a
// digest of it.
func TestSignals_BrowserCookie(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		r := httptest.NewRequest("GET", "http://bank.example/transfer", nil)
		name := "deviceauth-browser"
		if tlsOn {
			r = httptest.NewRequest("GET", "https://bank.example/transfer", nil)
			name = "__Host-deviceauth-browser"
		}
		w := httptest.NewRecorder()
		id := deviceauth.BrowserID(w, r)
		cookies := w.Result().Cookies()
		if len(cookies) != 1 {
			t.Fatalf("tls %v: %d cookies set, want 1", tlsOn, len(cookies))
		}
		c := cookies[0]
		if c.Name != name || c.Value != id || len(id) != 22 || !c.HttpOnly || c.Secure != tlsOn || c.Path != "/" ||
			c.SameSite != http.SameSiteLaxMode || c.MaxAge != 400*24*3600 {
			t.Fatalf("tls %v: cookie %+v for ID %q", tlsOn, c, id)
		}
		// Sent back, it is the same browser and nothing is set again; a
		// value not of its form is a new browser.
		r.AddCookie(c)
		w = httptest.NewRecorder()
		if again := deviceauth.BrowserID(w, r); again != id || len(w.Result().Cookies()) != 0 {
			t.Fatalf("tls %v: with its cookie BrowserID = %q and %d cookies, want %q and none", tlsOn, again, len(w.Result().Cookies()), id)
		}
		forged := httptest.NewRequest("GET", r.URL.String(), nil)
		forged.AddCookie(&http.Cookie{Name: name, Value: "not-a-browser-id"})
		if other := deviceauth.BrowserID(httptest.NewRecorder(), forged); other == "not-a-browser-id" || len(other) != 22 {
			t.Fatalf("tls %v: a forged cookie gave %q", tlsOn, other)
		}
	}

	st := memstore.New()
	a := newAdaptiveEnv(t, func(c *deviceauth.Config) {
		c.Store = st
		c.Users = deviceauth.UserResolverFunc(func(*http.Request) (string, error) { return "alice", nil })
	})
	gated := a.Service.Require("transfer")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w := httptest.NewRecorder()
	gated.ServeHTTP(w, httptest.NewRequest("POST", "http://bank.example/transfer", nil))
	var browser *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == "deviceauth-browser" {
			browser = c
		}
	}
	if w.Code != http.StatusUnauthorized || browser == nil || !browser.HttpOnly {
		t.Fatalf("a gated request under rules: %d, browser cookie %+v; want 401 challenge_required with an HttpOnly cookie", w.Code, browser)
	}
	recs, err := st.Actions(t.Context(), store.ActionQuery{UserID: a.User}, a.clock.Now())
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %d, %v; want 1", len(recs), err)
	}
	if recs[0].Browser == "" || recs[0].Browser == browser.Value || strings.Contains(string(recs[0].Data), browser.Value) {
		t.Fatalf("the record keeps browser %q (cookie %q): want a digest, never the ID", recs[0].Browser, browser.Value)
	}
}
