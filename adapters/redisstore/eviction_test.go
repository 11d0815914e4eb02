package redisstore_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/deviceauth/deviceauth/adapters/redisstore"
)

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// New reads the eviction policy of a private redis-server, started with
// maxmemory 100mb and allkeys-lru, then changed with CONFIG SET.
func TestNew_EvictionPolicy(t *testing.T) {
	srv := startRedisServer(t, "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru")
	client := newClient(t, srv.Addr)
	tests := []struct {
		name      string
		maxmemory string
		policy    string
		allow     bool
		wantErr   bool   // New refuses with ErrEvictionPolicy
		wantWarn  string // in the log; "" for no warning at all
	}{
		{name: "AllKeysLRURefused", maxmemory: "100mb", policy: "allkeys-lru", wantErr: true},
		{name: "AllKeysLRUAllowedWithWarning", maxmemory: "100mb", policy: "allkeys-lru", allow: true, wantWarn: "may evict keys"},
		{name: "VolatileLRURefused", maxmemory: "100mb", policy: "volatile-lru", wantErr: true},
		{name: "VolatileTTLRefused", maxmemory: "100mb", policy: "volatile-ttl", wantErr: true},
		{name: "NoEvictionAccepted", maxmemory: "100mb", policy: "noeviction"},
		{name: "NoMaxmemoryAccepted", maxmemory: "0", policy: "allkeys-lru"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if err := client.ConfigSet(ctx, "maxmemory", tt.maxmemory).Err(); err != nil {
				t.Fatal(err)
			}
			if err := client.ConfigSet(ctx, "maxmemory-policy", tt.policy).Err(); err != nil {
				t.Fatal(err)
			}
			logs := &syncBuffer{}
			opts := []redisstore.Option{redisstore.WithLogger(slog.New(slog.NewTextHandler(logs, nil)))}
			if tt.allow {
				opts = append(opts, redisstore.AllowEviction())
			}
			st, err := redisstore.New(ctx, client, opts...)
			if tt.wantErr {
				if !errors.Is(err, redisstore.ErrEvictionPolicy) {
					t.Fatalf("New: %v, want an error matching ErrEvictionPolicy", err)
				}
				for _, want := range []string{tt.policy, srv.Addr, "noeviction", "AllowEviction"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("New's error %q does not mention %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v, want nil", err)
			}
			st.Close()
			got := logs.String()
			if tt.wantWarn == "" && got != "" {
				t.Fatalf("New logged %q, want nothing", got)
			}
			if tt.wantWarn != "" && (!strings.Contains(got, "level=WARN") || !strings.Contains(got, tt.wantWarn) || !strings.Contains(got, tt.policy)) {
				t.Fatalf("New logged %q, want a warning with %q and the policy", got, tt.wantWarn)
			}
		})
	}
}

// miniredis has no CONFIG, like managed services that disable it: the
// policy is unknown, which New warns about and accepts.
func TestNew_UnknownEvictionPolicyWarns(t *testing.T) {
	_, client := miniredisClient(t)
	logs := &syncBuffer{}
	st, err := redisstore.New(t.Context(), client, redisstore.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatalf("New: %v, want nil", err)
	}
	st.Close()
	if got := logs.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "cannot read the eviction policy") {
		t.Fatalf("New logged %q, want a warning that the eviction policy is unknown", got)
	}
}

// A server New cannot reach is an error, not a warning.
func TestNew_UnreachableServerIsAnError(t *testing.T) {
	mr, _ := miniredisClient(t)
	client := outageClient(t, mr.Addr())
	mr.Close()
	if st, err := redisstore.New(t.Context(), client, quiet); err == nil {
		st.Close()
		t.Fatal("New with the server down succeeded, want an error")
	}
}
