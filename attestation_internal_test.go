package deviceauth

import (
	"testing"

	"github.com/deviceauth/deviceauth/store"
)

// TestAttestationRequirement_Rules: what each stored requirement lets
// through, that a flag this release does not know fails closed, and that
// covers only accepts a stored requirement at least as strict.
func TestAttestationRequirement_Rules(t *testing.T) {
	hwUser := Attestation{Kind: "android-key", HardwareBacked: true, UserAuthRequired: true}
	hwOnly := Attestation{Kind: "android-key", HardwareBacked: true}
	software := Attestation{Kind: "android-key", SecurityLevel: "software"}
	// A record claiming hardware without an attested kind is not attested.
	forged := Attestation{Kind: "none", HardwareBacked: true, UserAuthRequired: true}
	cases := []struct {
		req  AttestationRequirement
		enc  string
		meet []Attestation
		fail []Attestation
	}{
		{AttestationRequirement{}, "", []Attestation{notAttested, software, hwOnly, hwUser, forged}, nil},
		{AttestationRequirement{Attested: true}, "attested", []Attestation{software, hwOnly, hwUser}, []Attestation{notAttested, forged}},
		{AttestationRequirement{HardwareBacked: true}, "attested,hardware", []Attestation{hwOnly, hwUser}, []Attestation{notAttested, software, forged}},
		{AttestationRequirement{HardwareBacked: true, UserAuthRequired: true}, "attested,hardware,user-auth", []Attestation{hwUser}, []Attestation{notAttested, software, hwOnly, forged}},
	}
	for _, c := range cases {
		if got := c.req.encode(); got != c.enc {
			t.Errorf("%+v encodes as %q, want %q", c.req, got, c.enc)
		}
		for _, a := range c.meet {
			if !meetsRequirement(a, c.enc) {
				t.Errorf("%+v does not meet %q", a, c.enc)
			}
		}
		for _, a := range c.fail {
			if meetsRequirement(a, c.enc) {
				t.Errorf("%+v meets %q", a, c.enc)
			}
		}
	}
	if meetsRequirement(hwUser, "attested,tpm") || coversRequirement("attested,tpm", AttestationRequirement{}) {
		t.Error("an unknown flag did not fail closed")
	}
	hw := AttestationRequirement{HardwareBacked: true}
	for enc, want := range map[string]bool{"": false, "attested": false, "attested,hardware": true, "attested,hardware,user-auth": true} {
		if got := coversRequirement(enc, hw); got != want {
			t.Errorf("covers(%q, hardware) = %v, want %v", enc, got, want)
		}
	}
	if !coversRequirement("", AttestationRequirement{}) {
		t.Error("no requirement does not cover none")
	}
}

// TestCredentialAttestation_Labels: a record without an attestation, or
// with one that does not decode, is "none"; an attested one round-trips;
// "none" is never stored as if attested.
func TestCredentialAttestation_Labels(t *testing.T) {
	for name, raw := range map[string][]byte{"absent": nil, "corrupt": []byte("{"), "kind none": []byte(`{"kind":"none","hardwareBacked":true}`)} {
		a := credentialAttestation(store.Credential{Attestation: raw})
		if a.Kind != "none" || a.HardwareBacked || a.UserAuthRequired || a.SecurityLevel != "unknown" || a.VerifiedBoot != "unknown" {
			t.Errorf("%s: %+v, want not attested", name, a)
		}
	}
	if b, err := encodeAttestation(notAttested); err != nil || b != nil {
		t.Fatalf("encodeAttestation(none) = %q, %v; want nothing stored", b, err)
	}
	in := Attestation{Kind: "android-key", SecurityLevel: "strongbox", HardwareBacked: true, UserAuth: "timed", UserAuthRequired: true,
		AppIDs: []string{"com.example"}, VerifiedBoot: "verified", Record: []byte(`{"kind":"android-key"}`)}
	b, err := encodeAttestation(in)
	if err != nil {
		t.Fatal(err)
	}
	out := credentialAttestation(store.Credential{Attestation: b})
	if out.Kind != in.Kind || out.SecurityLevel != in.SecurityLevel || !out.HardwareBacked || out.UserAuth != "timed" ||
		!out.UserAuthRequired || len(out.AppIDs) != 1 || out.VerifiedBoot != "verified" || string(out.Record) != string(in.Record) {
		t.Fatalf("round trip: %+v", out)
	}
	if pub := publicCredential(store.Credential{Attestation: b}); pub.Attestation.Kind != "android-key" {
		t.Fatalf("publicCredential: %+v", pub.Attestation)
	}
}
