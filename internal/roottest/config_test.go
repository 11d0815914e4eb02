package roottest_test

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/store/memstore"
)

func TestNew_ValidatesConfig(t *testing.T) {
	good := func() deviceauth.Config {
		return deviceauth.Config{Store: memstore.New(), Keys: [][]byte{bytes.Repeat([]byte{1}, 32)}, PublicURL: "https://app.example.com/deviceauth"}
	}
	cases := []struct {
		name string
		mod  func(*deviceauth.Config)
		want string // "" means New succeeds
	}{
		{"defaults", func(*deviceauth.Config) {}, ""},
		{"no store", func(c *deviceauth.Config) { c.Store = nil }, "Config.Store is required"},
		{"no keys", func(c *deviceauth.Config) { c.Keys = nil }, "Config.Keys needs at least one key"},
		{"short second key", func(c *deviceauth.Config) { c.Keys = append(c.Keys, make([]byte, 31)) }, "Config.Keys[1] is 31 bytes"},
		{"no public URL", func(c *deviceauth.Config) { c.PublicURL = "" }, "Config.PublicURL is required"},
		{"relative public URL", func(c *deviceauth.Config) { c.PublicURL = "/deviceauth" }, "Config.PublicURL must be an absolute"},
		{"public URL with query", func(c *deviceauth.Config) { c.PublicURL = "https://a.example/?x=1" }, "Config.PublicURL must be"},
		{"ftp public URL", func(c *deviceauth.Config) { c.PublicURL = "ftp://a.example/" }, "Config.PublicURL must be"},
		{"invalid proxy prefix", func(c *deviceauth.Config) { c.TrustedProxies = []netip.Prefix{{}} }, "Config.TrustedProxies[0] is not a valid prefix"},
		{"registration TTL over the cap", func(c *deviceauth.Config) { c.RegistrationTokenTTL = 11 * time.Minute }, "Config.RegistrationTokenTTL must be at most 10m0s"},
		{"challenge TTL over the cap", func(c *deviceauth.Config) { c.ChallengeTTL = 10*time.Minute + time.Second }, "Config.ChallengeTTL must be at most 10m0s"},
		{"challenge TTL under a second", func(c *deviceauth.Config) { c.ChallengeTTL = time.Millisecond }, "Config.ChallengeTTL must be at least one second"},
		{"negative skew", func(c *deviceauth.Config) { c.ClockSkew = -time.Second }, "Config.ClockSkew must be at least one second"},
		{"zero credentials", func(c *deviceauth.Config) { c.MaxCredentialsPerUser = -1 }, "Config.MaxCredentialsPerUser must be at least 1"},
		{"one-digit code", func(c *deviceauth.Config) { c.VerificationCodeDigits = 1 }, "Config.VerificationCodeDigits must be at least 2"},
		{"ten-digit code", func(c *deviceauth.Config) { c.VerificationCodeDigits = 10 }, "Config.VerificationCodeDigits must be at most 9"},
		{"invalid QR action", func(c *deviceauth.Config) { c.QRActions = []string{"signIn", "sign in"} }, "Config.QRActions[1] must be 1 to 64 characters of [A-Za-z0-9_.:-]"},
		{"tiny body limit", func(c *deviceauth.Config) { c.MaxBodyBytes = 100 }, "Config.MaxBodyBytes must be at least 1 KiB"},
		{"IPv4 prefix over 32 bits", func(c *deviceauth.Config) { c.RateLimits.IPv4Prefix = 33 }, "Config.RateLimits.IPv4Prefix must be 1 to 32 bits"},
		{"negative IPv6 prefix", func(c *deviceauth.Config) { c.RateLimits.IPv6Prefix = -1 }, "Config.RateLimits.IPv6Prefix must be 1 to 128 bits"},
		{"rate window under a second", func(c *deviceauth.Config) { c.RateLimits.Respond = deviceauth.Rate{Limit: 5, Window: time.Millisecond} }, "Config.RateLimits.Respond.Window must be at least one second"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good()
			c.mod(&cfg)
			_, err := deviceauth.New(cfg)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("New: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestRateLimits_CountedInTheStore(t *testing.T) {
	e := newEnv(t, func(c *deviceauth.Config) {
		c.RateLimits.Register = deviceauth.Rate{Limit: 2, Window: time.Minute}
	})
	for i, want := range []int{400, 400, 429} {
		if st, _ := e.postJSON("/v1/credentials", []byte(`{"token":"drt_x","algorithm":"ES256","publicKey":"AAAA","signature":"AAAA","name":"x"}`)); st != want {
			t.Fatalf("registration %d: %d, want %d", i+1, st, want)
		}
	}
	e.clock.Advance(time.Minute + time.Second)
	if st, _ := e.postJSON("/v1/credentials", []byte(`{"token":"drt_x","algorithm":"ES256","publicKey":"AAAA","signature":"AAAA","name":"x"}`)); st == 429 {
		t.Fatal("still limited after the window")
	}
	if n := e.events.count(event.RateLimited); n != 1 {
		t.Fatalf("%d rate-limit events, want 1", n)
	}
}

func TestRateLimits_ChallengesFetchAndRespond(t *testing.T) {
	e := newEnv(t, func(c *deviceauth.Config) {
		c.RateLimits.Challenges = deviceauth.Rate{Limit: 2, Window: time.Minute}
		c.RateLimits.Fetch = deviceauth.Rate{Limit: 2, Window: time.Minute}
		c.RateLimits.Respond = deviceauth.Rate{Limit: 1, Window: time.Minute}
	})
	ctx := t.Context()
	d := e.enrol("alice", "ES256")
	first := e.track("alice", "transfer", deviceauth.Details{}, false)
	e.track("alice", "transfer", deviceauth.Details{}, false)
	if _, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer"}); !errorsIs(err, deviceauth.ErrRateLimited) {
		t.Fatalf("third challenge for the user in the window: %v, want rate_limited", err)
	}
	ch, err := d.Challenge(ctx, first.ChallengeID) // signed fetch 1
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pending(ctx); err != nil { // signed fetch 2
		t.Fatal(err)
	}
	if _, err := d.Pending(ctx); apiCode(err) != "rate_limited" {
		t.Fatalf("third signed fetch from the IP: %v, want rate_limited", err)
	}
	if _, err := d.Deny(ctx, ch, ""); err != nil { // response 1
		t.Fatal(err)
	}
	if _, err := d.Approve(ctx, ch, ""); apiCode(err) != "rate_limited" {
		t.Fatalf("second response from the IP: %v, want rate_limited", err)
	}
	e.clock.Advance(time.Minute + time.Second)
	if _, err := d.Pending(ctx); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}
