package passkey

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/deviceauth/deviceauth"
)

// Ceremonies runs the WebAuthn registration and sign-in ceremonies of
// Passkeys for a Service, without HTTP: Handler parses requests and calls
// it, and tests call it directly. Ceremony state lives in the Service's
// store (BeginCeremony, FinishCeremony): single use, expiring, bound to
// its user where there is one.
type Ceremonies struct {
	p   *Passkeys
	svc *deviceauth.Service
}

// Ceremonies returns the ceremonies of p for svc, whose Config.Passkeys
// should be p (for passkey step-up).
func (p *Passkeys) Ceremonies(svc *deviceauth.Service) *Ceremonies {
	if svc == nil {
		panic("passkey: Ceremonies needs a Service")
	}
	return &Ceremonies{p: p, svc: svc}
}

// Options is the first half of a ceremony: the options for the browser and
// the ceremony that the browser's answer must name (Handler keeps its ID in
// an HttpOnly cookie).
type Options struct {
	CeremonyID string
	ExpiresAt  time.Time
	// JSON is go-webauthn's {"publicKey": …} creation or request options,
	// binary members as base64url.
	JSON []byte
}

// SignedIn is the result of a passkey sign-in.
type SignedIn struct {
	UserID       string `json:"userId"`
	CredentialID string `json:"credentialId"`
}

// registrationState is the ceremony state of a registration.
type registrationState struct {
	Session webauthn.SessionData `json:"session"`
	Name    string               `json:"name"`
}

// loginState is the ceremony state of a sign-in.
type loginState struct {
	Session webauthn.SessionData `json:"session"`
	// UsernameFirst marks a username-first sign-in, for UserID ("" when the
	// username named nobody: no passkey can then finish it).
	UsernameFirst bool   `json:"usernameFirst,omitempty"`
	UserID        string `json:"userId,omitempty"`
}

// defaultName is the name of a passkey registered without one.
const defaultName = "Passkey"

// BeginRegistration starts adding a passkey called name (default
// "Passkey") for userID, the signed-in user. When the user already has a
// credential, stepUpToken must be the token of an approved
// addAuthenticator challenge, else the error is deviceauth.ErrStepUpRequired
// (a stolen session alone cannot add one). The options exclude the user's passkeys, so an
// authenticator that holds one does not register twice.
func (c *Ceremonies) BeginRegistration(ctx context.Context, userID, name, stepUpToken string) (Options, error) {
	if name == "" {
		name = defaultName
	}
	if len(name) > 64 || !printable(name) {
		return Options{}, invalidRequest("name must be at most 64 bytes of printable UTF-8")
	}
	existing, err := c.svc.Passkeys(ctx, userID)
	if err != nil {
		return Options{}, err
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(existing))
	for _, e := range existing {
		if rec, err := decodeRecord(e); err == nil {
			exclude = append(exclude, rec.Credential.Descriptor())
		}
	}
	uname, dname, err := c.p.cfg.UserNames(ctx, userID)
	if err != nil {
		return Options{}, unavailable(fmt.Errorf("passkey: Config.UserNames: %w", err))
	}
	if uname == "" {
		uname = userID
	}
	if dname == "" {
		dname = uname
	}
	u := &user{handle: c.p.userHandle(userID), name: uname, displayName: dname}
	creation, session, err := c.p.wa.BeginRegistration(u, webauthn.WithExclusions(exclude),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()))
	if err != nil {
		return Options{}, unavailable(fmt.Errorf("passkey: begin registration: %w", err))
	}
	return c.begin(creation, registrationState{Session: *session, Name: name}, func(data []byte) (deviceauth.Ceremony, error) {
		return c.svc.BeginPasskeyRegistration(ctx, userID, stepUpToken, data)
	})
}

// FinishRegistration verifies response, the browser's
// PublicKeyCredential JSON for ceremony ceremonyID, which must be a
// registration of userID, and stores the passkey. Every failure to verify
// is deviceauth.ErrRegistrationFailed; a malformed response is
// deviceauth.ErrInvalidRequest and leaves the ceremony in place.
func (c *Ceremonies) FinishRegistration(ctx context.Context, ceremonyID, userID string, response []byte, clientIP string) (deviceauth.Credential, error) {
	var shape registrationResponseJSON
	if err := decodeStrict(response, &shape); err != nil {
		return deviceauth.Credential{}, invalidRequest("the body is not a PublicKeyCredential's JSON: " + err.Error())
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return deviceauth.Credential{}, invalidRequest("the body is not a valid registration response")
	}
	cer, err := c.svc.FinishCeremony(ctx, ceremonyID, deviceauth.CeremonyPasskeyRegistration, userID)
	if errors.Is(err, deviceauth.ErrNotFound) {
		return deviceauth.Credential{}, registrationError(err, "no passkey registration is in progress for this user: start again")
	}
	if err != nil {
		return deviceauth.Credential{}, err
	}
	var st registrationState
	if err := json.Unmarshal(cer.Data, &st); err != nil {
		return deviceauth.Credential{}, unavailable(fmt.Errorf("passkey: registration state: %w", err))
	}
	cred, err := c.p.wa.CreateCredential(&user{handle: st.Session.UserID}, st.Session, parsed)
	if err != nil {
		return deviceauth.Credential{}, registrationError(err, "the passkey could not be verified")
	}
	blob, err := json.Marshal(newRecord(st.Session.UserID, cred))
	if err != nil {
		return deviceauth.Credential{}, unavailable(err)
	}
	return c.svc.AddPasskey(ctx, cer, deviceauth.PasskeyRegistration{
		RawID: cred.ID, Name: st.Name, SignCount: cred.Authenticator.SignCount,
		Flags: storeFlags(cred.Flags.ProtocolValue()), Data: blob, ClientIP: clientIP,
	})
}

