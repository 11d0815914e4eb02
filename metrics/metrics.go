// Package metrics turns a deviceauth Service's events into Prometheus
// metrics. It is a package of its own so that apps without Prometheus do
// not compile client_golang.
//
//	m, _ := metrics.New(metrics.Options{})
//	svc, _ := deviceauth.New(deviceauth.Config{..., OnEvent: m.OnEvent})
//	mux.Handle("/metrics", m.Handler()) // behind the app's own access control
//
// Labels never carry user IDs, credential or challenge IDs, IPs, tokens,
// details or error texts. Action and rule names are the app's, so their
// label values are capped: the first Options.MaxActions (MaxRules)
// distinct names get their own series, later ones count as "other".
// docs/metrics.md lists every metric.
package metrics

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/event"
)

// Other is the label value for names past a cap.
const Other = "other"

// Options tune a Collector. Zero values take the defaults.
type Options struct {
	// Registerer receives the metrics. Default: a new registry of the
	// Collector's own, served by Handler.
	Registerer prometheus.Registerer
	// Namespace prefixes every metric name. Default "deviceauth".
	Namespace string
	// MaxActions caps distinct action label values. Default 50.
	MaxActions int
	// MaxRules caps distinct rule label values. Default 100.
	MaxRules int
	// MaxPending caps the challenges whose creation time is remembered
	// to measure approval latency; the oldest is forgotten first.
	// Default 10000 (about 1 MB).
	MaxPending int
	// LatencyBuckets are the approval latency histogram's buckets, in
	// seconds. Default 1, 2, 5, 10, 20, 30, 60, 120, 300.
	LatencyBuckets []float64
}

// Collector counts events. Its methods are safe for concurrent use.
type Collector struct {
	gatherer   prometheus.Gatherer
	actions    *prometheus.CounterVec
	challenges *prometheus.CounterVec
	validation *prometheus.CounterVec
	ruleHits   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	storeErrs  *prometheus.CounterVec
	events     *prometheus.CounterVec

	actionNames *capped
	ruleNames   *capped
	eventTypes  *capped
	pending     *pending
}

// New creates the metrics and registers them on opts.Registerer.
func New(opts Options) (*Collector, error) {
	if opts.Namespace == "" {
		opts.Namespace = "deviceauth"
	}
	if opts.MaxActions <= 0 {
		opts.MaxActions = 50
	}
	if opts.MaxRules <= 0 {
		opts.MaxRules = 100
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 10_000
	}
	if len(opts.LatencyBuckets) == 0 {
		opts.LatencyBuckets = []float64{1, 2, 5, 10, 20, 30, 60, 120, 300}
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	ns := opts.Namespace
	c := &Collector{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "actions_total",
			Help: "Actions tracked, by action and outcome (CHALLENGE, ALLOW, BLOCK, REVIEW, ENROLLMENT_REQUIRED)."}, []string{"action", "outcome"}),
		challenges: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "challenges_total",
			Help: "Challenge answers, by method and result (approved, denied, wrong_code, failed)."}, []string{"method", "result"}),
		validation: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "validations_total",
			Help: "Token validations, by action and result (valid, invalid)."}, []string{"action", "result"}),
		ruleHits: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rule_hits_total",
			Help: "Rules that decided an action, by rule name."}, []string{"rule"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "approval_latency_seconds",
			Help: "Time from a challenge's creation to the device's answer, by result.", Buckets: opts.LatencyBuckets}, []string{"result"}),
		storeErrs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "store_errors_total",
			Help: "Store failures the Service reported, by kind (canceled, timeout, closed, failed)."}, []string{"kind"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_total",
			Help: "Every event, by type."}, []string{"type"}),
		actionNames: newCapped(opts.MaxActions),
		ruleNames:   newCapped(opts.MaxRules),
		eventTypes:  newCapped(64),
		pending:     newPending(opts.MaxPending),
	}
	for _, col := range []prometheus.Collector{c.actions, c.challenges, c.validation, c.ruleHits, c.latency, c.storeErrs, c.events} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	if g, ok := reg.(prometheus.Gatherer); ok {
		c.gatherer = g
	} else {
		c.gatherer = prometheus.DefaultGatherer
	}
	return c, nil
}

// Handler serves the metrics in the Prometheus exposition format, from
// Options.Registerer when it is also a Gatherer (a *prometheus.Registry
// is), else from prometheus.DefaultGatherer.
func (c *Collector) Handler() http.Handler {
	return promhttp.HandlerFor(c.gatherer, promhttp.HandlerOpts{})
}

