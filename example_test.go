package deviceauth_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
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
