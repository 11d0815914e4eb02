package roottest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/adapters/pgxstore"
	"github.com/deviceauth/deviceauth/adapters/redisstore"
	"github.com/deviceauth/deviceauth/admin"
	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/internal/testenv"
	"github.com/deviceauth/deviceauth/risk"
	"github.com/deviceauth/deviceauth/store"
)

// TestReview_EndToEndAcrossInstances: two instances over one Redis, or one
// PostgreSQL, each serving an app with a gated transfer route and the admin
// handler. A transfer of 10 000 EUR on A is held for review (403 review,
// with its actionId); an operator approves it on B's admin handler; the
// retry on B passes once, a second retry on A is held again; and of racing
// retries on both instances after another approval exactly one passes.
func TestReview_EndToEndAcrossInstances(t *testing.T) {
	for _, backend := range []struct {
		name  string
		store func(t *testing.T) func() store.Store // a store value over one backend per call
	}{
		{"Redis", func(t *testing.T) func() store.Store {
			url := testenv.RedisURL(t)
			prefix := "review-" + randomHex(6)
			return func() store.Store {
				opts, err := redis.ParseURL(url)
				if err != nil {
					t.Fatal(err)
				}
				client := redis.NewClient(opts)
				t.Cleanup(func() { client.Close() })
				st, err := redisstore.New(t.Context(), client, redisstore.WithKeyPrefix(prefix))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
		}},
		{"PostgreSQL", func(t *testing.T) func() store.Store {
			cfg, err := pgxpool.ParseConfig(testenv.PostgresURL(t))
			if err != nil {
				t.Fatal(err)
			}
			cfg.MaxConns = 4
			schema := "review_" + randomHex(6)
			pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
				pool.Close()
			})
			return func() store.Store {
				st, err := pgxstore.New(pool, pgxstore.WithSchema(schema))
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Migrate(t.Context()); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
		}},
	} {
		t.Run(backend.name, func(t *testing.T) {
			newStore := backend.store(t)
			a, b := newReviewInstance(t, newStore()), newReviewInstance(t, newStore())
			// alice enrols a device (through a third Service over A's store
			// value): both instances see it.
			cycletest.New(t, a.st)

			status, body := a.transfer(t, "alice", 10000)
			if status != http.StatusForbidden || body.Error != "review" || body.ActionID == "" {
				t.Fatalf("a large transfer on A: %d %+v, want 403 review with an actionId", status, body)
			}
			b.approve(t, "alice", body.ActionID)
			if status, _ := b.transfer(t, "alice", 10000); status != http.StatusOK {
				t.Fatalf("the approved transfer retried on B: %d, want 200", status)
			}
			if status, again := a.transfer(t, "alice", 10000); status != http.StatusForbidden || again.Error != "review" || again.ActionID == body.ActionID {
				t.Fatalf("a second retry on A: %d %+v, want a new review", status, again)
			}
			if n := a.sent.Load() + b.sent.Load(); n != 1 {
				t.Fatalf("%d transfers sent, want 1", n)
			}

			// Racing retries on both instances: one passes.
			_, held := a.transfer(t, "alice", 20000)
			b.approve(t, "alice", held.ActionID)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 8 {
				inst := a
				if i%2 == 1 {
					inst = b
				}
				wg.Go(func() {
					<-start
					inst.transfer(t, "alice", 20000)
				})
			}
			close(start)
			wg.Wait()
			if n := a.sent.Load() + b.sent.Load(); n != 2 {
				t.Fatalf("%d transfers sent after racing retries of one approval, want 2", n)
			}
		})
	}
}

// reviewInstance is one instance: a Service over its store value, an app
// with a gated POST /transfer (JSON {"amount": n}) and the admin handler
// at /admin/.
type reviewInstance struct {
	st   store.Store
	svc  *deviceauth.Service
	srv  *httptest.Server
	sent atomic.Int64
}

func newReviewInstance(t *testing.T, st store.Store) *reviewInstance {
	t.Helper()
	set := compileRules(t, `
rules:
  - name: large-transfer
    actions: [transfer]
    when: amount.value >= 10000.0
    then: {outcome: REVIEW}
default: {outcome: CHALLENGE}
`)
	in := &reviewInstance{st: st}
	cfg := deviceauth.Config{Store: st, Keys: [][]byte{bytes.Repeat([]byte{5}, 32)}, PublicURL: "https://bank.example/deviceauth",
		Rules: set.Policy(), Users: deviceauth.UserResolverFunc(func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil }),
		RateLimits: deviceauth.RateLimits{Challenges: deviceauth.Rate{Limit: -1}}}
	var err error
	in.svc, err = deviceauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.svc.Close(context.Background()) })
	amount := func(r *http.Request, _ deviceauth.Details) (map[string]any, risk.Amount, error) {
		var body struct{ Amount float64 }
		raw, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(raw))
		err := json.Unmarshal(raw, &body)
		return nil, risk.Amount{Value: body.Amount, Currency: "EUR"}, err
	}
	details := func(_ *http.Request, raw []byte) (deviceauth.Details, error) {
		var body struct{ Amount float64 }
		err := json.Unmarshal(raw, &body)
		return deviceauth.Details{Message: "Send " + strings.TrimSpace(string(raw)) + " EUR"}, err
	}
	mux := http.NewServeMux()
	mux.Handle("POST /transfer", in.svc.Require("transfer", deviceauth.WithDetails(details), deviceauth.WithCustomData(amount))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { in.sent.Add(1) })))
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.Handler(in.svc, admin.Options{
		Operator: func(r *http.Request) (string, error) { return r.Header.Get("X-Operator"), nil },
	})))
	in.srv = httptest.NewServer(mux)
	t.Cleanup(in.srv.Close)
	return in
}

func (in *reviewInstance) transfer(t *testing.T, user string, amount int) (int, deviceauth.DenialBody) {
	t.Helper()
	req, _ := http.NewRequest("POST", in.srv.URL+"/transfer", strings.NewReader(`{"amount":`+strconv.Itoa(amount)+`}`))
	req.Header.Set("X-User", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, deviceauth.DenialBody{}
	}
	defer resp.Body.Close()
	var body deviceauth.DenialBody
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func (in *reviewInstance) approve(t *testing.T, user, actionID string) {
	t.Helper()
	req, _ := http.NewRequest("POST", in.srv.URL+"/admin/api/reviews/"+user+"/"+actionID, strings.NewReader(`{"decision":"approve","note":"ok"}`))
	req.Header.Set("X-Operator", "ops")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("approving %s on the admin handler: %d %s", actionID, resp.StatusCode, raw)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
