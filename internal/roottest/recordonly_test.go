package roottest_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/memstore"
	"github.com/deviceauth/deviceauth/store/storetest"
)

// recordOnly makes the env's store one with the record methods alone (no
// store.CycleStore): the Service then makes each cycle step of them.
func recordOnly(c *deviceauth.Config) { c.Store = storetest.RecordOnly(c.Store) }

// A store with the record methods alone serves whole cycles over HTTP:
// track → the device fetches and approves → validate, exactly once, with
// racing validations; and a credential revoked after its approval fails
// the challenge.
func TestChallengeCycle_OverRecordMethodsOnly(t *testing.T) {
	e := newEnv(t, recordOnly)
	ctx := context.Background()
	details := deviceauth.Details{Message: "Pay 5 EUR"}
	phone := e.enrol("alice", "ES256")

	res := e.track("alice", "transfer", details, true)
	approve(t, phone, res.ChallengeID, res.VerificationCode)
	if v := e.validate(res.Token, "alice", "transfer", details); !v.Valid || v.CredentialID != phone.CredentialID {
		t.Fatalf("Validate = %+v, want valid, by the phone", v)
	}
	if v := e.validate(res.Token, "alice", "transfer", details); v.Valid {
		t.Fatal("a second Validate of the token is valid, want invalid")
	}

	// 64 racing validations of one approved token: exactly one is valid,
	// in each of 20 rounds.
	for round := range 20 {
		res := e.track("alice", "transfer", details, true)
		approve(t, phone, res.ChallengeID, res.VerificationCode)
		var valid atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 64 {
			wg.Go(func() {
				<-start
				v, err := e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: "alice", Action: "transfer", Details: details})
				if err != nil {
					t.Errorf("Validate: %v", err)
				}
				if v.Valid {
					valid.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := valid.Load(); n != 1 {
			t.Fatalf("round %d: %d of 64 racing validations were valid, want 1", round, n)
		}
	}

	// Revoked between approval and validation: the challenge fails.
	res = e.track("alice", "transfer", details, true)
	approve(t, phone, res.ChallengeID, res.VerificationCode)
	if err := e.store.DeleteCredential(ctx, "alice", phone.CredentialID); err != nil {
		t.Fatal(err)
	}
	if v := e.validate(res.Token, "alice", "transfer", details); v.Valid {
		t.Fatal("Validate after the approving credential was removed is valid, want invalid")
	}
	if state, err := e.svc.ChallengeState(ctx, res.Token, "alice"); err != nil || state != store.StateFailed {
		t.Fatalf("Status after a revoked validation = %q, %v; want FAILED", state, err)
	}
	if !slices.ContainsFunc(e.events.all(), func(ev event.Event) bool {
		return ev.Type == event.ValidationFailed && ev.Reason == "credential_revoked"
	}) {
		t.Fatal("no validation_failed event with reason credential_revoked")
	}
}

// What the fallback costs: each cycle step of a record-only store is the
// record calls it stands for (rate limits off): Track reads the wrong-code
// counter and the user's credentials, then creates; Respond reads the
// challenge and the credential, then answers; Validate reads both, then
// consumes.
func TestChallengeCycle_RecordMethodsOnlyStoreCalls(t *testing.T) {
	st := &instancetest.Faulty{Store: memstore.New()}
	e := cycletest.New(t, storetest.RecordOnly(st))
	e.Cycle(t, nil)
	var got [cycletest.Steps]int64
	last := st.Calls.Load()
	e.Cycle(t, func(step int) {
		n := st.Calls.Load()
		got[step], last = n-last, n
	})
	if want := [cycletest.Steps]int64{3, 1, 3, 3}; got != want {
		t.Errorf("store calls per step (%v) = %v, want %v", cycletest.StepNames, got, want)
	}
}
