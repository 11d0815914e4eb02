package roottest_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// sweeping is a memstore that is also a store.Sweeper: each Sweep sends
// its now on swept and answers with the next error of errs.
type sweeping struct {
	*memstore.Store
	swept chan time.Time
	mu    sync.Mutex
	errs  []error
}

func (s *sweeping) Sweep(ctx context.Context, now time.Time) (int64, error) {
	s.swept <- now
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return 0, err
	}
	return 3, nil
}

var _ store.Sweeper = (*sweeping)(nil)

// newSweepingService starts a Service over st with the injected clock and
// returns what it logs.
func newSweepingService(t *testing.T, st store.Store, clk *clock, interval time.Duration) (*deviceauth.Service, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	svc, err := deviceauth.New(deviceauth.Config{Store: st, Keys: [][]byte{bytes.Repeat([]byte{5}, 32)},
		PublicURL: "https://app.example/deviceauth", Now: clk.Now, Timer: clk.After, SweepInterval: interval,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return svc, logs
}

func TestService_SweepsASweeperEveryInterval(t *testing.T) {
	clk := newClock()
	st := &sweeping{Store: memstore.New(), swept: make(chan time.Time, 1), errs: []error{errors.New("disk full")}}
	svc, logs := newSweepingService(t, st, clk, time.Minute)
	start := clk.Now()

	// The first sweep fails: it is logged, and the next interval sweeps
	// again.
	for i := 1; i <= 3; i++ {
		waitForTimers(t, clk, 1)
		select {
		case now := <-st.swept:
			t.Fatalf("swept at %v before the interval passed", now)
		default:
		}
		clk.Advance(time.Minute)
		if now := <-st.swept; !now.Equal(start.Add(time.Duration(i) * time.Minute)) {
			t.Fatalf("sweep %d at %v, want the Service's clock, %v", i, now, start.Add(time.Duration(i)*time.Minute))
		}
	}
	if err := svc.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if strings.Count(out, "sweeping the store failed") != 1 || !strings.Contains(out, "disk full") ||
		strings.Count(out, "swept the store") < 1 {
		t.Fatalf("logs = %s; want one failed sweep with its error and the successful ones", out)
	}
}

func TestService_SweepsNothingWhenOff(t *testing.T) {
	for _, tc := range []struct {
		name     string
		st       store.Store
		interval time.Duration
	}{
		{"NegativeInterval", &sweeping{Store: memstore.New(), swept: make(chan time.Time, 1)}, -1},
		{"StoreWithoutSweep", memstore.New(), time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			svc, _ := newSweepingService(t, tc.st, clk, tc.interval)
			defer svc.Close(context.Background())
			if n := clk.Timers(); n != 0 {
				t.Fatalf("%d timers set, want none: nothing to sweep", n)
			}
		})
	}
}

func TestService_CloseStopsTheSweeper(t *testing.T) {
	clk := newClock()
	st := &sweeping{Store: memstore.New(), swept: make(chan time.Time, 1)}
	svc, _ := newSweepingService(t, st, clk, time.Minute)
	waitForTimers(t, clk, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Close returns only once the sweeping goroutine has: a leak would
	// time out here.
	if err := svc.Close(ctx); err != nil {
		t.Fatalf("Close = %v, want nil: the sweeper did not stop", err)
	}
	clk.Advance(time.Minute)
	select {
	case now := <-st.swept:
		t.Fatalf("swept at %v after Close", now)
	default:
	}
}

func TestConfig_SweepIntervalUnderASecondIsRefused(t *testing.T) {
	_, err := deviceauth.New(deviceauth.Config{Store: memstore.New(), Keys: [][]byte{bytes.Repeat([]byte{5}, 32)},
		PublicURL: "https://app.example/deviceauth", SweepInterval: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "SweepInterval") {
		t.Fatalf("New = %v, want an error naming SweepInterval", err)
	}
}
