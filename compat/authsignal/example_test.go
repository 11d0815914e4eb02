package authsignal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/compat/authsignal"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// Mounting the adapter beside the Service's own handler, and the backend
// SDK's track as it reaches it. A base URL the browser SDK's QR socket
// cannot follow fails at start-up.
func ExampleNew() {
	svc, err := deviceauth.New(deviceauth.Config{Store: memstore.New(), Keys: [][]byte{bytes.Repeat([]byte{1}, 32)},
		PublicURL: "https://app.example.com/deviceauth"})
	if err != nil {
		panic(err)
	}
	defer svc.Close(context.Background())
	cfg := authsignal.Config{
		Service:     svc,
		TenantID:    "tenant-123",
		SecretKeys:  []string{"sk_live_0123456789abcdef"},
		WeakActions: []string{"signIn"},
		BaseURL:     "https://app.example.com/as/v1",
	}
	h, err := authsignal.New(cfg)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))
	mux.Handle("/as/", http.StripPrefix("/as", h))

	req := httptest.NewRequest("POST", "/as/v1/users/alice/actions/signIn", strings.NewReader(`{}`))
	req.SetBasicAuth("sk_live_0123456789abcdef", "")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	var out struct {
		State      string `json:"state"`
		IsEnrolled bool   `json:"isEnrolled"`
		Token      string `json:"token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	fmt.Println(rec.Code, out.State, out.IsEnrolled, strings.HasPrefix(out.Token, "asct_"))

	cfg.BaseURL = "https://api.shop.com/as/v1"
	_, err = authsignal.New(cfg)
	fmt.Println(err)
	// Output:
	// 200 CHALLENGE_REQUIRED false true
	// authsignal: Config.BaseURL is rewritten by the browser SDK to wss://api-ws.shop.com/as/ws-v1-challenge for its QR WebSocket, not wss://api.shop.com/as/ws-v1-challenge: serve the adapter under a host and path without "v1" or "api" before /v1
}
