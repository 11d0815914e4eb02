package attest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/deviceauth/deviceauth/internal/protocol"
)

// bindingToken is the registration token of the vectors in docs/protocol.md.
const bindingToken = "drt_VECTORVECTORVECTORVECTOR2VECTORVECTORVECTORVECTOR2"

// TestAndroidChallenge builds the challenge byte by byte, independently of protocol.Frame,
// and checks the value docs/attestation.md states.
func TestAndroidChallenge(t *testing.T) {
	tokenHash := sha256.Sum256([]byte(bindingToken))
	msg := append([]byte("deviceauth/v1/attest-android\x00\x00\x00\x00\x20"), tokenHash[:]...)
	want := sha256.Sum256(msg)
	got := AndroidChallenge(bindingToken)
	if !bytes.Equal(got, want[:]) {
		t.Fatalf("AndroidChallenge = %x, want %x", got, want)
	}
	if doc := "534eecfe17e5e56936874887a5466240d847a31f2a81d70448fdf0111a2c946f"; hex.EncodeToString(got) != doc {
		t.Errorf("AndroidChallenge(%q) = %x; docs/attestation.md says %s", bindingToken, got, doc)
	}
	if bytes.Equal(AndroidChallenge(bindingToken+"x"), got) {
		t.Error("two tokens give one challenge")
	}
}

// TestAppAttestClientDataHash: the clientDataHash is SHA-256 of the registration proof message
// exactly as protocol.RegistrationMessage builds it, so it covers the token and the signing key.
func TestAppAttestClientDataHash(t *testing.T) {
	key := bytes.Repeat([]byte{4}, 65)
	msg := protocol.RegistrationMessage(bindingToken, protocol.AlgES256, key, "Ada's phone", "ios")
	want := sha256.Sum256(msg)
	if got := AppAttestClientDataHash(msg); !bytes.Equal(got, want[:]) {
		t.Fatalf("AppAttestClientDataHash = %x, want %x", got, want)
	}
	// The ES256 registration vector of docs/protocol.md, and its hash as docs/attestation.md states it.
	spki, _ := hex.DecodeString("3059301306072a8648ce3d020106082a8648ce3d0301070342000460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb67903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299")
	vec := protocol.RegistrationMessage(bindingToken, protocol.AlgES256, spki, "Ada's phone", "ios")
	if got := hex.EncodeToString(AppAttestClientDataHash(vec)); got != "dc33cc3851b0ae4958318212cf086d34a219c41b5d7fbf681615e3d66edc07a6" {
		t.Errorf("clientDataHash of the protocol.md vector = %s, not what docs/attestation.md states", got)
	}
	other := protocol.RegistrationMessage(bindingToken, protocol.AlgES256, bytes.Repeat([]byte{5}, 65), "Ada's phone", "ios")
	if bytes.Equal(AppAttestClientDataHash(other), want[:]) {
		t.Error("another signing key gives the same clientDataHash")
	}
}
