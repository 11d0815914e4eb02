package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
)

// Config is what one run does.
type Config struct {
	// Store is the -store value (see parseStore); FastCommits selects
	// SQLite's fast commits.
	Store       string
	FastCommits bool
	// Kind names the cycle kind (see kinds).
	Kind string
	// AnswerSame has the device answer on the instance that tracked the
	// cycle's challenge (as behind a load balancer that routes a user's
	// phone to the instance serving that user), instead of the other one.
	// An in-app answer is then one store call (docs/architecture.md#the-store-contract).
	AnswerSame bool
	// Method is what a push cycle's challenge offers: MethodPush (the push
	// flow: older pushes superseded, the device notified) or MethodDevice.
	// The in-app cycle's is always MethodInApp.
	Method deviceauth.Method
	// Algorithm is the devices' key algorithm, ES256 or EdDSA.
	Algorithm string
	// Devices is how many simulated devices (one user each) take turns;
	// Concurrency how many cycles run at once, each with a device of its
	// own. Devices ≥ Concurrency.
	Devices, Concurrency int
	// Warmup runs cycles that are checked but not measured; Duration is the
	// measured window. Cycles running when it ends are finished and
	// counted.
	Warmup, Duration time.Duration
	// Ceiling is how long the crypto ceiling is measured, half before the
	// run and half after it.
	Ceiling time.Duration
	// Listen is the loopback address the two instances listen on.
	Listen string
	// CycleTimeout bounds each cycle.
	CycleTimeout time.Duration
	// Progress, when not nil, gets a progress line once a second.
	Progress io.Writer

	// opened, when not nil, is called with the backend once it is open
	// (tests check that what it created is gone after the run).
	opened func(*backend)
}

// MaxDuration bounds Warmup + Duration: the tool always stops by itself.
const MaxDuration = time.Hour

// action and details are those of every cycle's challenge: a payment, as
// the product's main flow.
const action = "transfer"

var details = deviceauth.Details{Message: "Send 10.00 EUR to Bob",
	Fields: []deviceauth.Field{{Label: "Amount", Value: "10.00 EUR"}, {Label: "Payee", Value: "Bob"}}}

// check refuses a configuration that cannot run, before anything starts.
func (c *Config) check() (storeSpec, cycleKind, netip.Addr, error) {
	spec, err := parseStore(c.Store)
	if err != nil {
		return storeSpec{}, cycleKind{}, netip.Addr{}, err
	}
	kind, ok := kinds[c.Kind]
	if !ok {
		return storeSpec{}, cycleKind{}, netip.Addr{}, fmt.Errorf("-kind %q: want push or inapp", c.Kind)
	}
	addr, err := loopback(c.Listen)
	switch {
	case err != nil:
		return storeSpec{}, cycleKind{}, netip.Addr{}, err
	case c.Algorithm != "ES256" && c.Algorithm != "EdDSA":
		err = fmt.Errorf("-alg %q: want ES256 or EdDSA", c.Algorithm)
	case c.Method != deviceauth.MethodPush && c.Method != deviceauth.MethodDevice:
		err = fmt.Errorf("-method %q: want %s or %s", c.Method, deviceauth.MethodPush, deviceauth.MethodDevice)
	case c.Concurrency < 1:
		err = fmt.Errorf("-c %d: want at least 1", c.Concurrency)
	case c.Devices < c.Concurrency:
		err = fmt.Errorf("-devices %d: want at least -c (%d), since a device runs one cycle at a time", c.Devices, c.Concurrency)
	case c.Duration <= 0 || c.Warmup < 0 || c.Warmup+c.Duration > MaxDuration:
		err = fmt.Errorf("-warmup %v and -d %v: want a positive duration, and both together at most %v", c.Warmup, c.Duration, MaxDuration)
	case c.Ceiling <= 0 || c.Ceiling > time.Minute:
		err = fmt.Errorf("-ceiling %v: want a positive duration of at most a minute", c.Ceiling)
	case c.CycleTimeout <= 0:
		err = fmt.Errorf("-cycle-timeout %v: want a positive duration", c.CycleTimeout)
	}
	return spec, kind, addr, err
}

