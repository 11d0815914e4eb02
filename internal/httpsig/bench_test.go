package httpsig_test

import (
	"context"
	"testing"

	"github.com/deviceauth/deviceauth/internal/httpsig"
)

// BenchmarkProfileVerifyES256 measures Profile.Verify of a signed POST with
// a body: header parsing, policy, digest, base and one P-256 verification.
func BenchmarkProfileVerifyES256(b *testing.B) {
	keys := newTestKeys(b)
	body := []byte(`{"decision":"approve","challengeId":"ch_123"}`)
	cr := newRequest(b, "POST", testURL, string(body))
	if err := httpsig.Sign(cr, body, esID, keys.es, signedAt, testNonce); err != nil {
		b.Fatal(err)
	}
	r, body := onWire(b, cr)
	key := keys.keyFunc()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := testProfile.Verify(ctx, r, body, signedAt, key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignES256 measures Sign of the same request with a fresh nonce.
func BenchmarkSignES256(b *testing.B) {
	keys := newTestKeys(b)
	body := []byte(`{"decision":"approve","challengeId":"ch_123"}`)
	b.ReportAllocs()
	for b.Loop() {
		r := newRequest(b, "POST", testURL, string(body))
		if err := httpsig.Sign(r, body, esID, keys.es, signedAt, ""); err != nil {
			b.Fatal(err)
		}
	}
}
