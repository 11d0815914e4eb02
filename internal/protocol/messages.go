package protocol

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
)

// Labels that start each signed message, so a signature for one purpose is never valid for
// another.
const (
	LabelRegister = "deviceauth/v1/register"
	// LabelRegisterV2 is the registration proof that also covers the push token.
	LabelRegisterV2 = "deviceauth/v2/register"
	LabelResponse   = "deviceauth/v1/response"
	LabelDetails    = "deviceauth/v1/details"
	LabelPasskey    = "deviceauth/v1/passkey"
)

// Decisions a device signs in a Response.
const (
	DecisionApprove = "approve"
	DecisionDeny    = "deny"
)

// Frame builds label ‖ 0x00 ‖ f₁ ‖ f₂ ‖ … where each field is its length as a uint32
// big-endian followed by its bytes. An absent optional value is a nil or empty field. Frame
// panics on a field of 4 GiB or more, which no caller can produce from a capped request.
func Frame(label string, fields ...[]byte) []byte {
	n := len(label) + 1
	for _, f := range fields {
		n += 4 + len(f)
	}
	msg := make([]byte, 0, n)
	msg = append(msg, label...)
	msg = append(msg, 0)
	for _, f := range fields {
		msg = appendField(msg, f)
	}
	return msg
}

// appendField appends uint32be(len(f)) ‖ f, the one field encoding of §4.
func appendField(msg, f []byte) []byte {
	if uint64(len(f)) > math.MaxUint32 {
		panic("protocol: frame field longer than 4 GiB")
	}
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(f)))
	return append(msg, f...)
}

// appendStringField is appendField of a string, without converting it.
func appendStringField(msg []byte, f string) []byte {
	if uint64(len(f)) > math.MaxUint32 {
		panic("protocol: frame field longer than 4 GiB")
	}
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(f)))
	return append(msg, f...)
}

// RegistrationMessage is the registration proof of possession the device signs: label
// LabelRegister; fields SHA-256 of the registration token's ASCII (32 bytes), algorithm, the
// public key bytes exactly as sent (base64url-decoded, not normalised), device name, platform.
func RegistrationMessage(token, alg string, publicKey []byte, name, platform string) []byte {
	tokenHash := sha256.Sum256([]byte(token))
	return Frame(LabelRegister, tokenHash[:], []byte(alg), publicKey, []byte(name), []byte(platform))
}

// RegistrationMessageV2 is the registration proof of possession of protocol v2: label
// LabelRegisterV2; the fields of RegistrationMessage, then the push token ("" when none), so
// the push token the server stores is the one the device signed.
func RegistrationMessageV2(token, alg string, publicKey []byte, name, platform, pushToken string) []byte {
	tokenHash := sha256.Sum256([]byte(token))
	return Frame(LabelRegisterV2, tokenHash[:], []byte(alg), publicKey, []byte(name), []byte(platform), []byte(pushToken))
}

// Response is the content of a signed challenge response.
type Response struct {
	ChallengeID      string
	Nonce            []byte // decoded bytes
	Action           string
	CredentialID     string
	Decision         string // DecisionApprove or DecisionDeny
	DenyReason       string // "" unless deny
	VerificationCode string // as typed, "" when none
	DetailsDigest    []byte // 32 bytes, DetailsDigest of the challenge's details
}

// ResponseMessage is the challenge response the device signs: label LabelResponse; fields in
// the order of docs/protocol.md: challenge ID, nonce, action, credential ID, decision, deny reason,
// verification code, details digest. It frames the values as given and checks none of them.
func ResponseMessage(r Response) []byte {
	return Frame(LabelResponse,
		[]byte(r.ChallengeID),
		r.Nonce,
		[]byte(r.Action),
		[]byte(r.CredentialID),
		[]byte(r.Decision),
		[]byte(r.DenyReason),
		[]byte(r.VerificationCode),
		r.DetailsDigest,
	)
}

// PasskeyChallenge is the WebAuthn challenge of a passkey step-up:
// SHA-256 of label LabelPasskey with the fields challenge ID, nonce, action
// and details digest. Setting it as the assertion's challenge binds the
// passkey's signature to the action and its details.
func PasskeyChallenge(challengeID string, nonce []byte, action string, detailsDigest []byte) [32]byte {
	return sha256.Sum256(Frame(LabelPasskey, []byte(challengeID), nonce, []byte(action), detailsDigest))
}
