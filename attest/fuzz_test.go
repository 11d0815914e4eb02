package attest

import (
	"errors"
	"testing"
	"time"
)

// sentinels are the reasons every refusal must wrap.
var sentinels = []error{ErrMalformed, ErrUntrustedRoot, ErrSignature, ErrValidity, ErrRevoked, ErrChallenge, ErrKeyMismatch, ErrApp, ErrEnvironment, ErrCounter}

func wrapsOneSentinel(err error) bool {
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	return n == 1
}

// FuzzParseKeyDescription: any input either decodes or is refused as ErrMalformed, without
// panicking. Seeded with the KeyDescription of every Android vector.
func FuzzParseKeyDescription(f *testing.F) {
	for _, v := range loadIndex(f).Android {
		for _, e := range mustParse(f, loadChain(f, v.Vector)[0]).Extensions {
			if e.Id.Equal(OIDKeyDescription) {
				f.Add(e.Value)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kd, err := ParseKeyDescription(b)
		if (kd == nil) == (err == nil) {
			t.Fatalf("kd %v with err %v", kd, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("err %v is not ErrMalformed", err)
		}
		if err == nil {
			androidResult(kd) // must not panic on any decoded value
		}
	})
}

// FuzzVerifyAppAttest: any attestation object is verified or refused with exactly one reason,
// without panicking. Seeded with every App Attest vector, verified at its own instant.
func FuzzVerifyAppAttest(f *testing.F) {
	for _, c := range appleCases(f) {
		f.Add(c.object)
	}
	c, cfg, _ := basD(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := VerifyAppAttest(b, nil, sum(c.clientData), cfg, c.at)
		if err != nil && !wrapsOneSentinel(err) {
			t.Fatalf("err %v wraps not exactly one reason", err)
		}
		if err == nil && res.Kind != KindAppleAppAttest {
			t.Fatalf("accepted with result %+v", res)
		}
	})
}

// FuzzVerifyAssertion: any assertion is verified or refused with exactly one reason.
func FuzzVerifyAssertion(f *testing.F) {
	c, _, res := basD(f)
	f.Add(c.assertion)
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := VerifyAssertion(b, sum(c.assertionData), *res.Apple)
		if err != nil && (!wrapsOneSentinel(err) || n != 0) {
			t.Fatalf("counter %d, err %v", n, err)
		}
	})
}

// TestAndroidUserAuth covers the user-authentication summary, including per-use keys that
// no vector has.
func TestAndroidUserAuth(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		list AuthorizationList
		want UserAuth
	}{
		{AuthorizationList{NoAuthRequired: true}, UserAuthNone},
		{AuthorizationList{}, UserAuthUnknown},
		{AuthorizationList{UserAuthType: n(0)}, UserAuthUnknown},
		{AuthorizationList{UserAuthType: n(2)}, UserAuthPerUse},
		{AuthorizationList{UserAuthType: n(2), AuthTimeout: n(0)}, UserAuthPerUse},
		{AuthorizationList{UserAuthType: n(3), AuthTimeout: n(30)}, UserAuthTimed},
	}
	for _, tt := range tests {
		if got := androidUserAuth(tt.list); got != tt.want {
			t.Errorf("androidUserAuth(%+v) = %s, want %s", tt.list, got, tt.want)
		}
	}
}

// TestVerify_TimeIsAParameter: the same vector verifies at its instant and is refused at the
// real current time, so no test depends on the clock.
func TestVerify_TimeIsAParameter(t *testing.T) {
	c := appleCases(t)[0]
	cfg := AppAttestConfig{AppIDs: []string{c.appID}, Development: true}
	if _, err := VerifyAppAttest(c.object, c.keyID, sum(c.clientData), cfg, time.Now()); !errors.Is(err, ErrValidity) {
		t.Errorf("at the current time: err = %v, want ErrValidity", err)
	}
	chain := loadChain(t, akitaTEE)
	if _, err := VerifyAndroidKey(chain, []byte("challenge"), leafKey(t, chain), AndroidConfig{}, time.Now()); !errors.Is(err, ErrValidity) {
		t.Errorf("Android at the current time: err = %v, want ErrValidity", err)
	}
}
