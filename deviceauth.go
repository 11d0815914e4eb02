package deviceauth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/deviceauth/deviceauth/risk"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/cyclestore"
	"github.com/deviceauth/deviceauth/internal/httpsig"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// Limits of the configuration that New enforces.
const (
	// MaxRegistrationTokenTTL and MaxChallengeTTL are the hard caps of
	// docs/architecture.md#tokens-codes-and-time.
	MaxRegistrationTokenTTL = 10 * time.Minute
	MaxChallengeTTL         = 10 * time.Minute
	// MinKeyBytes is the shortest token-signing key New accepts.
	MinKeyBytes = 32
)

// Config configures a Service. Zero fields take the default their comment
// gives; New validates every field and says which one is wrong.
type Config struct {
	// Store keeps all state. Required. Every instance of the application
	// must use the same store.
	Store store.Store

	// Keys sign and verify challenge tokens (HMAC-SHA256). Required: at
	// least one key of at least MinKeyBytes random bytes. The first key
	// signs; all verify, so a key can be rotated by putting the new one
	// first and dropping the old one after the longest challenge TTL.
	Keys [][]byte

	// PublicURL is the absolute http(s) URL at which the Handler is
	// reachable by devices, e.g. "https://app.example.com/deviceauth".
	// Required. Its host is the @authority that device-signed requests must
	// cover, whatever Host header a proxy forwards.
	PublicURL string

	// TrustedProxies lists the networks of reverse proxies whose
	// X-Forwarded-For is believed. Empty (the default) means the client IP is
	// the connection's remote address.
	TrustedProxies []netip.Prefix

	// RegistrationTokenTTL is how long a registration token is valid.
	// Default 10 minutes; at most MaxRegistrationTokenTTL.
	RegistrationTokenTTL time.Duration
	// ChallengeTTL is how long a challenge can be answered and validated.
	// Default 5 minutes; at most MaxChallengeTTL.
	ChallengeTTL time.Duration
	// ClockSkew is how far a device-signed request's created time may be
	// from the server's clock. Default 120 seconds; at most 10 minutes.
	ClockSkew time.Duration

	// MaxCredentialsPerUser caps each user's credentials. Default 10.
	MaxCredentialsPerUser int
	// RecoveryCodes is how many one-time recovery codes
	// Service.RecoveryCodes issues. Default 0: none (the store must also
	// implement store.RecoveryCodeStore).
	RecoveryCodes int
	// MaxBodyBytes caps request bodies. Default 64 KiB.
	MaxBodyBytes int64
	// WrongCodeLimit is how many validly signed wrong verification codes a
	// user may enter for one action within WrongCodeWindow before the
	// challenge fails and Track answers BLOCK. Default 5.
	WrongCodeLimit int
	// WrongCodeWindow is the window of WrongCodeLimit. Default 10 minutes.
	WrongCodeWindow time.Duration
	// VerificationCodeDigits is the length of a verification code when a
	// policy asks for one without a length. Default 2; at least 2.
	VerificationCodeDigits int
	// ApproveOnly turns off the number matching asked for by default on
	// what fatigue attacks target: add/remove-authenticator step-ups, push
	// challenges, and the challenges Require and StepUp create for a phone
	// to answer (and that their tokens were approved with it). A policy,
	// TrackRequest.VerificationCode or WithVerificationCode still ask for
	// it. QR sign-in has its own QRWithoutCode.
	ApproveOnly bool

	// RateLimits caps requests per client IP and per user; see RateLimits
	// for the defaults.
	RateLimits RateLimits

	// Users says who is logged in, for Require and the web endpoints.
	// Optional: without it, Require needs WithUserResolver and the web
	// endpoints answer 401. adapters/gorillasession provides one.
	Users UserResolver

	// Notifier tells devices about push challenges and new credentials
	// (webhook.Notifier POSTs them, signed). A Notifier with a Check()
	// error method is checked by New.
	// Optional: without it devices poll their pending challenges.
	Notifier Notifier
	// NotifyTimeout bounds each Notifier call. Default 10 seconds.
	NotifyTimeout time.Duration
	// KeepOlderPushes keeps older pending push challenges when a new one is
	// tracked. By default a user has one pending push: a newer one
	// supersedes the older, so a flood of pushes cannot queue up.
	KeepOlderPushes bool
	// PushMute is how long pushes to a user stay muted after one was denied
	// with reason not_me. Default 1 hour.
	PushMute time.Duration

	// PollInterval is how often a waiting browser's challenge is re-read
	// in case a wake-up from the store was lost. Default 2 seconds;
	// negative turns polling off (wake-ups only).
	PollInterval time.Duration

	// QRCode renders a QR payload as a PNG for the browser (package qrcode
	// provides one). Optional: without it the answer carries the payload
	// only, and the page must render it.
	QRCode func(payload string) ([]byte, error)
	// QRApproveOnly turns number matching off for QR sign-in, which asks
	// for it by default.
	QRApproveOnly bool
	// QRActions are the actions an anonymous browser may ask a QR
	// challenge for (the device shows the action, so its creator must not
	// choose what the user reads). Default: ActionSignIn only. Only a QR
	// challenge for ActionSignIn completes a sign-in.
	QRActions []string
	// SignIn signs userID in through the application's session (and
	// rotates it) when a browser completes a QR sign-in. Required for the
	// QR completion endpoint; gorillasession.Resolver.SignIn fits.
	SignIn func(w http.ResponseWriter, r *http.Request, userID string) error

	// Passkeys turns on passkeys: Handler then serves their registration,
	// sign-in and step-up ceremonies (MethodPasskey) and passkey.js.
	// Optional; package passkey provides it (passkey.New). Passkey sign-in
	// needs SignIn.
	Passkeys PasskeyVerifier

	// ErrorHandler writes every refusal of Handler's endpoints and of
	// Require, for an application that answers errors its own way (an HTML
	// page, another JSON shape). d.Status and d.Body are what the Service
	// would send, d.Header the WWW-Authenticate value, d.Err the cause
	// (never to be sent). It must write the response. Default: d.Body as
	// JSON with d.Status.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, d *Denial)

	// Attestation verifies the hardware attestation a device may send with
	// its registration (docs/attestation.md). Optional; package attest
	// provides it (attest.NewVerifier). Without it a registration that
	// carries one is refused (attestation_failed).
	Attestation AttestationVerifier
	// AttestationRequired lists the platforms (Registration.Platform,
	// compared case-insensitively, e.g. "android", "ios") whose
	// registrations must carry a valid attestation; "*" means every
	// registration. Empty: attestation is optional. The platform is the
	// device's own claim, so only "*" keeps unattested keys out; per-platform
	// rules keep honest apps from forgetting it. Needs Attestation.
	AttestationRequired []string

	// Rules decides what Track answers (docs/rules.md). Default
	// DefaultPolicy, which challenges every action and whose answer needs
	// nothing from the store: Track then reads and creates in one store
	// call (store.CycleStore.BeginChallenge). Package rules makes a Policy
	// of a rules file (rules.Set.Policy). Any other policy is asked
	// between reading the user's state and creating the challenge, with
	// the signals the Service computes (PolicyInput.Signals).
	Rules Policy
	// Geo locates a request's IP for the geo signals; nil leaves them
	// empty. No database is bundled.
	Geo risk.GeoResolver
	// ActionRetention is how long action records (the history Actions
	// lists, and the source of the known, velocity, failure and recency
	// signals) are kept over a store that keeps them (store.ActionStore).
	// Default 90 days; negative: keep none.
	ActionRetention time.Duration
	// KnownFor is how long a passed challenge keeps its IP prefix and
	// browser known (PolicyInput.Signals.Known). Default 30 days, or
	// ActionRetention when shorter; at most ActionRetention.
	KnownFor time.Duration
	// ReviewFor is how long after an action an operator's approval of its
	// review lets the same action (same user, action and details) through,
	// once. Default 24 hours, at most 24 hours.
	ReviewFor time.Duration

	// Logger receives the Service's logs; they carry IDs and hashes only,
	// never tokens, nonces, codes, details or signatures. Default
	// slog.Default().
	Logger *slog.Logger
	// OnEvent, when set, receives every Event (for audit trails and
	// metrics). It is called synchronously and must not block.
	OnEvent func(context.Context, event.Event)
	// Trace, when set, wraps the Service's main steps — "track", "answer"
	// (a device's signed answer) and "validate" — for tracing: it is called
	// as a step starts, with the step and its action ("" while unknown),
	// and returns the context the step runs in and a function the step
	// calls once with its outcome (a state such as CHALLENGE_REQUIRED or
	// APPROVED, "valid", or an error code). It never sees user IDs,
	// tokens, codes or details. Package tracing provides one over
	// OpenTelemetry.
	Trace func(ctx context.Context, step, action string) (context.Context, func(outcome string))

	// Now is the clock. Default time.Now. Tests inject their own.
	Now func() time.Time
	// SweepInterval is how often the Service sweeps a store that
	// implements store.Sweeper (the SQL stores): one goroutine, stopped by
	// Close. Default 5 minutes; negative: never (the application sweeps,
	// or another instance does).
	SweepInterval time.Duration

	// Timer is the clock's timer, for long-polls and polling: it returns a
	// channel that receives after d. Default time.Timer. Tests inject
	// their own with Now.
	Timer func(d time.Duration) <-chan time.Time
}

