package roottest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/risk"
	"github.com/deviceauth/deviceauth/rules"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// BenchmarkBaselineSignVerify is the floor of a challenge cycle: one ES256
// signature by the device and one verification by the server.
func BenchmarkBaselineSignVerify(b *testing.B) { cycletest.BaselineSignVerify(b) }

// BenchmarkChallengeCycle is one whole cycle through Service calls over
// memstore: track → fetch → the device signs → respond → validate.
func BenchmarkChallengeCycle(b *testing.B) {
	e := newEnv(b, noRateLimits, benchLogging)
	ctx := context.Background()
	d := e.enrolKeyed("alice")
	dev := seam.Device{CredentialID: d.CredentialID, UserID: "alice"}
	for b.Loop() {
		res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails})
		if err != nil {
			b.Fatal(err)
		}
		v, err := cycletest.FetchChallenge(e.svc, ctx, dev, res.ChallengeID)
		if err != nil {
			b.Fatal(err)
		}
		digest := protocol.DetailsDigest(v.Details)
		msg := protocol.ResponseMessage(protocol.Response{ChallengeID: v.ChallengeID, Nonce: v.Nonce, Action: v.Action,
			CredentialID: d.CredentialID, Decision: "approve", DetailsDigest: digest[:]})
		h := sha256.Sum256(msg)
		sig, _ := ecdsa.SignASN1(rand.Reader, d.key, h[:])
		if _, err := e.svc.Respond(ctx, deviceauth.DeviceAnswer{ChallengeID: v.ChallengeID, CredentialID: d.CredentialID,
			Decision: "approve", Signature: sig}); err != nil {
			b.Fatal(err)
		}
		val, err := e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: "alice", Action: "transfer", Details: transferDetails})
		if err != nil || !val.Valid {
			b.Fatal("not valid", err)
		}
	}
}

// BenchmarkValidate is Validate alone on approved challenges, prepared in
// batches (see inBatches) as BenchmarkRequireValidToken's are.
func BenchmarkValidate(b *testing.B) {
	e := newEnv(b, noRateLimits, benchLogging)
	ctx := context.Background()
	d := e.enrolKeyed("alice")
	var tokens []string
	inBatches(b, e, func(n int) { tokens = approvedTokens(b, e, d, n) }, func(i int) {
		v, err := e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: tokens[i], UserID: "alice", Action: "transfer", Details: transferDetails})
		if err != nil || !v.Valid {
			b.Fatal("not valid", err)
		}
	})
}

// steadyStore keeps the cycle benchmarks' memstore at about one size
// whatever b.N, as a server's store is between expiries: before every
// benchBatch-th cycle the clock passes the earlier challenges' expiry and
// retention, and the store deletes them in the calls that follow (a cost
// the cycles pay, as a server's do). Without it the store, its maps and
// the heap grow with b.N.
func steadyStore(e *env, i int) {
	if i%benchBatch == benchBatch-1 {
		e.clock.Advance(2 * time.Hour)
	}
}

// benchBatch is how many approved challenges inBatches prepares at a time.
const benchBatch = 256

// inBatches runs b.N iterations of run, each on one of the prepared
// challenges: prepare(n) makes n of them with the timer stopped, then run
// takes their indexes 0..n-1, and after each batch the clock passes their
// expiry and memstore's retention, so that the store collects them as the
// next batch is made. Without batches each benchmark would prepare b.N
// challenges at once, and Validate and Require, whose b.N differ, would be
// measured over live heaps of different sizes; with them, every run works
// over about the same store and heap whatever its b.N. A collection after
// each preparation keeps its garbage, far more than the run's, from being
// collected (and charged, through mark assists) inside the timed run.
func inBatches(b *testing.B, e *env, prepare func(n int), run func(i int)) {
	b.ReportAllocs()
	b.StopTimer()
	for done := 0; done < b.N; {
		n := min(benchBatch, b.N-done)
		prepare(n)
		runtime.GC() // the preparation's garbage is not the run's to collect
		b.StartTimer()
		for i := range n {
			run(i)
		}
		b.StopTimer()
		done += n
		e.clock.Advance(2 * time.Hour) // past the challenges' expiry and memstore's hour of retention
	}
}

// approvedTokens makes n approved challenges and returns their tokens.
func approvedTokens(b testing.TB, e *env, d keyedDevice, n int) []string {
	ctx := context.Background()
	tokens := make([]string, n)
	for i := range tokens {
		// With a code, as Require's challenges are, so that the tokens pass
		// a gated route too.
		res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails, VerificationCode: true})
		if err != nil {
			b.Fatal(err)
		}
		// Through Service calls, not HTTP: benchmarks make many of these.
		v, err := cycletest.FetchChallenge(e.svc, ctx, seam.Device{CredentialID: d.CredentialID, UserID: "alice"}, res.ChallengeID)
		if err != nil {
			b.Fatal(err)
		}
		ch := device.Challenge{ID: v.ChallengeID, Action: v.Action, Nonce: v.Nonce, Details: v.Details}
		if _, err := e.svc.Respond(ctx, d.response(b, ch, "approve", res.VerificationCode)); err != nil {
			b.Fatal(err)
		}
		tokens[i] = res.Token
	}
	return tokens
}

// BenchmarkChallengeCycleHTTP is the cycle through the HTTP layer, served
// in process (no network): a gated POST answered 401 challenge_required,
// the device's signed fetch, its signed response, and the retried POST
// with the token. The device signs twice (the RFC 9421 fetch and the
// response) and the server verifies twice, so the floor is twice
// BenchmarkBaselineSignVerify for an ES256 device.
func BenchmarkChallengeCycleHTTP(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			g := newGatedBenchEnv(b)
			d := g.enrol("alice", alg)
			d.HTTPClient = &http.Client{Transport: handlerTransport{g.mux}}
			d.Now = g.clock.Now
			ctx := context.Background()
			for i := 0; b.Loop(); i++ {
				steadyStore(g.env, i)
				httpCycle(b, ctx, g, d)
			}
		})
	}
}

// httpCycle runs one two-signature cycle of BenchmarkChallengeCycleHTTP: a
// gated POST answered 401 challenge_required, the device's signed fetch,
// its signed response, and the retried POST with the token.
func httpCycle(tb testing.TB, ctx context.Context, g *gatedEnv, d *device.Client) {
	rec := g.transfer("alice", "", "10")
	if rec.Code != http.StatusUnauthorized {
		tb.Fatalf("gated: %d", rec.Code)
	}
	var body deviceauth.DenialBody
	json.Unmarshal(rec.Body.Bytes(), &body)
	ch, err := d.Challenge(ctx, body.ChallengeID)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := d.Approve(ctx, ch, body.VerificationCode); err != nil {
		tb.Fatal(err)
	}
	if rec := g.transfer("alice", body.Token, "10"); rec.Code != http.StatusOK {
		tb.Fatalf("retry: %d", rec.Code)
	}
}

// TestChallengeCycleHTTP_AllocationBudget pins the allocations of the
// two-signature cycle through HTTP, device side included
// (BenchmarkChallengeCycleHTTP/ES256): at most half of the 757 it made
// when issue 14 was filed (docs/benchmarks.md says where they went). The
// race detector's build allocates more (sync.Pool keeps fewer values);
// it gets its own budget.
func TestChallengeCycleHTTP_AllocationBudget(t *testing.T) {
	budget := 757 / 2
	if raceEnabled {
		budget = raceAllocBudget
	}
	checkCycleAllocations(t, "the two-signature HTTP cycle", budget, httpCycle)
}

// checkCycleAllocations fails t when cycle, run through HTTP by an ES256
// device (its side included), allocates more than budget on average.
func checkCycleAllocations(t *testing.T, name string, budget int, cycle func(testing.TB, context.Context, *gatedEnv, *device.Client)) {
	t.Helper()
	g := newGatedBenchEnv(t)
	d := g.enrol("alice", "ES256")
	d.HTTPClient = &http.Client{Transport: handlerTransport{g.mux}}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(50, func() { cycle(t, ctx, g, d) })
	t.Logf("%s: %.0f allocations", name, allocs)
	if allocs > float64(budget) {
		t.Fatalf("%s allocates %.0f, want at most %d", name, allocs, budget)
	}
}

// BenchmarkChallengeCycleInAppHTTP is the one-signature in-app cycle through
// the HTTP layer, served in process: the app's backend tracks the action
// in-app (as the gated route's app would, in process), the device answers
// from the payload alone with its one signed request through Handler(),
// and the gated request with the token passes Require. Its floor is one
// signature and its verification (BenchmarkBaselineSignVerify).
func BenchmarkChallengeCycleInAppHTTP(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			g := newGatedBenchEnv(b)
			d := g.enrol("alice", alg)
			d.HTTPClient = &http.Client{Transport: handlerTransport{g.mux}}
			d.Now = g.clock.Now
			ctx := context.Background()
			for i := 0; b.Loop(); i++ {
				steadyStore(g.env, i)
				inAppCycle(b, ctx, g, d)
			}
		})
	}
}

// BenchmarkRequireValidToken is a gated request carrying a valid token
// (a trivial resolver, memstore), beside BenchmarkValidate. Requests are
// built, in the same batches as BenchmarkValidate's tokens, with the timer
// stopped, so only serving them is measured. The route's details come
// from its JSON body through the application's extractor, whose decoding
// is part of what is measured; BenchmarkRequireValidTokenPrebuiltDetails
// leaves it out.
func BenchmarkRequireValidToken(b *testing.B) {
	g := newGatedBenchEnv(b)
	benchRequire(b, g, g.handler)
}

// BenchmarkRequireValidTokenPrebuiltDetails is BenchmarkRequireValidToken
// with an extractor that returns the details already built, as
// BenchmarkValidate passes them: what Require adds to Validate alone.
func BenchmarkRequireValidTokenPrebuiltDetails(b *testing.B) {
	g := newGatedBenchEnv(b)
	prebuilt := deviceauth.WithDetails(func(*http.Request, []byte) (deviceauth.Details, error) { return transferDetails, nil })
	benchRequire(b, g, g.benchRoute(prebuilt))
}

// benchRequire serves gated requests, each with its own approved token,
// through h. As BenchmarkValidate takes its tokens from a slice, each
// request is the one request value with the next token and a fresh body:
// the request a server hands its handler is the one it has just written,
// in the processor's cache, where hundreds of requests prepared ahead and
// taken in turn would each come from memory. The response writer is one
// value too, as net/http reuses its own; neither is Require's cost.
func benchRequire(b *testing.B, g *gatedEnv, h http.Handler) {
	d := g.enrolKeyed("alice")
	var tokens []string
	body := &benchBody{}
	req := transferRequest(benchTransferBody)
	req.Header.Set("X-User", "alice")
	req.Header.Set(deviceauth.TokenHeader, "")
	token := req.Header[deviceauth.TokenHeader]
	w := &benchWriter{header: http.Header{}}
	inBatches(b, g.env, func(n int) { tokens = approvedTokens(b, g.env, d, n) }, func(i int) {
		body.Reset(benchTransferBody)
		req.Body, token[0] = body, tokens[i]
		clear(w.header)
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("gated: %d", w.status)
		}
	})
}

// benchTransferBody is the body of the benchmarks' gated requests.
const benchTransferBody = `{"amount":"10.00 EUR","payee":"Bob"}`

// benchBody is a request body that can be filled again.
type benchBody struct{ strings.Reader }

func (*benchBody) Close() error { return nil }

// benchWriter is a response writer that keeps the status only.
type benchWriter struct {
	header http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.header }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }

// gatedRequests returns n gated requests, each with its own approved token.
func gatedRequests(tb testing.TB, g *gatedEnv, d keyedDevice, n int) []*http.Request {
	tokens := approvedTokens(tb, g.env, d, n)
	reqs := make([]*http.Request, n)
	for i, tok := range tokens {
		reqs[i] = httptest.NewRequest(http.MethodPost, "/transfer", strings.NewReader(benchTransferBody))
		reqs[i].Header.Set("X-User", "alice")
		reqs[i].Header.Set(deviceauth.TokenHeader, tok)
	}
	return reqs
}

// TestRequire_AllocationsOverValidate pins what Require adds to Validate:
// at most 12 allocations per request (7 measured, 8 under the race detector:
// the body buffered, the details extractor, the request and its context
// handed to the handler). The response recorder is made outside the
// measured function.
func TestRequire_AllocationsOverValidate(t *testing.T) {
	g := newGatedBenchEnv(t)
	d := g.enrolKeyed("alice")
	const runs = 50
	tokens := approvedTokens(t, g.env, d, runs+1)
	reqs := gatedRequests(t, g, d, runs+1)
	recs := make([]*httptest.ResponseRecorder, runs+1)
	for i := range recs {
		recs[i] = httptest.NewRecorder()
	}
	i := 0
	validate := testing.AllocsPerRun(runs, func() {
		v, err := g.svc.Validate(context.Background(), deviceauth.ValidateRequest{Token: tokens[i], UserID: "alice", Action: "transfer", Details: transferDetails})
		if err != nil || !v.Valid {
			t.Fatal("not valid")
		}
		i++
	})
	i = 0
	require := testing.AllocsPerRun(runs, func() {
		g.handler.ServeHTTP(recs[i], reqs[i])
		if recs[i].Code != http.StatusOK {
			t.Fatalf("gated: %d", recs[i].Code)
		}
		i++
	})
	t.Logf("allocations: Validate %.0f, Require %.0f", validate, require)
	if require-validate > 12 {
		t.Fatalf("Require allocates %.0f more than Validate (%.0f vs %.0f), want at most 12", require-validate, require, validate)
	}
}

