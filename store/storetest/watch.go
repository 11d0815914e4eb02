package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// The stores of one Run do not share data, so a wake-up that crosses store
// values over one backend (pub/sub, LISTEN/NOTIFY) is beyond this suite:
// adapters test it themselves (see the package doc).
func (s suite) watch(t *testing.T) {
	t.Run("TransitionWakesWatcher", s.watchTransition)
	t.Run("RecordAttemptWakesWatcher", s.watchRecordAttempt)
	t.Run("EveryWatcherIsWoken", s.watchEveryWatcher)
	t.Run("WakeUpNeverBlocksWriter", s.watchNeverBlocks)
	t.Run("ChannelClosesWhenContextIsDone", s.watchContextDone)
	t.Run("SeparateStoresDoNotShareData", s.separateStores)
}

// wantWakeUp fails t unless a value arrives on ch within wakeTimeout.
func wantWakeUp(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the Watch channel was closed, want a wake-up", what)
		}
	case <-time.After(wakeTimeout):
		t.Fatalf("%s: no wake-up within %v", what, wakeTimeout)
	}
}

// wantClosed fails t unless ch is closed within wakeTimeout; wake-ups still
// in flight are read and dropped.
func wantClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	timeout := time.After(wakeTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatalf("%s: the Watch channel was not closed within %v", what, wakeTimeout)
		}
	}
}

func (s suite) watchTransition(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	c := createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	ch, err := st.Watch(ctx, c.ID)
	must(t, err, "Watch")
	for _, tr := range []store.Transition{
		{From: store.StatePending, To: store.StateApproved, CredentialID: "cred1"},
		{From: store.StateApproved, To: store.StateConsumed},
	} {
		_, err := st.TransitionChallenge(ctx, c.ID, tr, s.at(time.Second))
		must(t, err, "TransitionChallenge")
		wantWakeUp(t, ch, "Watch after TransitionChallenge to "+string(tr.To))
	}
}

func (s suite) watchRecordAttempt(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	c := createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	ch, err := st.Watch(ctx, c.ID)
	must(t, err, "Watch")
	_, err = st.RecordAttempt(ctx, c.ID, store.StatePending, s.at(time.Second))
	must(t, err, "RecordAttempt")
	wantWakeUp(t, ch, "Watch after RecordAttempt")
}

func (s suite) watchEveryWatcher(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	c := createChallenge(t, st, s.challenge("ch1", "", store.StateUnclaimed, 0), s.at(0))
	browser, err := st.Watch(ctx, c.ID)
	must(t, err, "Watch by the browser")
	device, err := st.Watch(ctx, c.ID)
	must(t, err, "Watch by the device")
	_, err = st.TransitionChallenge(ctx, c.ID, store.Transition{
		From: store.StateUnclaimed, To: store.StatePending, UserID: "user1", ClaimedBy: "cred1",
	}, s.at(time.Second))
	must(t, err, "TransitionChallenge")
	wantWakeUp(t, browser, "the browser's Watch after the claim")
	wantWakeUp(t, device, "the device's Watch after the claim")
}

func (s suite) watchNeverBlocks(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	c := createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	ch, err := st.Watch(ctx, c.ID)
	must(t, err, "Watch")
	if cap(ch) != 1 {
		t.Fatalf("Watch: got a channel with a buffer of %d, want 1", cap(ch))
	}
	// Nobody reads while the writer makes many changes.
	const changes = 20
	done := make(chan error, 1)
	go func() {
		for range changes {
			if _, err := st.RecordAttempt(ctx, c.ID, store.StatePending, s.at(time.Second)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		must(t, err, "RecordAttempt")
	case <-time.After(wakeTimeout):
		t.Fatalf("%d RecordAttempt calls did not return within %v while nobody read the Watch channel", changes, wakeTimeout)
	}
	wantWakeUp(t, ch, "Watch after changes nobody read")
	c.Attempts = changes
	wantChallenge(t, st, c, s.at(time.Second), "GetChallenge after changes nobody read")
}

func (s suite) watchContextDone(t *testing.T) {
	st := s.store(t)
	c := createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := st.Watch(ctx, c.ID)
	if err != nil {
		cancel()
		t.Fatalf("Watch: unexpected error %v", err)
	}
	other, err := st.Watch(t.Context(), c.ID)
	must(t, err, "Watch with another context")
	cancel()
	wantClosed(t, ch, "Watch after its context was cancelled")

	// The other waiter is still registered and woken.
	_, err = st.TransitionChallenge(t.Context(), c.ID, store.Transition{From: store.StatePending, To: store.StateDenied}, s.at(time.Second))
	must(t, err, "TransitionChallenge")
	wantWakeUp(t, other, "Watch with a live context after another Watch's context was cancelled")
}

func (s suite) separateStores(t *testing.T) {
	first, second, ctx := s.store(t), s.store(t), t.Context()
	now := s.at(0)
	must(t, first.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	createChallenge(t, first, s.challenge("ch1", "user1", store.StatePending, 0), now)
	token := s.registrationToken("tok1", "user1", 0)
	must(t, first.PutRegistrationToken(ctx, token), "PutRegistrationToken")
	increment(t, first, "key1", now, 1)
	must(t, first.ClaimNonce(ctx, "nonce1", now.Add(nonceTTL), now), "ClaimNonce")

	const what = "on a second store from Harness.New"
	mustFail(t, getCredentialErr(t, second, "cred1"), store.ErrNotFound, "GetCredential "+what)
	_, err := second.GetChallenge(ctx, "ch1", now)
	mustFail(t, err, store.ErrNotFound, "GetChallenge "+what)
	_, err = second.ConsumeRegistrationToken(ctx, token.Hash, now)
	mustFail(t, err, store.ErrNotFound, "ConsumeRegistrationToken "+what)
	wantCounter(t, second, "key1", now, 0)
	must(t, second.ClaimNonce(ctx, "nonce1", now.Add(nonceTTL), now), "ClaimNonce "+what)
}