// Service is the deviceauth core: it holds every rule (state machine,
// bindings, limits) between the HTTP handlers and the store. It is safe for
// concurrent use. Create it with New and stop it with Close.
type Service struct {
	cfg       Config
	store     store.Store
	cycle     store.CycleStore // the store's cycle steps, or their fallback (internal/cyclestore)
	macs      []*tokenMACer    // one per Config.Keys entry; the first signs
	pubkeys   keyCache
	answers   answerCache // what in-app answers read, kept from Track and earlier answers
	log       *slog.Logger
	now       func() time.Time
	policy    Policy
	profile   httpsig.Profile
	proxies   []netip.Prefix
	authority string
	publicURL *url.URL

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	done   chan struct{} // closed by Close: waiters return
}

// New validates cfg, fills in its defaults and returns a Service.
func New(cfg Config) (*Service, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.PublicURL)
	s := &Service{
		cfg:       cfg,
		store:     cfg.Store,
		cycle:     cyclestore.For(cfg.Store),
		log:       cfg.Logger,
		now:       cfg.Now,
		policy:    cfg.Rules,
		proxies:   cfg.TrustedProxies,
		authority: u.Host,
		profile:   httpsig.Profile{Authority: u.Host, Scheme: u.Scheme, Skew: cfg.ClockSkew},
		publicURL: u,
		done:      make(chan struct{}),
	}
	for _, k := range cfg.Keys {
		s.macs = append(s.macs, newTokenMACer(k))
	}
	if sw, ok := cfg.Store.(store.Sweeper); ok && cfg.SweepInterval > 0 {
		s.spawn(func() { s.sweepEvery(sw, cfg.SweepInterval) })
	}
	return s, nil
}

