package redisstore

import (
	"bytes"
	"testing"
	"time"
)

// stored is the Redis hash the field-value pairs f make, as HGETALL
// returns it.
func stored(f fields) map[string]string {
	h := map[string]string{}
	for i := 0; i < len(f); i += 2 {
		switch v := f[i+1].(type) {
		case string:
			h[f[i].(string)] = v
		case []byte:
			h[f[i].(string)] = string(v)
		}
	}
	return h
}

// TestCodec_RecordsBeforeAttestation: credential and challenge hashes
// written by the release before attestation (no "att" or "ar" field) read
// as not attested and as requiring nothing; the key layout is unchanged
// (still v1), so no upgrade step is needed.
func TestCodec_RecordsBeforeAttestation(t *testing.T) {
	old := map[string]string{"id": "cr_old", "u": "alice", "k": "device", "al": "ES256", "pub": "\x01",
		"nm": "Old phone", "pl": "android", "ca": "1767323045000"}
	c, err := decodeCredential(old)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "cr_old" || c.Name != "Old phone" || c.Attestation != nil {
		t.Fatalf("old credential = %+v, want it with no attestation", c)
	}
	ch, err := decodeChallenge(map[string]string{"id": "ch_old", "u": "alice", "a": "transfer", "s": "PENDING",
		"ea": "4102444800000"}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if ch.ID != "ch_old" || ch.AttestationRequired != "" {
		t.Fatalf("old challenge = %+v, want no attestation requirement", ch)
	}

	// And the new fields round-trip under their own names.
	c.Attestation = []byte(`{"kind":"android-key"}`)
	h := stored(encodeCredential(c))
	if h[fieldAttestation] != string(c.Attestation) {
		t.Fatalf("encoded credential %v lacks %q", h, fieldAttestation)
	}
	back, err := decodeCredential(h)
	if err != nil || !bytes.Equal(back.Attestation, c.Attestation) {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	ch.AttestationRequired = "attested,hardware"
	f, err := encodeChallenge(ch)
	if err != nil {
		t.Fatal(err)
	}
	chBack, err := decodeChallenge(stored(f), time.Unix(0, 0))
	if err != nil || chBack.AttestationRequired != ch.AttestationRequired {
		t.Fatalf("decoded %+v, %v", chBack, err)
	}
}
