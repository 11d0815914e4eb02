package passkey

import (
	"encoding/json"

	"github.com/deviceauth/deviceauth/internal/protocol"
)

// The JSON a browser produces with PublicKeyCredential.toJSON() (WebAuthn
// Level 3 §5.1.10), which passkey.js also builds by hand where toJSON is
// missing. Bodies are decoded into these first, strictly (duplicate and
// unknown members, other cases of a name and trailing data are refused),
// and only then handed to go-webauthn, whose own decoder is lenient.

// registrationResponseJSON is RegistrationResponseJSON.
type registrationResponseJSON struct {
	ID                      string                     `json:"id"`
	RawID                   string                     `json:"rawId"`
	Type                    string                     `json:"type"`
	AuthenticatorAttachment *string                    `json:"authenticatorAttachment"`
	ClientExtensionResults  map[string]json.RawMessage `json:"clientExtensionResults"`
	Response                struct {
		ClientDataJSON     string   `json:"clientDataJSON"`
		AuthenticatorData  *string  `json:"authenticatorData"`
		Transports         []string `json:"transports"`
		PublicKey          *string  `json:"publicKey"`
		PublicKeyAlgorithm *int64   `json:"publicKeyAlgorithm"`
		AttestationObject  string   `json:"attestationObject"`
	} `json:"response"`
}

// authenticationResponseJSON is AuthenticationResponseJSON.
type authenticationResponseJSON struct {
	ID                      string                     `json:"id"`
	RawID                   string                     `json:"rawId"`
	Type                    string                     `json:"type"`
	AuthenticatorAttachment *string                    `json:"authenticatorAttachment"`
	ClientExtensionResults  map[string]json.RawMessage `json:"clientExtensionResults"`
	Response                struct {
		ClientDataJSON    string  `json:"clientDataJSON"`
		AuthenticatorData string  `json:"authenticatorData"`
		Signature         string  `json:"signature"`
		UserHandle        *string `json:"userHandle"`
		AttestationObject *string `json:"attestationObject"`
	} `json:"response"`
}

func decodeStrict(body []byte, v any) error { return protocol.UnmarshalStrict(body, v) }
