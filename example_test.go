package deviceauth_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/risk"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// Example shows the whole cycle: enrol a device, track an action, approve
// it on the device and validate the token on the backend.
func Example() {
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	svc, err := deviceauth.New(deviceauth.Config{
		Store:     memstore.New(),
		Keys:      [][]byte{key},
		PublicURL: srv.URL + "/deviceauth",
	})
	if err != nil {
		panic(err)
	}
	defer svc.Close(ctx)
	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))

	// The logged-in user gets a registration token; the phone registers.
	grant, _ := svc.MintRegistrationToken(ctx, "user-42", "")
	signer, _ := device.NewP256Key()
	phone, _ := device.New(srv.URL+"/deviceauth", signer)
	if _, err := phone.Register(ctx, grant.Token, "Ada's phone", "ios"); err != nil {
		panic(err)
	}

	// The backend asks whether a transfer may proceed.
	details := deviceauth.Details{Message: "Send 25.00 EUR to Bob"}
	res, _ := svc.Track(ctx, deviceauth.TrackRequest{UserID: "user-42", Action: "transfer", Details: details})
	fmt.Println("track:", res.State)

	// The phone fetches the challenge, shows the details and approves.
	ch, _ := phone.Challenge(ctx, res.ChallengeID)
	fmt.Println("phone shows:", ch.Details.Message)
	phone.Approve(ctx, ch, "")

	// The backend validates the token once.
	v, err := svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: "user-42", Action: "transfer", Details: details})
	if err != nil {
		panic(err) // the store failed: fail closed
	}
	fmt.Println("valid:", v.Valid, v.State)
	again, _ := svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: "user-42", Action: "transfer", Details: details})
	fmt.Println("again:", again.Valid, again.State)
	// Output:
	// track: CHALLENGE_REQUIRED
	// phone shows: Send 25.00 EUR to Bob
	// valid: true CHALLENGE_SUCCEEDED
	// again: false CHALLENGE_FAILED
}

// ExampleNew shows that New validates the configuration and names the
// field that is wrong.
func ExampleNew() {
	_, err := deviceauth.New(deviceauth.Config{
		Store:     memstore.New(),
		Keys:      [][]byte{[]byte("too short")},
		PublicURL: "https://app.example.com/deviceauth",
	})
	fmt.Println(err)
	// Output:
	// deviceauth: Config.Keys[0] is 9 bytes; at least 32 random bytes are required
}

// ExampleService_DecideReview holds a large transfer for review, lets an
// operator approve it, and shows the approval letting the same transfer
// through once.
func ExampleService_DecideReview() {
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)
	svc, err := deviceauth.New(deviceauth.Config{
		Store: memstore.New(), Keys: [][]byte{key}, PublicURL: "https://bank.example/deviceauth",
		// A policy of the application's own (package rules makes one of a
		// rules file): transfers of 10 000 or more wait for an operator.
		Rules: deviceauth.PolicyFunc(func(_ context.Context, in deviceauth.PolicyInput) (deviceauth.Decision, error) {
			if in.Signals.Amount.Value >= 10000 {
				return deviceauth.Decision{State: deviceauth.StateReview, Rule: "large-transfer"}, nil
			}
			return deviceauth.Decision{State: deviceauth.StateChallengeRequired}, nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer svc.Close(ctx)

	req := deviceauth.TrackRequest{UserID: "user-42", Action: "transfer",
		Details: deviceauth.Details{Message: "Send 12000.00 EUR to Bob"}, Amount: risk.Amount{Value: 12000, Currency: "EUR"}}
	held, _ := svc.Track(ctx, req)
	fmt.Println("track:", held.State, "by", held.Rule)

	queue, _, _ := svc.Actions(ctx, deviceauth.ActionQuery{Reviews: true})
	fmt.Println("waiting for review:", len(queue))
	svc.DecideReview(ctx, deviceauth.ReviewDecision{UserID: "user-42", ActionID: held.ActionID, Approve: true,
		Operator: "ops@bank.example", Note: "called the customer"})

	again, _ := svc.Track(ctx, req)
	fmt.Println("retry:", again.State)
	third, _ := svc.Track(ctx, req)
	fmt.Println("another retry:", third.State)
	// Output:
	// track: REVIEW by large-transfer
	// waiting for review: 1
	// retry: ALLOW
	// another retry: REVIEW
}

// ExampleService_Explain evaluates the policy for a request with no side
// effects, as an application's tests of its rules do.
func ExampleService_Explain() {
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)
	svc, err := deviceauth.New(deviceauth.Config{
		Store: memstore.New(), Keys: [][]byte{key}, PublicURL: "https://bank.example/deviceauth",
		Rules: deviceauth.PolicyFunc(func(_ context.Context, in deviceauth.PolicyInput) (deviceauth.Decision, error) {
			if !in.Signals.Known.Prefix {
				return deviceauth.Decision{State: deviceauth.StateChallengeRequired, VerificationCode: true, Rule: "new-network"}, nil
			}
			return deviceauth.Decision{State: deviceauth.StateChallengeRequired}, nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer svc.Close(ctx)
	e, _ := svc.Explain(ctx, deviceauth.TrackRequest{UserID: "user-42", Action: "transfer", ClientIP: netip.MustParseAddr("192.0.2.1")})
	fmt.Println(e.Decision.State, e.Decision.Rule, "known prefix:", e.Signals.Known.Prefix, "this minute:", e.Signals.Velocity.Minute)
	// Output:
	// CHALLENGE_REQUIRED new-network known prefix: false this minute: 1
}
