package roottest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
)

// TestProtocolDoc_UnsignedRequestsCountAgainstTheFetchLimit: docs/protocol.md
// says device-signed requests count against the per-IP limit before their
// signature is checked, so a flood of unsigned ones exhausts it too.
func TestProtocolDoc_UnsignedRequestsCountAgainstTheFetchLimit(t *testing.T) {
	e := newEnv(t, func(c *deviceauth.Config) { c.RateLimits.Fetch = deviceauth.Rate{Limit: 2, Window: time.Minute} })
	d := e.enrol("alice", "ES256")
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		resp, err := http.Get(e.srv.URL + "/deviceauth/v1/challenges")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("unsigned request %d: status %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	if _, err := d.Pending(t.Context()); apiCode(err) != "rate_limited" {
		t.Fatalf("a signed request after two unsigned ones: %v, want rate_limited", err)
	}
}
