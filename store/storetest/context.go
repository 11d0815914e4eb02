package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/internal/cyclestore"
	"github.com/deviceauth/deviceauth/store"
)

// call is one method of store.Store, called on the records seed made.
type call struct {
	method string
	do     func(ctx context.Context, st store.Store) error
}

// seed stores a credential, a challenge, a registration token, a counter,
// a nonce and (when the store keeps them) a ceremony for calls to work on.
func (s suite) seed(t *testing.T, st store.Store) {
	t.Helper()
	ctx := t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	must(t, st.PutRegistrationToken(ctx, s.registrationToken("tok1", "user1", 0)), "PutRegistrationToken")
	increment(t, st, "key1", s.at(0), 1)
	must(t, st.ClaimNonce(ctx, "nonce1", s.at(nonceTTL), s.at(0)), "ClaimNonce")
	if cs, ok := st.(store.CeremonyStore); ok {
		must(t, cs.PutCeremony(ctx, s.ceremony("ce1", "user1", 0)), "PutCeremony")
	}
}

// calls lists every method of st but Close (those of store.Store, and of
// store.CeremonyStore when st implements it), each called so that it would
// succeed on the records seed made and change them where it can
// (ConsumeChallenge finds ch1 pending and answers ErrConflict, which counts
// as working).
func (s suite) calls(st store.Store) []call {
	now := s.at(time.Second)
	calls := []call{
		{"CreateCredential", func(ctx context.Context, st store.Store) error {
			return st.CreateCredential(ctx, s.credential("cred2", "user1", 0), 0)
		}},
		{"GetCredential", func(ctx context.Context, st store.Store) error {
			_, err := st.GetCredential(ctx, "cred1")
			return err
		}},
		{"ListCredentials", func(ctx context.Context, st store.Store) error {
			_, err := st.ListCredentials(ctx, "user1")
			return err
		}},
		{"UpdateCredential", func(ctx context.Context, st store.Store) error {
			_, err := st.UpdateCredential(ctx, "user1", "cred1", store.CredentialUpdate{Name: new("changed")})
			return err
		}},
		{"DeleteCredential", func(ctx context.Context, st store.Store) error {
			return st.DeleteCredential(ctx, "user1", "cred1")
		}},
		{"DeleteUserCredentials", func(ctx context.Context, st store.Store) error {
			_, err := st.DeleteUserCredentials(ctx, "user1")
			return err
		}},
		{"CreateChallenge", func(ctx context.Context, st store.Store) error {
			_, err := st.CreateChallenge(ctx, s.challenge("ch2", "user1", store.StatePending, 0), now)
			return err
		}},
		{"GetChallenge", func(ctx context.Context, st store.Store) error {
			_, err := st.GetChallenge(ctx, "ch1", now)
			return err
		}},
		{"TransitionChallenge", func(ctx context.Context, st store.Store) error {
			_, err := st.TransitionChallenge(ctx, "ch1", store.Transition{From: store.StatePending, To: store.StateApproved}, now)
			return err
		}},
		{"RecordAttempt", func(ctx context.Context, st store.Store) error {
			_, err := st.RecordAttempt(ctx, "ch1", store.StatePending, now)
			return err
		}},
		{"ListPendingChallenges", func(ctx context.Context, st store.Store) error {
			_, err := st.ListPendingChallenges(ctx, "user1", now)
			return err
		}},
		{"Watch", func(ctx context.Context, st store.Store) error {
			_, err := st.Watch(ctx, "ch1")
			return err
		}},
		{"PutRegistrationToken", func(ctx context.Context, st store.Store) error {
			return st.PutRegistrationToken(ctx, s.registrationToken("tok2", "user1", 0))
		}},
		{"ConsumeRegistrationToken", func(ctx context.Context, st store.Store) error {
			_, err := st.ConsumeRegistrationToken(ctx, s.registrationToken("tok1", "user1", 0).Hash, now)
			return err
		}},
		{"IncrementCounter", func(ctx context.Context, st store.Store) error {
			_, err := st.IncrementCounter(ctx, "key1", counterWindow, now)
			return err
		}},
		{"Counter", func(ctx context.Context, st store.Store) error {
			_, err := st.Counter(ctx, "key1", now)
			return err
		}},
		{"ClaimNonce", func(ctx context.Context, st store.Store) error {
			return st.ClaimNonce(ctx, "nonce2", now.Add(nonceTTL), now)
		}},
		{"BeginChallenge", func(ctx context.Context, st store.Store) error {
			_, err := cyclestore.For(st).BeginChallenge(ctx, store.Begin{Challenge: s.challenge("ch2", "user1", store.StatePending, time.Second), Counter: "key1"}, now)
			return err
		}},
		{"GetChallengeCredential", func(ctx context.Context, st store.Store) error {
			_, _, err := cyclestore.For(st).GetChallengeCredential(ctx, "ch1", "cred1", now)
			return err
		}},
		{"ConsumeChallenge", func(ctx context.Context, st store.Store) error {
			_, _, err := cyclestore.For(st).ConsumeChallenge(ctx, "ch1", store.Binding{UserID: "user1", Action: "transfer", DetailsDigest: []byte("digest-of-ch1")}, now)
			if errors.Is(err, store.ErrConflict) {
				return nil // ch1 is pending: the call worked
			}
			return err
		}},
	}
	if _, ok := st.(store.CeremonyStore); ok {
		calls = append(calls, call{"PutCeremony", func(ctx context.Context, st store.Store) error {
			return st.(store.CeremonyStore).PutCeremony(ctx, s.ceremony("ce2", "user1", 0))
		}}, call{"TakeCeremony", func(ctx context.Context, st store.Store) error {
			_, err := st.(store.CeremonyStore).TakeCeremony(ctx, "ce1", now)
			return err
		}})
	}
	return calls
}

