package metrics_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/metrics"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// clock is a test clock shared by the Service and the device.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// scrape fetches the handler over HTTP and parses the text format.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return fams
}

// value is the counter (or histogram count) of the series with exactly
// labels in family name; -1 when absent.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

func TestMetricsFromARealService(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	clk.ns.Store(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	m, err := metrics.New(metrics.Options{MaxActions: 3})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []event.Event
	key := make([]byte, 32)
	rand.Read(key)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	svc, err := deviceauth.New(deviceauth.Config{
		Store: memstore.New(), Keys: [][]byte{key}, PublicURL: srv.URL + "/deviceauth", Now: clk.now,
		OnEvent: func(ctx context.Context, e event.Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
			m.OnEvent(ctx, e)
		},
		Rules: deviceauth.PolicyFunc(func(_ context.Context, in deviceauth.PolicyInput) (deviceauth.Decision, error) {
			switch in.Action {
			case "broken":
				return deviceauth.Decision{}, errors.New("policy down")
			case "coded":
				return deviceauth.Decision{State: deviceauth.StateChallengeRequired, VerificationCode: true, Rule: "new-place"}, nil
			case "overflow-2":
				return deviceauth.Decision{State: deviceauth.StateReview, Rule: "big-amount"}, nil
			}
			return deviceauth.Decision{State: deviceauth.StateChallengeRequired}, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(ctx)
	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))

	const user = "user-secret-42"
	grant, err := svc.MintRegistrationToken(ctx, user, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := device.NewP256Key()
	phone, _ := device.New(srv.URL+"/deviceauth", signer)
	phone.Now = clk.now
	if _, err := phone.Register(ctx, grant.Token, "phone", "ios"); err != nil {
		t.Fatal(err)
	}

	details := deviceauth.Details{Message: "Send 25.00 EUR to Bob"}
	track := func(action string) deviceauth.TrackResult {
		t.Helper()
		res, err := svc.Track(ctx, deviceauth.TrackRequest{UserID: user, Action: action, Details: details})
		if err != nil {
			t.Fatalf("Track %s: %v", action, err)
		}
		return res
	}
	var tokens []string

	// Approved after 3 s, validated once, then refused.
	res := track("transfer")
	tokens = append(tokens, res.Token)
	clk.advance(3 * time.Second)
	ch, err := phone.Challenge(ctx, res.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := phone.Approve(ctx, ch, ""); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: user, Action: "transfer", Details: details}); err != nil {
			t.Fatal(err)
		}
	}
	// Denied after 40 s.
	res = track("transfer")
	tokens = append(tokens, res.Token)
	clk.advance(40 * time.Second)
	ch, _ = phone.Challenge(ctx, res.ChallengeID)
	if _, err := phone.Deny(ctx, ch, ""); err != nil {
		t.Fatal(err)
	}
	// A wrong verification code.
	res = track("coded")
	tokens = append(tokens, res.Token)
	ch, _ = phone.Challenge(ctx, res.ChallengeID)
	wrong := "00"
	if res.VerificationCode == wrong {
		wrong = "11"
	}
	phone.Approve(ctx, ch, wrong)
	// Two more actions: past MaxActions (3), "overflow-2" counts as other;
	// the policy holds it for review, by a rule.
	track("overflow-1")
	track("overflow-2")
	// A policy failure is reported as a store error.
	if _, err := svc.Track(ctx, deviceauth.TrackRequest{UserID: user, Action: "broken"}); err == nil {
		t.Fatal("Track of broken succeeded")
	}

	fams := scrape(t, m.Handler())
	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"deviceauth_actions_total", map[string]string{"action": "transfer", "outcome": "CHALLENGE"}, 2},
		{"deviceauth_actions_total", map[string]string{"action": "coded", "outcome": "CHALLENGE"}, 1},
		{"deviceauth_actions_total", map[string]string{"action": "overflow-1", "outcome": "CHALLENGE"}, 1},
		{"deviceauth_actions_total", map[string]string{"action": "other", "outcome": "REVIEW"}, 1},
		{"deviceauth_challenges_total", map[string]string{"method": "DEVICE", "result": "approved"}, 1},
		{"deviceauth_challenges_total", map[string]string{"method": "DEVICE", "result": "denied"}, 1},
		{"deviceauth_challenges_total", map[string]string{"method": "DEVICE", "result": "wrong_code"}, 1},
		{"deviceauth_validations_total", map[string]string{"action": "transfer", "result": "valid"}, 1},
		{"deviceauth_validations_total", map[string]string{"action": "transfer", "result": "invalid"}, 1},
		{"deviceauth_approval_latency_seconds", map[string]string{"result": "approved"}, 1},
		{"deviceauth_approval_latency_seconds", map[string]string{"result": "denied"}, 1},
		{"deviceauth_rule_hits_total", map[string]string{"rule": "new-place"}, 1},
		{"deviceauth_rule_hits_total", map[string]string{"rule": "big-amount"}, 1},
		{"deviceauth_store_errors_total", map[string]string{"kind": "failed"}, 1},
		{"deviceauth_events_total", map[string]string{"type": "challenge.created"}, 4},
		{"deviceauth_events_total", map[string]string{"type": "action.tracked"}, 1},
	}
	for _, w := range want {
		if got := value(fams, w.name, w.labels); got != w.value {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
	if n := len(fams["deviceauth_actions_total"].GetMetric()); n != 4 {
		t.Errorf("actions_total has %d series, want 4 (3 actions and other)", n)
	}
	// Exact latencies: 3 s lands in the le=5 bucket, 40 s in le=60.
	for _, mt := range fams["deviceauth_approval_latency_seconds"].GetMetric() {
		res := mt.GetLabel()[0].GetValue()
		wantSum := map[string]float64{"approved": 3, "denied": 40}[res]
		if mt.GetHistogram().GetSampleSum() != wantSum {
			t.Errorf("latency %s sum = %v, want %v", res, mt.GetHistogram().GetSampleSum(), wantSum)
		}
	}

	// No label anywhere carries a user ID, credential or challenge ID,
	// IP, token or error text.
	mu.Lock()
	secrets := append([]string{user, "policy down", "127.0.0.1"}, tokens...)
	for _, e := range events {
		secrets = append(secrets, e.CredentialID, e.ChallengeID)
	}
	mu.Unlock()
	for name, f := range fams {
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				for _, s := range secrets {
					if s != "" && strings.Contains(l.GetValue(), s) {
						t.Errorf("%s label %s=%q carries %q", name, l.GetName(), l.GetValue(), s)
					}
				}
			}
		}
	}
}

