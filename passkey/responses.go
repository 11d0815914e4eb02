package passkey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The JSON a browser produces with PublicKeyCredential.toJSON() (WebAuthn
// Level 3 §5.1.10), which passkey.js also builds by hand where toJSON is
// missing. Bodies are decoded into these first, strictly (unknown members
// and trailing data are refused), and only then handed to go-webauthn,
// whose own decoder is lenient.

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

// registrationBeginJSON is the body of POST …/registration/options.
type registrationBeginJSON struct {
	// Name is what the passkey is called in the user's credential list;
	// default "Passkey".
	Name string `json:"name"`
}

// loginBeginJSON is the body of POST …/login/options.
type loginBeginJSON struct {
	// Username asks for a username-first sign-in; empty for a
	// discoverable (usernameless) one.
	Username string `json:"username"`
}

// decodeStrict decodes body into v: unknown members, wrong types and
// trailing data are errors.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return fmt.Errorf("member %s has the wrong type", te.Field)
		case errors.Is(err, io.EOF):
			return errors.New("the body is empty")
		}
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("the body has data after the JSON value")
	}
	return nil
}
