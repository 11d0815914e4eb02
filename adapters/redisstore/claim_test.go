package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/adapters/redisstore"
	"github.com/deviceauth/deviceauth/store"
)

// failSecondScript fails the second script call after it is armed.
type failSecondScript struct {
	armed atomic.Bool
	seen  atomic.Int32
}

func (f *failSecondScript) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *failSecondScript) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); f.armed.Load() && (name == "evalsha" || name == "eval") && f.seen.Add(1) == 2 {
			err := errors.New("injected failure")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (f *failSecondScript) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A QR claim whose second step (indexing the challenge for its user) fails
// still stands: the claim is reported made, the record says so, and the
// miss is logged rather than returned as a failure of the claim.
func TestClaim_IndexFailureKeepsTheClaim(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	t.Cleanup(func() { client.Close() })
	hook := &failSecondScript{}
	client.AddHook(hook)
	var logs bytes.Buffer
	st, err := redisstore.New(t.Context(), client, redisstore.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().Truncate(time.Millisecond)
	qr := store.Challenge{ID: "ch_qr1", Action: "signIn", State: store.StateUnclaimed, Method: "QR_CODE",
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if _, err := st.CreateChallenge(t.Context(), qr, now); err != nil {
		t.Fatal(err)
	}
	logs.Reset()

	hook.armed.Store(true)
	got, err := st.TransitionChallenge(t.Context(), qr.ID, store.Transition{From: store.StateUnclaimed, To: store.StatePending,
		UserID: "alice", ClaimedBy: "cr_1"}, now)
	hook.armed.Store(false)
	if err != nil || got.State != store.StatePending || got.UserID != "alice" {
		t.Fatalf("claim = %s for %q, %v; want PENDING for alice, nil", got.State, got.UserID, err)
	}
	if hook.seen.Load() != 2 {
		t.Fatalf("the claim made %d script calls, want 2 (the failure was not injected where meant)", hook.seen.Load())
	}
	stored, err := st.GetChallenge(t.Context(), qr.ID, now)
	if err != nil || stored.State != store.StatePending || stored.ClaimedBy != "cr_1" {
		t.Fatalf("GetChallenge after the claim = %s claimed by %q, %v; want PENDING by cr_1", stored.State, stored.ClaimedBy, err)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "ch_qr1") || !strings.Contains(out, "injected failure") {
		t.Fatalf("logs = %q; want one warning naming the challenge and the error", out)
	}
}