// sweepEvery sweeps sw every interval of the Service's clock until Close.
// A failed sweep is logged and tried again at the next interval: sweeping
// is garbage collection, so nothing waits for it.
func (s *Service) sweepEvery(sw store.Sweeper, interval time.Duration) {
	for {
		select {
		case <-s.done:
			return
		case <-s.cfg.Timer(interval):
		}
		// A sweep may take up to an interval, and ends early at Close.
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		go func() {
			select {
			case <-s.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		n, err := sw.Sweep(ctx, s.now())
		cancel()
		if err != nil {
			s.log.Warn("deviceauth: sweeping the store failed", "error", err.Error())
			continue
		}
		s.log.Debug("deviceauth: swept the store", "deleted", n)
	}
}

func (c *Config) setDefaults() error {
	bad := func(field, why string) error {
		return fmt.Errorf("deviceauth: Config.%s %s", field, why)
	}
	if c.Store == nil {
		return bad("Store", "is required")
	}
	if len(c.Keys) == 0 {
		return bad("Keys", "needs at least one key")
	}
	for i, k := range c.Keys {
		if len(k) < MinKeyBytes {
			return bad(fmt.Sprintf("Keys[%d]", i), fmt.Sprintf("is %d bytes; at least %d random bytes are required", len(k), MinKeyBytes))
		}
	}
	if c.PublicURL == "" {
		return bad("PublicURL", "is required")
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return bad("PublicURL", "must be an absolute http or https URL without user, query or fragment")
	}
	for i, p := range c.TrustedProxies {
		if !p.IsValid() {
			return bad(fmt.Sprintf("TrustedProxies[%d]", i), "is not a valid prefix")
		}
	}
	durations := []struct {
		name     string
		v        *time.Duration
		def, max time.Duration
	}{
		{"RegistrationTokenTTL", &c.RegistrationTokenTTL, 10 * time.Minute, MaxRegistrationTokenTTL},
		{"ChallengeTTL", &c.ChallengeTTL, 5 * time.Minute, MaxChallengeTTL},
		{"ClockSkew", &c.ClockSkew, 120 * time.Second, 10 * time.Minute},
		{"WrongCodeWindow", &c.WrongCodeWindow, 10 * time.Minute, 24 * time.Hour},
		{"NotifyTimeout", &c.NotifyTimeout, 10 * time.Second, 5 * time.Minute},
		{"PushMute", &c.PushMute, time.Hour, 30 * 24 * time.Hour},
	}
	for _, d := range durations {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < time.Second:
			return bad(d.name, "must be at least one second")
		case *d.v > d.max:
			return bad(d.name, "must be at most "+d.max.String())
		}
	}
	ints := []struct {
		name     string
		v        *int
		def, min int
	}{
		{"MaxCredentialsPerUser", &c.MaxCredentialsPerUser, 10, 1},
		{"WrongCodeLimit", &c.WrongCodeLimit, 5, 1},
		{"VerificationCodeDigits", &c.VerificationCodeDigits, 2, 2},
	}
	for _, n := range ints {
		switch {
		case *n.v == 0:
			*n.v = n.def
		case *n.v < n.min:
			return bad(n.name, fmt.Sprintf("must be at least %d", n.min))
		}
	}
	if c.QRActions == nil {
		c.QRActions = []string{ActionSignIn}
	}
	for i, a := range c.QRActions {
		if !protocol.ValidAction(a) {
			return bad(fmt.Sprintf("QRActions[%d]", i), "must be 1 to 64 characters of [A-Za-z0-9_.:-]")
		}
	}
	if c.VerificationCodeDigits > maxCodeDigits {
		return bad("VerificationCodeDigits", fmt.Sprintf("must be at most %d", maxCodeDigits))
	}
	switch {
	case c.MaxBodyBytes == 0:
		c.MaxBodyBytes = 64 << 10
	case c.MaxBodyBytes < 1<<10:
		return bad("MaxBodyBytes", "must be at least 1 KiB")
	}
	rates := []struct {
		name string
		r    *Rate
		def  Rate
	}{
		{"RateLimits.Register", &c.RateLimits.Register, Rate{20, 10 * time.Minute}},
		{"RateLimits.Fetch", &c.RateLimits.Fetch, Rate{300, time.Minute}},
		{"RateLimits.Respond", &c.RateLimits.Respond, Rate{60, time.Minute}},
		{"RateLimits.Challenges", &c.RateLimits.Challenges, Rate{30, 10 * time.Minute}},
		{"RateLimits.Pushes", &c.RateLimits.Pushes, Rate{10, time.Hour}},
		{"RateLimits.QR", &c.RateLimits.QR, Rate{30, time.Minute}},
		{"RateLimits.Ceremonies", &c.RateLimits.Ceremonies, Rate{60, time.Minute}},
		{"RateLimits.Recovery", &c.RateLimits.Recovery, Rate{5, time.Hour}},
	}
	for _, r := range rates {
		if r.r.Limit == 0 {
			r.r.Limit = r.def.Limit
		}
		switch {
		case r.r.Window == 0:
			r.r.Window = r.def.Window
		case r.r.Window < time.Second:
			return bad(r.name+".Window", "must be at least one second")
		}
	}
	for _, p := range []struct {
		name      string
		v         *int
		def, bits int
	}{
		{"RateLimits.IPv4Prefix", &c.RateLimits.IPv4Prefix, 32, 32},
		{"RateLimits.IPv6Prefix", &c.RateLimits.IPv6Prefix, 64, 128},
	} {
		switch {
		case *p.v == 0:
			*p.v = p.def
		case *p.v < 1 || *p.v > p.bits:
			return bad(p.name, fmt.Sprintf("must be 1 to %d bits", p.bits))
		}
	}
	if w, ok := c.Notifier.(interface{ Check() error }); ok {
		if err := w.Check(); err != nil {
			return bad("Notifier", err.Error())
		}
	}
	if _, ok := c.Store.(store.CeremonyStore); c.Passkeys != nil && !ok {
		return bad("Passkeys", "needs a store that keeps ceremonies (store.CeremonyStore); every store of this module does")
	}
	if len(c.AttestationRequired) > 0 && c.Attestation == nil {
		return bad("AttestationRequired", "needs Config.Attestation to verify attestations")
	}
	if c.Rules == nil {
		c.Rules = DefaultPolicy{}
	}
	if err := c.historyDefaults(); err != nil {
		return err
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Timer == nil {
		c.Timer = time.After
	}
	switch {
	case c.SweepInterval == 0:
		c.SweepInterval = 5 * time.Minute
	case c.SweepInterval > 0 && c.SweepInterval < time.Second:
		return bad("SweepInterval", "must be at least a second (or negative for none)")
	}
	switch {
	case c.PollInterval == 0:
		c.PollInterval = 2 * time.Second
	case c.PollInterval > 0 && c.PollInterval < 10*time.Millisecond:
		return bad("PollInterval", "must be at least 10 milliseconds (or negative for none)")
	}
	return nil
}

// Close stops the Service: it waits for the work it started to finish or
// for ctx to end, whichever is first. It does not close the store, which
// the application owns. Calls after the first return nil.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// spawn runs f on a goroutine the Service owns: Close waits for it. It
// reports false, and does not run f, after Close.
func (s *Service) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}