// loopback parses the listen address, which must be a loopback IP
// ("localhost" is 127.0.0.1): the load this tool makes never leaves the
// machine.
func loopback(host string) (netip.Addr, error) {
	if host == "localhost" {
		host = "127.0.0.1"
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !addr.IsLoopback() {
		return netip.Addr{}, fmt.Errorf("-listen %q: want a loopback address such as 127.0.0.1 or ::1; the tool does not listen elsewhere", host)
	}
	return addr, nil
}

// instance is one application instance: a Service over its store value,
// its device handler served on a loopback port.
type instance struct {
	svc *deviceauth.Service
	srv *http.Server
	url string // the Service's PublicURL
}

// simDevice is a simulated device: one user's one credential, with a
// client of each instance's handler.
type simDevice struct {
	user    string
	clients [2]*device.Client
	// cycles counts the device's cycles, to alternate the instances.
	cycles int
	// notified receives the challenge IDs the Notifier announces to this
	// device.
	notified chan string
}

// runner is one run in progress.
type runner struct {
	cfg  Config
	kind cycleKind
	inst [2]*instance
	// devices are the idle devices; a worker takes one per cycle.
	devices chan *simDevice
	// transport carries every device's requests.
	transport *http.Transport

	byCredential sync.Map // credential ID → *simDevice, for the Notifier
	notified     atomic.Int64

	measuring atomic.Bool
	stopping  atomic.Bool
	stats     stats
	// tripsPerCycle is the store's round trips per cycle, warm-up
	// included; 0 when not counted.
	tripsPerCycle float64
}

// Run measures the crypto ceiling, starts two instances over the store,
// registers the devices, runs the cycles, measures the ceiling again,
// removes what it created and reports. An error before the cycles start
// returns no report; a ctx ended meanwhile (an interrupt) returns the
// report of what ran with ctx's error.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	spec, kind, addr, err := cfg.check()
	if err != nil {
		return nil, err
	}
	r := newRunner(cfg, kind)
	before := measureCeiling(ctx, cfg.Ceiling/2)

	be, err := spec.open(ctx, cfg.FastCommits, cfg.Concurrency)
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	if cfg.opened != nil {
		cfg.opened(be)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if cerr := be.close(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up the store: %w", cerr))
		}
	}()
	stop, err := r.start(be, addr)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, stop()) }()
	if err := r.register(ctx); err != nil {
		return nil, err
	}

	tripsBefore := be.trips.count()
	cyclesBefore := r.stats.cycles.Load()
	elapsed, cpu := r.cycle(ctx)
	if be.trips != nil && r.stats.cycles.Load() > cyclesBefore {
		r.tripsPerCycle = float64(be.trips.count()-tripsBefore) / float64(r.stats.cycles.Load()-cyclesBefore)
	}
	// Closing the Services waits for the notifications they send.
	if serr := stop(); serr != nil {
		return nil, serr
	}
	after := measureCeiling(ctx, cfg.Ceiling/2)
	return r.report(be.name, elapsed, cpu, before, after), ctx.Err()
}

func newRunner(cfg Config, kind cycleKind) *runner {
	r := &runner{cfg: cfg, kind: kind, devices: make(chan *simDevice, cfg.Devices)}
	r.stats.init()
	return r
}

