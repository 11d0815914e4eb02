package roottest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/event"
)

// TestErrorHandler_WritesEveryRefusal: Config.ErrorHandler writes the
// refusals of Handler's endpoints and of Require alike, with the status,
// body and cause the Service would have sent; WithErrorHandler overrides
// it for one route.
func TestErrorHandler_WritesEveryRefusal(t *testing.T) {
	var seen []string
	e := newEnv(t, headerUsers, func(c *deviceauth.Config) {
		c.ErrorHandler = func(w http.ResponseWriter, r *http.Request, d *deviceauth.Denial) {
			seen = append(seen, r.URL.Path+" "+d.Body.Error)
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(d.Status)
			io.WriteString(w, "refused: "+d.Body.Error)
		}
	})
	get := func(path string, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.srv.URL+"/deviceauth"+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct {
		path   string
		header []string
		status int
		body   string
	}{
		{"/v1/nowhere", nil, 404, "refused: not_found"},
		{"/v1/web/credentials", nil, 401, "refused: unauthenticated"},
		{"/v1/challenges", nil, 401, "refused: unauthorized"},
		{"/v1/credentials", nil, 405, "refused: method_not_allowed"},
	} {
		if st, body := get(tt.path, tt.header...); st != tt.status || body != tt.body {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, st, body, tt.status, tt.body)
		}
	}
	if len(seen) != 4 {
		t.Fatalf("the handler saw %q", seen)
	}

	e.enrol("alice", "ES256")
	gate := func(opts ...deviceauth.RequireOption) *http.Response {
		h := e.svc.Require("transfer", opts...)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("the handler ran") }))
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/transfer", nil)
		req.Header.Set("X-User", "alice")
		h.ServeHTTP(rec, req)
		return rec.Result()
	}
	if r := gate(); r.StatusCode != 401 || read(t, r) != "refused: challenge_required" {
		t.Fatalf("Require through Config.ErrorHandler: %d", r.StatusCode)
	}
	r := gate(deviceauth.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, d *deviceauth.Denial) {
		w.WriteHeader(499)
		json.NewEncoder(w).Encode(d.Body)
	}))
	if r.StatusCode != 499 || !strings.Contains(read(t, r), `"error":"challenge_required"`) {
		t.Fatalf("WithErrorHandler did not override: %d", r.StatusCode)
	}
}

// TestStoreError_EventCarriesNoDriverText: a store failure's event names
// the kind of failure only; the driver's text goes to the log.
func TestStoreError_EventCarriesNoDriverText(t *testing.T) {
	e := newEnv(t)
	e.store.Fail.Store(true)
	if _, err := e.svc.Credentials(context.Background(), "alice"); err == nil {
		t.Fatal("no error from a failing store")
	}
	var reasons []string
	for _, ev := range e.events.all() {
		if ev.Type == event.StoreError {
			reasons = append(reasons, ev.Reason)
		}
	}
	if len(reasons) != 1 || reasons[0] != "failed" {
		t.Fatalf("store.error reasons %q, want [failed]", reasons)
	}
	if !strings.Contains(e.logs.String(), "injected store failure") {
		t.Fatal("the cause is not in the log")
	}
}

func read(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
