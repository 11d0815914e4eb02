package passkey_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
)

// The passkey step-up vector of docs/protocol.md: the inputs are those of
// the challenge-response vector there (challenge ID, nonce, action, the
// details digest of "Send 25.00 EUR to Bob Müller").
const (
	vectorChallengeID   = "ch_VectorChallenge01"
	vectorAction        = "transfer"
	vectorDetailsDigest = "9d8aff0dd178c6afdb8aae5a4a40b1ae8e55f37f9988c006b15809a016556ae7"
	vectorMessage       = "646576696365617574682f76312f706173736b6579000000001463685f566563746f724368616c6c656e6765303100000020a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5000000087472616e73666572000000209d8aff0dd178c6afdb8aae5a4a40b1ae8e55f37f9988c006b15809a016556ae7"
	vectorChallengeHex  = "4cdc968c922a1a9b65d737b5a61ac825c008ce6b3cce4dde8fc39e9f1154a3b2"
	vectorChallengeB64  = "TNyWjJIqGptl1ze1phrIJcAIzms8zk3ej8OenxFUo7I"
	// A passkey's credential ID from its raw ID 000102…0f.
	vectorRawID        = "000102030405060708090a0b0c0d0e0f"
	vectorCredentialID = "pk_vkXLJgW_Nr695oSEGijw_UPGmFCj3OX-26aZKO46iZE"
)

func TestPasskeyStepUpVector(t *testing.T) {
	nonce := bytes.Repeat([]byte{0xa5}, 32)
	digest, _ := hex.DecodeString(vectorDetailsDigest)
	msg := protocol.Frame(protocol.LabelPasskey, []byte(vectorChallengeID), nonce, []byte(vectorAction), digest)
	if got := hex.EncodeToString(msg); got != vectorMessage || len(msg) != 130 {
		t.Fatalf("message (%d bytes) %s\nwant %s", len(msg), got, vectorMessage)
	}
	c := protocol.PasskeyChallenge(vectorChallengeID, nonce, vectorAction, digest)
	if hex.EncodeToString(c[:]) != vectorChallengeHex || b64(c[:]) != vectorChallengeB64 {
		t.Fatalf("challenge %x (%s), want %s (%s)", c, b64(c[:]), vectorChallengeHex, vectorChallengeB64)
	}
	raw, _ := hex.DecodeString(vectorRawID)
	if got := seam.CredentialID(raw); got != vectorCredentialID {
		t.Fatalf("PasskeyCredentialID = %s, want %s", got, vectorCredentialID)
	}
	// The options carry exactly this challenge (webauthn.WithChallenge).
	e := newEnv(t)
	opts, err := e.pk.AssertionOptions(context.Background(), c[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	var o requestOptions
	if err := json.Unmarshal(opts, &o); err != nil || o.PublicKey.Challenge != vectorChallengeB64 {
		t.Fatalf("options %s, want challenge %s", opts, vectorChallengeB64)
	}
}
