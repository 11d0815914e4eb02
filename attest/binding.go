package attest

import (
	"crypto/sha256"

	"github.com/deviceauth/deviceauth/internal/protocol"
)

// LabelAndroidChallenge starts the message whose SHA-256 is the Android attestation challenge,
// so the challenge cannot be mistaken for any other hash of the token.
const LabelAndroidChallenge = "deviceauth/v1/attest-android"

// AndroidChallenge is the attestationChallenge a device sets (KeyGenParameterSpec.Builder
// .setAttestationChallenge) when it generates the key it registers with registrationToken:
// SHA-256 of label ‖ 0x00 ‖ uint32be(32) ‖ SHA-256(token ASCII), the framing of
// docs/protocol.md. It binds to the token rather than the proof-of-possession message because
// the challenge is fixed before the key, and so the message, exists; the key itself is bound
// by the leaf-key check.
func AndroidChallenge(registrationToken string) []byte {
	tokenHash := sha256.Sum256([]byte(registrationToken))
	h := sha256.Sum256(protocol.Frame(LabelAndroidChallenge, tokenHash[:]))
	return h[:]
}

// AppAttestClientDataHash is the clientDataHash an iOS app passes to
// DCAppAttestService.attestKey at registration: SHA-256 of the registration
// proof-of-possession message exactly as the device signs it (docs/protocol.md, label
// deviceauth/v1/register). The message holds the token and the device's signing key, so the
// attested App Attest key vouches for that signing key in that registration.
func AppAttestClientDataHash(registrationMessage []byte) []byte {
	h := sha256.Sum256(registrationMessage)
	return h[:]
}