// start starts the two instances over be's store values; stop shuts them
// down (and is safe to call twice).
func (r *runner) start(be *backend, addr netip.Addr) (stop func() error, err error) {
	key := make([]byte, 32)
	rand.Read(key)
	off := deviceauth.Rate{Limit: -1}
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
			defer cancel()
			if r.transport != nil {
				r.transport.CloseIdleConnections()
			}
			for _, in := range r.inst {
				if in == nil {
					continue
				}
				stopErr = errors.Join(stopErr, in.srv.Shutdown(ctx))
				if in.svc != nil {
					stopErr = errors.Join(stopErr, in.svc.Close(ctx))
				}
			}
		})
		return stopErr
	}
	for i := range r.inst {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		if err != nil {
			return nil, errors.Join(err, stop())
		}
		in := &instance{url: "http://" + ln.Addr().String() + "/deviceauth"}
		mux := http.NewServeMux()
		in.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		r.inst[i] = in
		go in.srv.Serve(ln)
		in.svc, err = deviceauth.New(deviceauth.Config{
			Store: be.stores[i], Keys: [][]byte{key}, PublicURL: in.url,
			// Every simulated device answers far more often than a person:
			// per-user and per-IP limits (all clients are 127.0.0.1) are
			// off, as for a deployment's own load test.
			RateLimits: deviceauth.RateLimits{Register: off, Fetch: off, Respond: off, Challenges: off,
				Pushes: off, QR: off, Ceremonies: off, Recovery: off},
			Notifier: deviceauth.NotifierFunc(r.notify),
			Logger:   slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return nil, errors.Join(err, stop())
		}
		mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", in.svc.Handler()))
	}
	return stop, nil
}

// notify is the Notifier: it hands the challenge ID to the devices named,
// as a push service would wake the phone.
func (r *runner) notify(_ context.Context, n deviceauth.Notification) error {
	if n.Type != deviceauth.NotificationChallenge {
		return nil
	}
	r.notified.Add(1)
	for _, id := range n.CredentialIDs {
		if d, ok := r.byCredential.Load(id); ok {
			select {
			case d.(*simDevice).notified <- n.ChallengeID:
			default: // a device that stopped listening drops it, as a phone may
			}
		}
	}
	return nil
}

