package attest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/deviceauth/deviceauth"
)

func TestNewVerifier_RefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"nothing":               {},
		"App Attest without ID": {AppAttest: &AppAttestConfig{}},
		"unparsable extra root": {Android: &AndroidConfig{ExtraRootKeys: [][]byte{{1, 2, 3}}}},
	} {
		if _, err := NewVerifier(cfg); err == nil {
			t.Errorf("%s: NewVerifier accepted it", name)
		}
	}
}

// TestVerifier_AppAttestThroughTheWire: the bas-d vector, sent as the
// registration's attestation member, verifies when the message is what its
// clientDataHash covers — so the Verifier passes AppAttestClientDataHash of
// the registration message — and becomes the credential's Attestation.
func TestVerifier_AppAttestThroughTheWire(t *testing.T) {
	c, cfg, _ := basD(t)
	v, err := NewVerifier(Config{AppAttest: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	member, _ := json.Marshal(map[string]string{"format": "apple-appattest", "keyId": b64(c.keyID), "object": b64(c.object)})
	reg := deviceauth.Registration{Token: "drt_x", Platform: "ios", Attestation: member}
	a, err := v.VerifyAttestation(context.Background(), reg, nil, c.clientData, c.at)
	if err != nil {
		t.Fatalf("VerifyAttestation: %v", err)
	}
	if a.Kind != "apple-appattest" || a.SecurityLevel != "secure-enclave" || !a.HardwareBacked || a.UserAuthRequired ||
		a.UserAuth != "unknown" || a.VerifiedBoot != "unknown" || len(a.AppIDs) != 1 || a.AppIDs[0] != c.appID {
		t.Fatalf("Attestation = %+v", a)
	}
	var r Result
	if err := json.Unmarshal(a.Record, &r); err != nil || r.Apple == nil || string(r.Apple.KeyID) != string(c.keyID) {
		t.Fatalf("Record = %s, %v", a.Record, err)
	}
	// Another message (another registration) is refused as the binding.
	if _, err := v.VerifyAttestation(context.Background(), reg, nil, append([]byte("x"), c.clientData...), c.at); !errors.Is(err, ErrChallenge) {
		t.Fatalf("another message: %v, want ErrChallenge", err)
	}
}

// TestVerifier_RefusesMalformedMembers: what does not decode, or names a
// format the operator did not configure, is ErrMalformed.
func TestVerifier_RefusesMalformedMembers(t *testing.T) {
	c, cfg, _ := basD(t)
	v, err := NewVerifier(Config{AppAttest: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	for name, member := range map[string]string{
		"not JSON":               `{`,
		"unknown member":         `{"format":"apple-appattest","keyId":"` + b64(c.keyID) + `","object":"` + b64(c.object) + `","x":1}`,
		"unknown format":         `{"format":"tpm"}`,
		"android not configured": `{"format":"android-key","chain":["AAAA"]}`,
		"padded base64":          `{"format":"apple-appattest","keyId":"` + base64.URLEncoding.EncodeToString(c.keyID) + `","object":"` + b64(c.object) + `"}`,
		"missing object":         `{"format":"apple-appattest","keyId":"` + b64(c.keyID) + `"}`,
	} {
		_, err := v.VerifyAttestation(context.Background(), deviceauth.Registration{Attestation: []byte(member)}, nil, c.clientData, c.at)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}
