package passkey

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	iprotocol "github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// AssertionOptions implements the Service's passkey seam: the request
// options ({"publicKey": …}) of a step-up assertion over challenge — the
// Service's SHA-256 of the canonical passkey message, set with
// webauthn.WithChallenge — by one of creds.
func (p *Passkeys) AssertionOptions(_ context.Context, challenge []byte, creds []store.Credential) ([]byte, error) {
	descs := make([]protocol.CredentialDescriptor, 0, len(creds))
	for _, c := range creds {
		rec, err := decodeRecord(c)
		if err != nil {
			return nil, err
		}
		descs = append(descs, rec.Credential.Descriptor())
	}
	a, _, err := p.wa.BeginDiscoverableLogin(webauthn.WithChallenge(challenge), webauthn.WithAllowedCredentials(descs))
	if err != nil {
		return nil, fmt.Errorf("passkey: assertion options: %w", err)
	}
	return json.Marshal(a)
}

// VerifyAssertion implements the Service's passkey seam: it verifies
// response, the PublicKeyCredential JSON of a step-up assertion, over
// challenge with the one of creds that signed. The session is rebuilt from
// the arguments (challenge, RP ID, user verification, the signing
// credential), so nothing of the options call needs to be kept. A
// response that is not an AuthenticationResponseJSON go-webauthn can parse
// is seam.ErrMalformed, as in FinishLogin.
func (p *Passkeys) VerifyAssertion(_ context.Context, challenge []byte, creds []store.Credential, response []byte) (seam.Assertion, error) {
	parsed, err := parseAssertion(response)
	if err != nil {
		return seam.Assertion{}, fmt.Errorf("%w: not a valid PublicKeyCredential's JSON", seam.ErrMalformed)
	}
	id := seam.CredentialID(parsed.RawID)
	for _, c := range creds {
		if c.ID == id {
			session := webauthn.SessionData{
				Challenge:        base64.RawURLEncoding.EncodeToString(challenge),
				RelyingPartyID:   p.cfg.RPID,
				UserVerification: protocol.UserVerificationRequirement(p.cfg.UserVerification),
			}
			return p.verify(parsed, session, c, false)
		}
	}
	return seam.Assertion{}, errors.New("passkey: the credential is not one of the user's passkeys")
}

// verify checks parsed, an assertion by cred (a passkey from the store),
// against session. discoverable says the ceremony named no user: the
// assertion's user handle must then be cred's. The counter is not judged
// here: the Service's UsePasskey moves it forward atomically or reports a
// clone.
func (p *Passkeys) verify(parsed *protocol.ParsedCredentialAssertionData, session webauthn.SessionData, cred store.Credential, discoverable bool) (seam.Assertion, error) {
	rec, err := decodeRecord(cred)
	if err != nil {
		return seam.Assertion{}, err
	}
	if !bytes.Equal(rec.Credential.ID, parsed.RawID) {
		return seam.Assertion{}, errors.New("passkey: the credential record is of another passkey")
	}
	u := &user{handle: rec.UserHandle, creds: []webauthn.Credential{rec.webauthnCredential(cred)}}
	if discoverable {
		session.UserID = nil
		session.AllowedCredentialIDs = nil
		_, _, err = p.wa.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return u, nil }, session, parsed)
	} else {
		session.UserID = rec.UserHandle
		session.AllowedCredentialIDs = [][]byte{rec.Credential.ID}
		_, err = p.wa.ValidateLogin(u, session, parsed)
	}
	if err != nil {
		return seam.Assertion{}, err
	}
	ad := parsed.Response.AuthenticatorData
	return seam.Assertion{CredentialID: cred.ID, SignCount: ad.Counter, Flags: storeFlags(ad.Flags)}, nil
}

// parseAssertion strictly decodes an AuthenticationResponseJSON (what
// PublicKeyCredential.toJSON() gives for navigator.credentials.get) and
// parses it with go-webauthn. Its error means the body is malformed; the
// callers answer seam.ErrMalformed.
func parseAssertion(body []byte) (*protocol.ParsedCredentialAssertionData, error) {
	var shape authenticationResponseJSON
	if err := decodeStrict(body, &shape); err != nil {
		return nil, err
	}
	return protocol.ParseCredentialRequestResponseBytes(body)
}

// record is what the store keeps of a passkey (store.Credential.Passkey,
// as JSON): go-webauthn's credential record — public key, AAGUID,
// attestation type and format, transports, flags, the raw attestation —
// and the user handle the authenticator holds for it. The sign count and
// the current backup flags live in store.Credential, where UsePasskey
// moves them atomically.
type record struct {
	Version    int                 `json:"v"`
	UserHandle []byte              `json:"userHandle"`
	Credential webauthn.Credential `json:"credential"`
	// RawFlags is the authenticator data flags of the registration, which
	// go-webauthn's CredentialFlags does not marshal.
	RawFlags uint8 `json:"rawFlags"`
}

const recordVersion = 1

func newRecord(handle []byte, c *webauthn.Credential) record {
	return record{Version: recordVersion, UserHandle: handle, Credential: *c, RawFlags: uint8(c.Flags.ProtocolValue())}
}

func decodeRecord(c store.Credential) (record, error) {
	if c.Kind != store.KindPasskey {
		return record{}, fmt.Errorf("passkey: credential %s is not a passkey", c.ID)
	}
	var rec record
	if err := json.Unmarshal(c.Passkey, &rec); err != nil {
		return record{}, fmt.Errorf("passkey: credential %s: undecodable record: %w", c.ID, err)
	}
	if rec.Version != recordVersion || len(rec.Credential.ID) == 0 || len(rec.Credential.PublicKey) == 0 || len(rec.UserHandle) == 0 {
		return record{}, fmt.Errorf("passkey: credential %s: incomplete record", c.ID)
	}
	return rec, nil
}

// webauthnCredential is the record as go-webauthn verifies it, with the
// store's sign count and backup state (which change after registration).
func (rec record) webauthnCredential(c store.Credential) webauthn.Credential {
	wc := rec.Credential
	flags := protocol.AuthenticatorFlags(rec.RawFlags) &^ protocol.FlagBackupState
	if c.Flags&store.FlagBackupState != 0 {
		flags |= protocol.FlagBackupState
	}
	wc.Flags = webauthn.NewCredentialFlags(flags)
	wc.Authenticator.SignCount = c.SignCount
	return wc
}

// storeFlags maps authenticator data flags to the store's credential flags.
func storeFlags(f protocol.AuthenticatorFlags) uint32 {
	var out uint32
	if f.HasBackupEligible() {
		out |= store.FlagBackupEligible
	}
	if f.HasBackupState() {
		out |= store.FlagBackupState
	}
	return out
}

// userHandle is the WebAuthn user handle of userID: HMAC-SHA256 with a key
// derived from Config.Key over the framed label deviceauth/v1/passkey-user
// and the user ID. It is stable (one account per user on an
// authenticator), at most 64 bytes whatever the user ID's length, and
// reveals nothing of the user ID, which may be an email address or a
// username that the spec says must not be put in a user handle.
func (p *Passkeys) userHandle(userID string) []byte {
	m := hmac.New(sha256.New, p.handleKey)
	m.Write(iprotocol.Frame("deviceauth/v1/passkey-user", []byte(userID)))
	return m.Sum(nil)
}

// user is a webauthn.User for one ceremony.
type user struct {
	handle      []byte
	name        string
	displayName string
	creds       []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.handle }
func (u *user) WebAuthnName() string                       { return u.name }
func (u *user) WebAuthnDisplayName() string                { return u.displayName }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }
