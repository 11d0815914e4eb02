// Package openapitest checks real HTTP exchanges against docs/openapi.yaml
// with kin-openapi, for the tests of every package that serves part of the
// document (package deviceauth, tested from internal/roottest, and package
// passkey).
//
// A test loads the document (Load), sends its requests through the
// Checker's recording transport (Send, Do, Client, Browser) and states what
// it expects of each one (Expect): the status, the error code, and whether
// the request conforms to the document. Every recorded exchange is
// validated — the request, the response with its headers, and each event
// of a server-sent event stream — and the (method, path, status, error
// code) it exercised is remembered. At the end, AssertComplete compares the
// document, the test's table of rows and what was exercised, for the paths
// the test owns: the document cannot promise what is not tested, and the
// test cannot skip what is documented.
//
// It is over 500 lines by design: the checker, its response matcher and
// its coverage report belong together.
package openapitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

func init() {
	// The text bodies of the document (the browser scripts, server-sent
	// events) are validated as strings.
	openapi3filter.RegisterBodyDecoder("text/javascript", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
}

// Key is one documented response: an operation (method and path template)
// and a status.
type Key struct {
	Method, Path string
	Status       int
}

// String is "METHOD path status".
func (k Key) String() string { return fmt.Sprintf("%s %s %d", k.Method, k.Path, k.Status) }

// Row is one line of a test's coverage table: a documented response and
// the error codes its body may carry (none for a success).
type Row struct {
	Method, Path string
	Status       int
	Codes        []string
}

// Checker validates recorded exchanges against the document and keeps
// track of which responses (and error codes) were exercised.
type Checker struct {
	t      testing.TB
	doc    *openapi3.T
	router routers.Router
	rec    *Recorder
	client *http.Client
	seen   map[Key]map[string]bool
	done   int // exchanges of rec already validated
	last   Exchange
}

// Load loads and validates the OpenAPI document at path and returns a
// Checker for it that reports to t.
func Load(t testing.TB, path string) *Checker {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(path)
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", path, err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	rec := &Recorder{}
	return &Checker{t: t, doc: doc, router: router, rec: rec, client: &http.Client{Transport: rec}, seen: map[Key]map[string]bool{}}
}

// SetT makes the Checker report to t (a subtest) from now on.
func (c *Checker) SetT(t testing.TB) { c.t = t }

// T is the test the Checker reports to.
func (c *Checker) T() testing.TB { return c.t }

// Doc is the loaded document.
func (c *Checker) Doc() *openapi3.T { return c.doc }

// Transport is the recording transport: every exchange it carries is
// validated by the next Expect or Flush.
func (c *Checker) Transport() http.RoundTripper { return c.rec }

// Client is an HTTP client without cookies that sends through the recorder.
func (c *Checker) Client() *http.Client { return c.client }

// Browser returns a new HTTP client with its own cookie jar, as one
// browser, that sends through the recorder.
func (c *Checker) Browser() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return &http.Client{Jar: jar, Transport: c.rec}
}

// Last is the exchange of the last Expect.
func (c *Checker) Last() Exchange { return c.last }

// Expect runs send, which must make exactly one request through the
// recorder, and checks its exchange: the status and error code are want and
// code, the request conforms to the document exactly when conforming says
// so (a request the server refuses as malformed should be refused by the
// document too), and the response matches the document. Exchanges made
// since the last check (by helpers) are validated first, as conforming.
func (c *Checker) Expect(what string, want int, code string, conforming bool, send func()) Exchange {
	c.t.Helper()
	c.Flush()
	send()
	xs := c.rec.since(c.done)
	if len(xs) != 1 {
		c.t.Fatalf("%s: %d requests were made, want 1", what, len(xs))
	}
	c.done++
	x := xs[0]
	c.last = x
	if x.Status != want || x.Code() != code {
		c.t.Errorf("%s: %s %s answered %d %q (%.300s), want %d %q", what, x.Method, x.URL.Path, x.Status, x.Code(), x.Body, want, code)
	}
	c.validate(what, x, conforming)
	return x
}

// Flush validates the exchanges not yet checked, as conforming requests.
func (c *Checker) Flush() {
	c.t.Helper()
	for _, x := range c.rec.since(c.done) {
		c.done++
		c.validate("background request", x, true)
	}
}

// validate checks one exchange against the document and records it.
func (c *Checker) validate(what string, x Exchange, conforming bool) {
	c.t.Helper()
	ctx := context.Background()
	req := x.Request(ctx)
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Errorf("%s: %s %s is not an operation of the document: %v", what, x.Method, x.URL.Path, err)
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, RejectWhenRequestBodyNotSpecified: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	switch err := openapi3filter.ValidateRequest(ctx, in); {
	case conforming && err != nil:
		c.t.Errorf("%s: the request %s %s does not conform to the document: %v", what, x.Method, x.URL.Path, err)
	case !conforming && err == nil:
		c.t.Errorf("%s: the server refused %s %s with %d %q, but the request conforms to the document: the document should refuse it too",
			what, x.Method, x.URL.Path, x.Status, x.Code())
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.Status, Header: x.Header, Options: opts}
	out.SetBodyBytes(x.Body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		c.t.Errorf("%s: the response to %s %s (%d %.300s) does not match the document: %v", what, x.Method, x.URL.Path, x.Status, x.Body, err)
	}
	c.validateEvents(what, route, x)
	// WWW-Authenticate goes with challenge_required and nothing else.
	if wa := x.Header.Get("WWW-Authenticate"); (x.Code() == "challenge_required") != (wa != "") {
		c.t.Errorf("%s: %d %q with WWW-Authenticate %q", what, x.Status, x.Code(), wa)
	}
	k := Key{route.Method, route.Path, x.Status}
	if c.seen[k] == nil {
		c.seen[k] = map[string]bool{}
	}
	if code := x.Code(); code != "" {
		c.seen[k][code] = true
	}
}

// eventSchemas is the extension of a text/event-stream media type that
// names the component schema of each event's data.
const eventSchemas = "x-event-schemas"

// validateEvents checks each event of a text/event-stream answer against
// the schema that the media type's x-event-schemas names for its event
// type; an event type it does not name is an error.
func (c *Checker) validateEvents(what string, route *routers.Route, x Exchange) {
	c.t.Helper()
	ct := x.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); strings.TrimSpace(mt) != "text/event-stream" {
		return
	}
	resp := route.Operation.Responses.Status(x.Status)
	if resp == nil || resp.Value == nil {
		return // already reported
	}
	media := resp.Value.Content.Get(ct)
	if media == nil {
		return // already reported
	}
	names, ok := media.Extensions[eventSchemas].(map[string]any)
	if !ok {
		c.t.Errorf("%s: %s %s %d: the event stream's media type has no %s", what, route.Method, route.Path, x.Status, eventSchemas)
		return
	}
	events, err := ParseEvents(x.Body)
	if err != nil {
		c.t.Errorf("%s: %s %s: %v", what, x.Method, x.URL.Path, err)
		return
	}
	for i, ev := range events {
		name, _ := names[ev.Type].(string)
		if name == "" {
			c.t.Errorf("%s: event %d is of type %q, which the document does not name", what, i, ev.Type)
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
			c.t.Errorf("%s: event %d (%s): the data %q is not JSON: %v", what, i, ev.Type, ev.Data, err)
			continue
		}
		c.ValidateValue(fmt.Sprintf("%s: event %d (%s)", what, i, ev.Type), name, v)
	}
}

// ValidateValue checks v, a decoded JSON value, against the component
// schema called name.
func (c *Checker) ValidateValue(what, name string, v any) {
	c.t.Helper()
	ref := c.doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		c.t.Errorf("%s: the document has no schema %q", what, name)
		return
	}
	if err := ref.Value.VisitJSON(v, openapi3.MultiErrors(), openapi3.VisitAsResponse()); err != nil {
		c.t.Errorf("%s: %v does not match the schema %s: %v", what, v, name, err)
	}
}

// Event is one server-sent event.
type Event struct {
	Type string // "message" when the event names none
	Data string
}

// ParseEvents parses a text/event-stream body (HTML Living Standard
// §9.2.6) into its events. Comments and fields other than event and data
// are ignored; a body that does not end with a blank line is an error.
func ParseEvents(body []byte) ([]Event, error) {
	var out []Event
	var ev Event
	var data []string
	pending := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if pending {
				if ev.Type == "" {
					ev.Type = "message"
				}
				ev.Data = strings.Join(data, "\n")
				out = append(out, ev)
			}
			ev, data, pending = Event{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Type, pending = value, true
		case "data":
			data, pending = append(data, value), true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if pending {
		return nil, fmt.Errorf("the event stream ends inside an event")
	}
	return out, nil
}

// Send returns a function that sends a request without cookies through
// the recorder.
func (c *Checker) Send(method, target, body string, header map[string]string) func() {
	return c.SendWith(c.client, method, target, body, header)
}

// SendWith returns a function that sends a request with client, which
// must send through the recorder (Client, Browser).
func (c *Checker) SendWith(client *http.Client, method, target, body string, header map[string]string) func() {
	return func() {
		req, err := http.NewRequest(method, target, strings.NewReader(body))
		if err != nil {
			c.t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		c.DoWith(client, req)
	}
}

// Resend returns a function that sends x's request again, byte for byte.
func (c *Checker) Resend(x Exchange) func() {
	return func() { c.Do(x.Request(context.Background())) }
}

// Do sends req through the recorder and discards the answer (the recorder
// keeps it).
func (c *Checker) Do(req *http.Request) { c.DoWith(c.client, req) }

// DoWith sends req with client and discards the answer.
func (c *Checker) DoWith(client *http.Client, req *http.Request) {
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
}

// AssertComplete checks, for the paths of the document that owns accepts,
// that the document, rows and what was exercised agree: every documented
// response (with explicit numeric statuses only) has exactly one row with
// the same error codes; every row is documented and was exercised with
// each of its codes; and nothing was exercised that no row lists. A row
// for a path that owns refuses is an error, as is owning no path at all.
func (c *Checker) AssertComplete(rows []Row, owns func(path string) bool) {
	c.t.Helper()
	c.Flush()
	want := map[Key]map[string]bool{}
	for _, r := range rows {
		k := Key{r.Method, r.Path, r.Status}
		if !owns(r.Path) {
			c.t.Errorf("table: %v is for a path that this test does not own", k)
		}
		if _, dup := want[k]; dup {
			c.t.Errorf("table: %v listed twice", k)
		}
		want[k] = setOf(r.Codes)
	}
	declared := map[Key]bool{}
	owned := 0
	for path, item := range c.doc.Paths.Map() {
		if !owns(path) {
			continue
		}
		owned++
		for method, op := range item.Operations() {
			for status, ref := range op.Responses.Map() {
				st, err := strconv.Atoi(status)
				if err != nil {
					c.t.Errorf("%s %s: response %q: the document must list explicit statuses", method, path, status)
					continue
				}
				k := Key{method, path, st}
				declared[k] = true
				codes, listed := want[k]
				if !listed {
					c.t.Errorf("%v is declared in the document but not in the table: add a case that exercises it", k)
					continue
				}
				if got := DocumentedCodes(ref.Value); !maps.Equal(got, codes) {
					c.t.Errorf("%v: the document allows the error codes %v, the table lists %v", k, sortedKeys(got), sortedKeys(codes))
				}
			}
		}
	}
	if owned == 0 {
		c.t.Errorf("this test owns no path of the document")
	}
	for _, r := range rows {
		k := Key{r.Method, r.Path, r.Status}
		if !declared[k] {
			c.t.Errorf("%v is in the table but not declared in the document", k)
		}
		seen, ok := c.seen[k]
		if !ok {
			c.t.Errorf("%v was never exercised", k)
			continue
		}
		for _, code := range r.Codes {
			if !seen[code] {
				c.t.Errorf("%v: error %q was never exercised", k, code)
			}
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(c.seen), func(a, b Key) int { return strings.Compare(a.String(), b.String()) }) {
		if !owns(k.Path) {
			continue
		}
		codes, listed := want[k]
		if !listed {
			c.t.Errorf("%v was exercised but is not in the table", k)
			continue
		}
		for code := range c.seen[k] {
			if !codes[code] {
				c.t.Errorf("%v: error %q was exercised but is not in the table", k, code)
			}
		}
	}
}

// DocumentedCodes returns the values the "error" member of a response's
// JSON body may take: the enum under properties.error, intersected across
// allOf and united across oneOf/anyOf. It is empty for a response without
// an error body.
func DocumentedCodes(r *openapi3.Response) map[string]bool {
	mt := r.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return map[string]bool{}
	}
	codes := schemaCodes(mt.Schema.Value)
	if codes == nil {
		return map[string]bool{}
	}
	return codes
}

// schemaCodes is DocumentedCodes for one schema; nil means unconstrained.
func schemaCodes(s *openapi3.Schema) map[string]bool {
	var out map[string]bool
	intersect := func(other map[string]bool) {
		switch {
		case other == nil:
		case out == nil:
			out = other
		default:
			maps.DeleteFunc(out, func(k string, _ bool) bool { return !other[k] })
		}
	}
	if p := s.Properties["error"]; p != nil && len(p.Value.Enum) > 0 {
		set := map[string]bool{}
		for _, v := range p.Value.Enum {
			set[v.(string)] = true
		}
		intersect(set)
	}
	for _, sub := range s.AllOf {
		intersect(schemaCodes(sub.Value))
	}
	if alts := append(slices.Clone(s.OneOf), s.AnyOf...); len(alts) > 0 {
		union := map[string]bool{}
		for _, sub := range alts {
			maps.Copy(union, schemaCodes(sub.Value))
		}
		intersect(union)
	}
	return out
}

func setOf(ss []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// Recorder is an http.RoundTripper that records every request and
// response it carries, over http.DefaultTransport. It reads each answer
// to its end before returning it (a server-sent event stream included).
type Recorder struct {
	mu  sync.Mutex
	log []Exchange
}

// Exchange is one recorded request and its answer.
type Exchange struct {
	Method    string
	URL       *url.URL
	ReqHeader http.Header
	ReqBody   []byte
	Status    int
	Header    http.Header
	Body      []byte
}

// RoundTrip implements http.RoundTripper.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	x := Exchange{Method: req.Method, URL: new(url.URL), ReqHeader: req.Header.Clone(), ReqBody: body}
	*x.URL = *req.URL
	resp, err := http.DefaultTransport.RoundTrip(x.Request(req.Context()))
	if err != nil {
		return nil, err
	}
	x.Body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	x.Status, x.Header = resp.StatusCode, resp.Header.Clone()
	resp.Body = io.NopCloser(bytes.NewReader(x.Body))
	r.mu.Lock()
	r.log = append(r.log, x)
	r.mu.Unlock()
	return resp, nil
}

func (r *Recorder) since(i int) []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log[i:])
}

// Request rebuilds the recorded request.
func (x Exchange) Request(ctx context.Context) *http.Request {
	u := *x.URL
	req, _ := http.NewRequestWithContext(ctx, x.Method, u.String(), bytes.NewReader(x.ReqBody))
	req.Header = x.ReqHeader.Clone()
	return req
}

// Code is the "error" member of the answer, "" when there is none.
func (x Exchange) Code() string {
	var b struct {
		Error string `json:"error"`
	}
	json.Unmarshal(x.Body, &b)
	return b.Error
}