// newGatedBenchEnv is a gatedEnv whose transfer details are exactly
// transferDetails for amount "10.00 EUR", with rate limits off.
func newGatedBenchEnv(tb testing.TB) *gatedEnv {
	g := &gatedEnv{}
	g.env = newEnv(tb, noRateLimits, headerUsers, benchLogging)
	details := deviceauth.WithDetails(func(r *http.Request, body []byte) (deviceauth.Details, error) {
		var t transferBody
		if err := json.Unmarshal(body, &t); err != nil {
			return deviceauth.Details{}, err
		}
		return deviceauth.Details{Message: "Send " + t.Amount + " to " + t.Payee,
			Fields: []deviceauth.Field{{Label: "Amount", Value: t.Amount}, {Label: "Payee", Value: t.Payee}}}, nil
	})
	g.handler = g.benchRoute(details)
	g.mux = http.NewServeMux()
	g.mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", g.svc.Handler()))
	return g
}

// benchRoute is the benchmarks' gated route: "transfer", answering 200,
// its details from extractor.
func (g *gatedEnv) benchRoute(extractor deviceauth.RequireOption) http.Handler {
	return g.svc.Require("transfer", extractor)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
}

// handlerTransport serves client requests in process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	r.RequestURI = r.URL.RequestURI()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// benchLogging logs as an application would (JSON at Info, here to
// io.Discard) and keeps no event log, so benchmarks measure the Service,
// not the tests' recorders.
func benchLogging(c *deviceauth.Config) {
	c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	c.OnEvent = nil
}

// TestInApp_AllocationBudget pins the allocations of the one-signature
// in-app cycle through HTTP, device side included (BenchmarkChallengeCycleInAppHTTP
// /ES256): at most 195 (185 measured; 205 before its JSON was written by
// hand, then read by scans), well under half of the 757 that the
// two-signature cycle allocated when in-app verification was built on
// it. Under the race detector, 210 (198 measured).
func TestInApp_AllocationBudget(t *testing.T) {
	budget := 195
	if raceEnabled {
		budget = 210
	}
	checkCycleAllocations(t, "the in-app cycle", budget, inAppCycle)
}

// inAppCycle runs one in-app cycle of the benchmarks: Track in-app (as the
// gated route's app, in process), the payload handed over as JSON, the
// device's one signed answer through Handler(), and the gated request with
// the token through Require.
func inAppCycle(tb testing.TB, ctx context.Context, g *gatedEnv, d *device.Client) {
	res, err := g.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: inAppBenchDetails, InApp: true})
	if err != nil || res.InApp == nil {
		tb.Fatalf("Track: %+v, %v", res, err)
	}
	payload, _ := json.Marshal(res.InApp)
	ch, err := d.InAppChallenge(payload)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := d.Approve(ctx, ch, ""); err != nil {
		tb.Fatal(err)
	}
	if rec := g.transfer("alice", res.Token, "10"); rec.Code != http.StatusOK {
		tb.Fatalf("gated: %d %s", rec.Code, rec.Body)
	}
}

// inAppBenchDetails are what the bench route's extractor makes of
// g.transfer(…, "10").
var inAppBenchDetails = deviceauth.Details{Message: "Send 10 to Bob",
	Fields: []deviceauth.Field{{Label: "Amount", Value: "10"}, {Label: "Payee", Value: "Bob"}}}

// BenchmarkTrackNoRules is Track under DefaultPolicy over memstore: one
// challenge and its action record per call. The clock moves an hour a
// call and records are kept 25 hours, so the user's day holds 24 records.
func BenchmarkTrackNoRules(b *testing.B) { benchTrack(b, nil) }

// BenchmarkTrackRules10 is BenchmarkTrackNoRules with the ten rules of
// rules/testdata/bench10.yaml, none true: the Service reads the user's
// records for the signals and evaluates all ten. Its difference from
// BenchmarkTrackNoRules, against BenchmarkBaselineSignVerify in the same
// run, is what rules cost (budget: 10% of one sign+verify).
func BenchmarkTrackRules10(b *testing.B) {
	set, err := rules.Load("../../rules/testdata/bench10.yaml", rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	benchTrack(b, set.Policy())
}

func benchTrack(b *testing.B, policy deviceauth.Policy) {
	c := newClock()
	e := cycletest.New(b, memstore.New(), func(cfg *deviceauth.Config) {
		cfg.Rules, cfg.ActionRetention, cfg.Now = policy, 25*time.Hour, c.Now
	})
	c.Advance(time.Hour)
	ctx := context.Background()
	req := deviceauth.TrackRequest{UserID: e.User, Action: "pay", Details: transferDetails, ClientIP: netip.MustParseAddr("192.0.2.1"),
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", Browser: "benchBrowserAAAAAAAAAA",
		Amount: risk.Amount{Value: 20, Currency: "EUR"}, Custom: map[string]any{"plan": "basic"}}
	for b.Loop() {
		res, err := e.Service.Track(ctx, req)
		if err != nil || res.ChallengeID == "" || res.ActionID == "" || res.Rule != "" {
			b.Fatalf("Track = %+v, %v; want a recorded challenge by the default", res, err)
		}
		c.Advance(time.Hour)
	}
}