func (s suite) context(t *testing.T) {
	t.Run("CancelledContextFailsEveryMethodAndChangesNothing", s.cancelledContext)
}

func (s suite) closed(t *testing.T) {
	t.Run("EveryMethodAfterCloseIsErrClosed", s.closedStore)
}

func (s suite) cancelledContext(t *testing.T) {
	st := s.store(t)
	s.seed(t, st)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, c := range s.calls(st) {
		if err := c.do(ctx, st); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got error %v, want one that is context.Canceled", c.method, err)
		}
	}

	// Every seeded record is as it was and nothing new was stored.
	now := s.at(2 * time.Second)
	ctx = t.Context()
	got, err := st.GetCredential(ctx, "cred1")
	must(t, err, "GetCredential after calls with a cancelled context")
	sameRecord(t, got, s.credential("cred1", "user1", 0), "GetCredential after calls with a cancelled context")
	mustFail(t, getCredentialErr(t, st, "cred2"), store.ErrNotFound, "GetCredential of a credential created with a cancelled context")
	wantChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), now, "GetChallenge after calls with a cancelled context")
	_, err = st.GetChallenge(ctx, "ch2", now)
	mustFail(t, err, store.ErrNotFound, "GetChallenge of a challenge created with a cancelled context")
	_, err = st.ConsumeRegistrationToken(ctx, s.registrationToken("tok1", "user1", 0).Hash, now)
	must(t, err, "ConsumeRegistrationToken of a token consumed with a cancelled context")
	_, err = st.ConsumeRegistrationToken(ctx, s.registrationToken("tok2", "user1", 0).Hash, now)
	mustFail(t, err, store.ErrNotFound, "ConsumeRegistrationToken of a token put with a cancelled context")
	wantCounter(t, st, "key1", now, 1)
	must(t, st.ClaimNonce(ctx, "nonce2", now.Add(nonceTTL), now), "ClaimNonce of a nonce claimed with a cancelled context")
	if cs, ok := st.(store.CeremonyStore); ok {
		take(t, cs, s.ceremony("ce1", "user1", 0), now, "TakeCeremony of a ceremony taken with a cancelled context")
		wantNoCeremony(t, cs, "ce2", now, "TakeCeremony of a ceremony put with a cancelled context")
	}
}

func (s suite) closedStore(t *testing.T) {
	st := s.store(t)
	s.seed(t, st)
	must(t, st.Close(), "Close")
	for _, c := range s.calls(st) {
		if err := c.do(t.Context(), st); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: got error %v, want %v", c.method, err, store.ErrClosed)
		}
	}
	if err := st.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close: got error %v, want nil or %v", err, store.ErrClosed)
	}
}
