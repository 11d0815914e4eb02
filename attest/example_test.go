package attest_test

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/deviceauth/deviceauth/attest"
)

// Verify a Pixel 8a's Keystore chain at the instant it was made. In production the challenge
// is attest.AndroidChallenge(token) and the key the one being registered.
func ExampleVerifyAndroidKey() {
	b, _ := os.ReadFile("../testdata/attestation/android/android-keyattestation/testdata/akita/sdk34/TEE_EC_NONE.pem")
	var chain [][]byte
	for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
		chain = append(chain, blk.Bytes)
	}
	leaf, _ := x509.ParseCertificate(chain[0])
	at := time.Date(2024, 9, 26, 22, 31, 25, 0, time.UTC)

	res, err := attest.VerifyAndroidKey(chain, []byte("challenge"), leaf.PublicKey, attest.AndroidConfig{}, at)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Kind, res.SecurityLevel, res.HardwareBacked, res.UserAuth, res.VerifiedBoot, res.AppIDs)
	fmt.Println("OS", *res.Android.HardwareEnforced.OSVersion, "patch", *res.Android.HardwareEnforced.OSPatchLevel)
	// Output:
	// android-key tee true none unverified [com.google.wireless.android.security.attestationverifier.collector]
	// OS 140000 patch 202408
}

// Verify an App Attest attestation, then an assertion made later with the same key.
func ExampleVerifyAppAttest() {
	b, _ := os.ReadFile("../testdata/attestation/apple/bas-d-appattest/vectors.json")
	var v struct {
		AttestationObjectB64, KeyIDB64, ClientDataB64 string
		Assertion                                     struct{ AssertionB64, ClientDataB64 string }
	}
	_ = json.Unmarshal(b, &v)
	dec := base64.StdEncoding.DecodeString
	object, _ := dec(v.AttestationObjectB64)
	keyID, _ := dec(v.KeyIDB64)
	clientData, _ := dec(v.ClientDataB64)
	clientDataHash := sha256.Sum256(clientData) // in production: attest.AppAttestClientDataHash(proof message)
	cfg := attest.AppAttestConfig{AppIDs: []string{"35MFYY2JY5.co.chiff.attestation-test"}, Development: true}

	res, err := attest.VerifyAppAttest(object, keyID, clientDataHash[:], cfg, time.Date(2021, 4, 14, 9, 55, 20, 0, time.UTC))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Kind, res.SecurityLevel, res.SigningKeyAttested, res.UserAuth, res.AppIDs, res.Apple.Environment)

	assertion, _ := dec(v.Assertion.AssertionB64)
	assertionData, _ := dec(v.Assertion.ClientDataB64)
	h := sha256.Sum256(assertionData)
	counter, err := attest.VerifyAssertion(assertion, h[:], *res.Apple) // stored counter 0
	fmt.Println("new counter", counter, err)
	// Output:
	// apple-appattest secure-enclave false unknown [35MFYY2JY5.co.chiff.attestation-test] development
	// new counter 3 <nil>
}

// A credential registered without attestation carries the NotAttested label.
func ExampleNotAttested() {
	fmt.Println(attest.NotAttested.Kind, attest.NotAttested.Attested(), attest.NotAttested.SecurityLevel)
	// Output: none false unknown
}
