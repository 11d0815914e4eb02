package admin_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/admin"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// Example mounts the admin handler at /admin/ behind the application's
// own admin authentication (here a header a proxy would set) and approves
// a transfer the rules held for review.
func Example() {
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)
	svc, err := deviceauth.New(deviceauth.Config{
		Store: memstore.New(), Keys: [][]byte{key}, PublicURL: "https://bank.example/deviceauth",
		// Rules: a package rules set, or any Policy; this one holds every
		// transfer for review.
		Rules: deviceauth.PolicyFunc(func(_ context.Context, in deviceauth.PolicyInput) (deviceauth.Decision, error) {
			if in.Action == "transfer" {
				return deviceauth.Decision{State: deviceauth.StateReview, Rule: "transfers"}, nil
			}
			return deviceauth.Decision{State: deviceauth.StateChallengeRequired}, nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer svc.Close(ctx)

	// The application's admin authentication decides who may enter;
	// Operator names them for the record of each decision.
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.Handler(svc, admin.Options{
		Operator: func(r *http.Request) (string, error) {
			if op := r.Header.Get("X-Admin-User"); op != "" { // set by the app's admin sign-in
				return op, nil
			}
			return "", errors.New("not signed in as an operator")
		},
	})))

	held, _ := svc.Track(ctx, deviceauth.TrackRequest{UserID: "user-42", Action: "transfer",
		Details: deviceauth.Details{Message: "Send 25 000 EUR to Bob"}})
	fmt.Println("track:", held.State)

	req := httptest.NewRequest("POST", "/admin/api/reviews/user-42/"+held.ActionID,
		strings.NewReader(`{"decision":"approve","note":"called the customer"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Admin-User", "ops@bank.example")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println("decision:", rec.Code)

	list, _, _ := svc.Actions(ctx, deviceauth.ActionQuery{UserID: "user-42"})
	fmt.Println("review:", list[0].Review, "by", list[0].Reviewer)

	// Without an operator, nothing is shown or decided.
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/", nil))
	fmt.Println("no operator:", rec.Code)
	// Output:
	// track: REVIEW
	// decision: 200
	// review: APPROVED by ops@bank.example
	// no operator: 403
}