// register enrols the devices, Concurrency at a time, alternating the
// instances, and puts them in the idle pool.
func (r *runner) register(ctx context.Context) error {
	r.transport = &http.Transport{
		Proxy:               nil, // loopback only, never through a proxy
		MaxIdleConns:        4 * r.cfg.Concurrency,
		MaxIdleConnsPerHost: 2 * r.cfg.Concurrency,
		IdleConnTimeout:     time.Minute,
	}
	hc := &http.Client{Transport: r.transport}
	prefix := runName("load-")
	work := make(chan int)
	errs := make(chan error, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Go(func() {
			for i := range work {
				d, err := r.enrol(ctx, hc, fmt.Sprintf("%s-%d", prefix, i), i%2)
				if err != nil {
					errs <- fmt.Errorf("registering device %d: %w", i, err)
					return
				}
				r.devices <- d
			}
		})
	}
	var err error
feed:
	for i := range r.cfg.Devices {
		select {
		case work <- i:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(work)
	wg.Wait()
	select {
	case e := <-errs:
		err = errors.Join(err, e)
	default:
	}
	return err
}

// enrol registers a new device of user through instance at.
func (r *runner) enrol(ctx context.Context, hc *http.Client, user string, at int) (*simDevice, error) {
	var signer crypto.Signer
	var err error
	if r.cfg.Algorithm == "EdDSA" {
		signer, err = device.NewEd25519Key()
	} else {
		signer, err = device.NewP256Key()
	}
	if err != nil {
		return nil, err
	}
	d := &simDevice{user: user, notified: make(chan string, 4)}
	for i, other := range r.inst {
		if d.clients[i], err = device.New(other.url, signer); err != nil {
			return nil, err
		}
		d.clients[i].HTTPClient = hc
	}
	grant, err := r.inst[at].svc.MintRegistrationToken(ctx, user, "")
	if err != nil {
		return nil, err
	}
	cred, err := d.clients[at].Register(ctx, grant.Token, "load", "test")
	if err != nil {
		return nil, err
	}
	for _, c := range d.clients {
		c.CredentialID = cred.ID
	}
	r.byCredential.Store(cred.ID, d)
	return d, nil
}

// cycle runs Concurrency workers through the warm-up and the measured
// window, with a progress line a second, and returns the measured time —
// from the window's start until the last cycle running at its end is done
// — and the CPU time the process spent meanwhile (0 where unknown).
func (r *runner) cycle(ctx context.Context) (elapsed, cpu time.Duration) {
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Go(func() { r.worker(ctx) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	begin := time.Now()
	var start time.Time
	var cpuStart time.Duration
	window := func() (time.Duration, time.Duration) {
		if start.IsZero() {
			return 0, 0
		}
		return time.Since(start), processCPU() - cpuStart
	}
	phase := time.NewTimer(r.cfg.Warmup)
	defer phase.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastCycles := int64(0)
	if r.cfg.Warmup == 0 {
		start, cpuStart = r.measure(phase)
	}
	for {
		select {
		case <-phase.C:
			if start.IsZero() {
				start, cpuStart = r.measure(phase)
				continue
			}
			r.stopping.Store(true)
			phase.Stop()
		case <-ctx.Done():
			r.stopping.Store(true)
			<-done
			return window()
		case <-done:
			return window()
		case now := <-tick.C:
			cycles := r.stats.cycles.Load()
			if r.cfg.Progress != nil {
				what := "warm-up"
				if !start.IsZero() {
					what = "measuring"
				}
				fmt.Fprintf(r.cfg.Progress, "deviceauth-load: %3.0fs %-9s %8d cycles, %6d in the last second, %d errors\n",
					now.Sub(begin).Seconds(), what, cycles, cycles-lastCycles, r.stats.errorCount())
			}
			lastCycles = cycles
		}
	}
}

// measure starts the measured window: cycles begun from now on are
// measured, and phase fires at its end. It returns the start and the
// process's CPU time then.
func (r *runner) measure(phase *time.Timer) (time.Time, time.Duration) {
	r.measuring.Store(true)
	phase.Reset(r.cfg.Duration)
	return time.Now(), processCPU()
}

// worker runs cycles until the run stops, each with an idle device, the
// instances alternating per device: one tracks and validates, the other
// serves the device (or the same one, with AnswerSame) and is where the
// replay is tried.
func (r *runner) worker(ctx context.Context) {
	var lat histogram
	var measured int64
	defer func() { r.stats.merge(&lat, measured) }()
	for !r.stopping.Load() && ctx.Err() == nil {
		d := <-r.devices
		measuring := r.measuring.Load()
		app, other := d.cycles%2, (d.cycles+1)%2
		dev := other
		if r.cfg.AnswerSame {
			dev = app
		}
		d.cycles++
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CycleTimeout)
		took, err := r.one(cctx, d, r.inst[app].svc, d.clients[dev], r.inst[other].svc)
		cancel()
		r.devices <- d
		if ctx.Err() != nil {
			return // an interrupted cycle is neither a result nor an error
		}
		r.stats.cycles.Add(1)
		if err != nil {
			r.stats.fail(err)
			continue
		}
		if measuring {
			lat.add(took)
			measured++
		}
	}
}

// one runs one cycle of the run's kind: tracked on app, answered by d
// through dev, validated on app; then the replay of its token on other
// must fail. The cycle's latency is from Track to the first Validate's
// answer: the replay is the tool's check, not part of the cycle.
func (r *runner) one(ctx context.Context, d *simDevice, app *deviceauth.Service, dev *device.Client, other *deviceauth.Service) (time.Duration, error) {
	begin := time.Now()
	token, err := r.kind.approve(ctx, cycle{app: app, dev: dev, sim: d, method: r.cfg.Method})
	if err != nil {
		return 0, err
	}
	r.stats.approved.Add(1)
	req := deviceauth.ValidateRequest{Token: token, UserID: d.user, Action: action, Details: details}
	v, err := app.Validate(ctx, req)
	took := time.Since(begin)
	switch {
	case err != nil:
		return 0, stepError{"validate", err}
	case !v.Valid:
		return 0, stepError{"validate", errNotValid}
	case v.Method != r.kind.validated(r.cfg):
		return 0, stepError{"validate", fmt.Errorf("%w %s", errWrongMethod, v.Method)}
	}
	again, err := other.Validate(ctx, req)
	switch {
	case err != nil:
		return 0, stepError{"replay", err}
	case again.Valid:
		r.stats.replays.Add(1)
		return 0, stepError{"replay", errValidTwice}
	}
	r.stats.once.Add(1)
	return took, nil
}