// BeginLogin starts a sign-in. With username "" it is discoverable
// (usernameless): the browser offers the passkeys it holds for the RP ID.
// With a username it lists Config.AllowCredentials credentials: the user's
// passkeys padded with decoys, or decoys only for an unknown username — the
// same calls, the same shape, so the answer does not tell whether the
// account exists.
func (c *Ceremonies) BeginLogin(ctx context.Context, username string) (Options, error) {
	var st loginState
	var opts []webauthn.LoginOption
	if username != "" {
		if len(username) > 256 || !utf8.ValidString(username) {
			return Options{}, invalidRequest("username must be at most 256 bytes of UTF-8")
		}
		userID, err := c.p.cfg.LookupUsername(ctx, username)
		if err != nil {
			return Options{}, unavailable(fmt.Errorf("passkey: Config.LookupUsername: %w", err))
		}
		// For an unknown username userID is "", which has no credentials:
		// the store is asked all the same.
		creds, err := c.svc.Passkeys(ctx, userID)
		if err != nil {
			return Options{}, err
		}
		list, err := c.p.allowList(username, creds)
		if err != nil {
			return Options{}, unavailable(err)
		}
		opts = append(opts, webauthn.WithAllowedCredentials(list))
		st.UsernameFirst, st.UserID = true, userID
	}
	assertion, session, err := c.p.wa.BeginDiscoverableLogin(opts...)
	if err != nil {
		return Options{}, unavailable(fmt.Errorf("passkey: begin sign-in: %w", err))
	}
	st.Session = *session
	return c.begin(assertion, st, func(data []byte) (deviceauth.Ceremony, error) {
		return c.svc.BeginCeremony(ctx, deviceauth.CeremonyPasskeyLogin, "", data)
	})
}

// FinishLogin verifies response, the browser's PublicKeyCredential JSON
// for sign-in ceremony ceremonyID, and records the passkey's use. The
// passkey is found by its credential ID; in a username-first sign-in it
// must be one of the named user's. Every failure — no such ceremony, an
// unknown or removed passkey, a wrong challenge, origin, RP ID, user handle
// or signature — is the same deviceauth.ErrPasskeyAssertion; a counter that
// went backwards is deviceauth.ErrPasskeyClone (with an event). A
// malformed response is deviceauth.ErrInvalidRequest and leaves the
// ceremony in place. The caller signs the user in.
func (c *Ceremonies) FinishLogin(ctx context.Context, ceremonyID string, response []byte) (SignedIn, error) {
	parsed, err := parseAssertion(response)
	if err != nil {
		return SignedIn{}, invalidRequest("the body is not a valid PublicKeyCredential's JSON")
	}
	cer, err := c.svc.FinishCeremony(ctx, ceremonyID, deviceauth.CeremonyPasskeyLogin, "")
	if errors.Is(err, deviceauth.ErrNotFound) {
		return SignedIn{}, assertionError(errors.New("no such sign-in ceremony"))
	}
	if err != nil {
		return SignedIn{}, err
	}
	var st loginState
	if err := json.Unmarshal(cer.Data, &st); err != nil {
		return SignedIn{}, unavailable(fmt.Errorf("passkey: sign-in state: %w", err))
	}
	cred, err := c.svc.Passkey(ctx, deviceauth.PasskeyCredentialID(parsed.RawID))
	if errors.Is(err, deviceauth.ErrNotFound) {
		return SignedIn{}, assertionError(errors.New("unknown passkey"))
	}
	if err != nil {
		return SignedIn{}, err
	}
	if st.UsernameFirst && (st.UserID == "" || cred.UserID != st.UserID ||
		!slices.ContainsFunc(st.Session.AllowedCredentialIDs, func(id []byte) bool { return bytes.Equal(id, parsed.RawID) })) {
		return SignedIn{}, assertionError(errors.New("not a passkey of the named user"))
	}
	a, err := c.p.verify(parsed, st.Session, cred, !st.UsernameFirst)
	if err != nil {
		return SignedIn{}, err
	}
	switch err := c.svc.UsePasskey(ctx, cred.UserID, cred.ID, a.SignCount, a.Flags); {
	case errors.Is(err, deviceauth.ErrNotFound): // removed since it was read
		return SignedIn{}, assertionError(err)
	case err != nil:
		return SignedIn{}, err
	}
	return SignedIn{UserID: cred.UserID, CredentialID: cred.ID}, nil
}

// begin stores state as the ceremony's data with start and returns the
// options with the ceremony.
func (c *Ceremonies) begin(options any, state any, start func(data []byte) (deviceauth.Ceremony, error)) (Options, error) {
	data, err := json.Marshal(state)
	if err != nil {
		return Options{}, unavailable(err)
	}
	body, err := json.Marshal(options)
	if err != nil {
		return Options{}, unavailable(err)
	}
	cer, err := start(data)
	if err != nil {
		return Options{}, err
	}
	return Options{CeremonyID: cer.ID, ExpiresAt: cer.ExpiresAt, JSON: body}, nil
}

// Errors built from the Service's sentinels, so errors.Is matches them and
// the endpoints answer with their status and code.

func invalidRequest(msg string) error {
	e := *deviceauth.ErrInvalidRequest
	e.Message = msg
	return &e
}

func registrationError(cause error, msg string) error {
	e := *deviceauth.ErrRegistrationFailed
	e.Message, e.Err = msg, cause
	return &e
}

func unavailable(cause error) error {
	e := *deviceauth.ErrUnavailable
	e.Err = cause
	return &e
}