func TestMetricsLatencyMapIsBounded(t *testing.T) {
	m, err := metrics.New(metrics.Options{MaxPending: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Unix(1000, 0)
	for i, id := range []string{"ch1", "ch2", "ch3"} {
		m.OnEvent(ctx, event.Event{Type: event.ChallengeCreated, ChallengeID: id, Action: "a", Time: t0.Add(time.Duration(i) * time.Second)})
	}
	if n := metrics.PendingSize(m); n != 2 {
		t.Fatalf("pending holds %d challenges, want 2", n)
	}
	// ch1 was forgotten: its answer is counted but not timed.
	for _, id := range []string{"ch1", "ch2", "ch3"} {
		m.OnEvent(ctx, event.Event{Type: event.ChallengeApproved, ChallengeID: id, Time: t0.Add(10 * time.Second)})
	}
	fams := scrape(t, m.Handler())
	if got := value(fams, "deviceauth_approval_latency_seconds", map[string]string{"result": "approved"}); got != 2 {
		t.Fatalf("latency observations = %v, want 2", got)
	}
	if got := value(fams, "deviceauth_challenges_total", map[string]string{"method": "DEVICE", "result": "approved"}); got != 3 {
		t.Fatalf("approved = %v, want 3", got)
	}
	if n := metrics.PendingSize(m); n != 0 {
		t.Fatalf("pending holds %d after the answers, want 0", n)
	}
}

func TestMetricsLabelCapsUnderConcurrency(t *testing.T) {
	m, err := metrics.New(metrics.Options{MaxActions: 5, MaxRules: 2})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				m.OnEvent(context.Background(), event.Event{Type: event.ActionTracked, Reason: "BLOCK", Action: string(rune('a'+g)) + strings.Repeat("x", i%3)})
				m.RuleHit(string(rune('a' + i%4)))
			}
		}()
	}
	wg.Wait()
	fams := scrape(t, m.Handler())
	total := 0.0
	series := fams["deviceauth_actions_total"].GetMetric()
	for _, mt := range series {
		total += mt.GetCounter().GetValue()
	}
	if len(series) != 6 || total != 400 {
		t.Fatalf("actions_total: %d series summing to %v, want 6 (5 + other) summing to 400", len(series), total)
	}
	if n := len(fams["deviceauth_rule_hits_total"].GetMetric()); n != 3 {
		t.Fatalf("rule_hits_total has %d series, want 3 (2 + other)", n)
	}
	long := strings.Repeat("é", 100)
	m2, _ := metrics.New(metrics.Options{})
	m2.OnEvent(context.Background(), event.Event{Type: event.ActionTracked, Reason: "BLOCK", Action: long + "\xff"})
	f := scrape(t, m2.Handler())["deviceauth_actions_total"].GetMetric()[0]
	if v := f.GetLabel()[0].GetValue(); v != strings.Repeat("é", 32) {
		t.Fatalf("long action label = %q (%d bytes), want 32 é", v, len(v))
	}
}