// OnEvent counts e; pass it as deviceauth.Config.OnEvent (or call it from
// the app's own OnEvent).
func (c *Collector) OnEvent(_ context.Context, e event.Event) {
	c.events.WithLabelValues(c.eventTypes.label(string(e.Type))).Inc()
	switch e.Type {
	case event.ChallengeCreated:
		c.actions.WithLabelValues(c.actionNames.label(e.Action), "CHALLENGE").Inc()
		c.RuleHit(e.Rule)
		if e.ChallengeID != "" {
			c.pending.add(e.ChallengeID, e.Time)
		}
	case event.ActionTracked:
		outcome := e.Reason
		switch outcome {
		case "ALLOW", "BLOCK", "REVIEW":
		case "CHALLENGE_REQUIRED":
			outcome = "ENROLLMENT_REQUIRED" // a challenge was wanted, but the user has no device
		default:
			outcome = "OTHER"
		}
		c.actions.WithLabelValues(c.actionNames.label(e.Action), outcome).Inc()
		c.RuleHit(e.Rule)
	case event.ChallengeApproved:
		c.answered(e, "approved")
	case event.ChallengeDenied:
		c.answered(e, "denied")
	case event.WrongCode:
		c.challenges.WithLabelValues(method(e), "wrong_code").Inc()
	case event.ChallengeFailed:
		c.challenges.WithLabelValues(method(e), "failed").Inc()
		c.pending.take(e.ChallengeID)
	case event.ChallengeValidated:
		c.validation.WithLabelValues(c.actionNames.label(e.Action), "valid").Inc()
	case event.ValidationFailed:
		c.validation.WithLabelValues(c.actionNames.label(e.Action), "invalid").Inc()
	case event.StoreError:
		kind := e.Reason
		switch kind {
		case "canceled", "timeout", "closed", "failed":
		default:
			kind = "failed" // the Service sends one of the four; nothing else becomes a label
		}
		c.storeErrs.WithLabelValues(kind).Inc()
	}
}

// RuleHit counts a rule that decided an action; OnEvent calls it with the
// rule events carry. Rule names the Service makes up (wrong_code_limit,
// review:<id>) count as themselves, the review's ID dropped.
func (c *Collector) RuleHit(rule string) {
	if rule == "" {
		return
	}
	if strings.HasPrefix(rule, "review:") {
		rule = "review" // never an ID in a label
	}
	c.ruleHits.WithLabelValues(c.ruleNames.label(rule)).Inc()
}

func (c *Collector) answered(e event.Event, result string) {
	c.challenges.WithLabelValues(method(e), result).Inc()
	if created, ok := c.pending.take(e.ChallengeID); ok && !e.Time.Before(created) {
		c.latency.WithLabelValues(result).Observe(e.Time.Sub(created).Seconds())
	}
}

// method is the method that answered. Events carry no method field: a
// passkey approval says "passkey" in Reason; every other answer is a
// device key's signed response (in-app, push or QR alike).
func method(e event.Event) string {
	if e.Reason == "passkey" {
		return string(deviceauth.MethodPasskey)
	}
	return string(deviceauth.MethodDevice)
}

// capped hands out label values: the first max distinct names as
// themselves, then Other. Names are cut to 64 bytes of valid UTF-8.
type capped struct {
	mu   sync.Mutex
	max  int
	seen map[string]struct{}
}

func newCapped(max int) *capped { return &capped{max: max, seen: map[string]struct{}{}} }

func (c *capped) label(name string) string {
	if name == "" {
		return "none"
	}
	name = strings.ToValidUTF8(name, "\uFFFD")
	for len(name) > 64 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[name]; ok {
		return name
	}
	if len(c.seen) >= c.max {
		return Other
	}
	c.seen[name] = struct{}{}
	return name
}

// pending remembers challenges' creation times, at most max of them: a
// ring of IDs evicts the oldest when full, so challenges that are never
// answered (they expire) cannot grow it.
type pending struct {
	mu      sync.Mutex
	created map[string]time.Time
	ring    []string
	next    int
}

func newPending(max int) *pending {
	return &pending{created: make(map[string]time.Time, max), ring: make([]string, max)}
}

func (p *pending) add(id string, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.ring[p.next]; old != "" {
		delete(p.created, old)
	}
	p.ring[p.next] = id
	p.next = (p.next + 1) % len(p.ring)
	p.created[id] = t
}

func (p *pending) take(id string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.created[id]
	delete(p.created, id)
	return t, ok
}

// size is the number of remembered challenges, for tests.
func (p *pending) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.created)
}
