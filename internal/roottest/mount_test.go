package roottest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// TestMount runs the whole flow with the handler and the middleware
// mounted under chi and under a plain ServeMux, each with a prefix: the
// device's signatures cover the prefixed path and still verify.
func TestMount(t *testing.T) {
	users := deviceauth.UserResolverFunc(func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil })
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	cases := []struct {
		name   string
		prefix string // where the device handler is mounted
		gated  string // the path of the gated route
		mount  func(svc *deviceauth.Service) http.Handler
	}{
		{"chi", "/auth/device", "/api/pay", func(svc *deviceauth.Service) http.Handler {
			r := chi.NewRouter()
			r.Route("/auth", func(r chi.Router) {
				r.Mount("/device", http.StripPrefix("/auth/device", svc.Handler()))
			})
			r.With(svc.Require("transfer")).Post("/api/pay", ok)
			return r
		}},
		{"ServeMux", "/api/v2/deviceauth", "/api/v2/pay", func(svc *deviceauth.Service) http.Handler {
			mux := http.NewServeMux()
			mux.Handle("/api/v2/deviceauth/", http.StripPrefix("/api/v2/deviceauth", svc.Handler()))
			mux.Handle("POST /api/v2/pay", svc.Require("transfer")(ok))
			return mux
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			var h http.Handler
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
			defer srv.Close()
			svc, err := deviceauth.New(deviceauth.Config{Store: memstore.New(), Keys: [][]byte{bytes.Repeat([]byte{3}, 32)},
				PublicURL: srv.URL + c.prefix, Users: users})
			if err != nil {
				t.Fatal(err)
			}
			h = c.mount(svc)

			g, _ := svc.MintRegistrationToken(ctx, "alice", "")
			key, _ := device.NewP256Key()
			phone, _ := device.New(srv.URL+c.prefix, key)
			if _, err := phone.Register(ctx, g.Token, "phone", "ios"); err != nil {
				t.Fatalf("register under %s: %v", c.prefix, err)
			}
			pay := func(token string) (int, deviceauth.DenialBody) {
				req, _ := http.NewRequest("POST", srv.URL+c.gated, nil)
				req.Header.Set("X-User", "alice")
				if token != "" {
					req.Header.Set(deviceauth.TokenHeader, token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var b deviceauth.DenialBody
				json.NewDecoder(resp.Body).Decode(&b)
				return resp.StatusCode, b
			}
			st, b := pay("")
			if st != 401 || b.Error != "challenge_required" {
				t.Fatalf("gated without token: %d %+v", st, b)
			}
			pending, err := phone.Pending(ctx) // a signed request under the prefix
			if err != nil || len(pending) != 1 || pending[0].ID != b.ChallengeID {
				t.Fatalf("pending under %s: %+v, %v", c.prefix, pending, err)
			}
			if _, err := phone.Approve(ctx, pending[0], b.VerificationCode); err != nil {
				t.Fatal(err)
			}
			if st, _ := pay(b.Token); st != 200 {
				t.Fatalf("gated with the token: %d", st)
			}
			if err := phone.Remove(ctx); err != nil {
				t.Fatalf("signed removal under %s: %v", c.prefix, err)
			}
		})
	}
}
