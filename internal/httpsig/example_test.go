package httpsig_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/deviceauth/deviceauth/internal/httpsig"
)

// A device signs a request; the server verifies it against the key it holds
// for the credential, then records the nonce in its replay cache.
func ExampleProfile_Verify() {
	deviceKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()

	// Device side.
	req, _ := http.NewRequest("GET", "https://auth.example.com/v1/challenges/ch_1", nil)
	_ = httpsig.Sign(req, nil, "cred_1", deviceKey, now, "")

	// Server side, as the request arrives.
	srv := httptest.NewRequest("GET", "/v1/challenges/ch_1", nil)
	srv.Header = req.Header
	keys := func(_ context.Context, keyID string) (string, crypto.PublicKey, error) {
		return httpsig.AlgECDSAP256SHA256, deviceKey.Public(), nil // look keyID up in the store
	}
	profile := httpsig.Profile{Authority: "auth.example.com"}
	v, err := profile.Verify(context.Background(), srv, nil, now, keys)
	fmt.Println(v.KeyID, err)
	// Output: cred_1 <nil>
}
