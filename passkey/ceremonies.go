package passkey

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// The ceremonies, as the Service drives them: it serves the endpoints,
// keeps each ceremony's state in its store (single use, expiring, bound to
// its user where there is one) and hands it back here to verify.

var _ seam.Passkeys = (*Passkeys)(nil)

// loginState is the ceremony state of a sign-in.
type loginState struct {
	Session webauthn.SessionData `json:"session"`
	// UsernameFirst marks a username-first sign-in, for UserID ("" when the
	// username named nobody: no passkey can then finish it).
	UsernameFirst bool   `json:"usernameFirst,omitempty"`
	UserID        string `json:"userId,omitempty"`
}

// BeginRegistration implements the Service's passkey seam: the creation
// options for a passkey of userID, excluding the authenticators that hold
// one of existing, so that none registers twice.
func (p *Passkeys) BeginRegistration(ctx context.Context, userID string, existing []store.Credential) ([]byte, []byte, error) {
	exclude := make([]protocol.CredentialDescriptor, 0, len(existing))
	for _, e := range existing {
		if rec, err := decodeRecord(e); err == nil {
			exclude = append(exclude, rec.Credential.Descriptor())
		}
	}
	uname, dname, err := p.cfg.UserNames(ctx, userID)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: Config.UserNames: %w", seam.ErrUnavailable, err)
	}
	if uname == "" {
		uname = userID
	}
	if dname == "" {
		dname = uname
	}
	u := &user{handle: p.userHandle(userID), name: uname, displayName: dname}
	creation, session, err := p.wa.BeginRegistration(u, webauthn.WithExclusions(exclude),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: begin registration: %w", seam.ErrUnavailable, err)
	}
	return marshalBoth(creation, session)
}

// FinishRegistration implements the Service's passkey seam: it verifies
// response (attestation, origin, RP ID, challenge, user presence and
// verification) against the registration state take returns.
func (p *Passkeys) FinishRegistration(_ context.Context, response []byte, take func() ([]byte, error)) (seam.NewPasskey, error) {
	var shape registrationResponseJSON
	if err := decodeStrict(response, &shape); err != nil {
		return seam.NewPasskey{}, fmt.Errorf("%w: %w", seam.ErrMalformed, err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return seam.NewPasskey{}, fmt.Errorf("%w: not a valid registration response", seam.ErrMalformed)
	}
	state, err := take()
	if err != nil {
		return seam.NewPasskey{}, err
	}
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return seam.NewPasskey{}, fmt.Errorf("%w: registration state: %w", seam.ErrUnavailable, err)
	}
	cred, err := p.wa.CreateCredential(&user{handle: session.UserID}, session, parsed)
	if err != nil {
		return seam.NewPasskey{}, err
	}
	blob, err := json.Marshal(newRecord(session.UserID, cred))
	if err != nil {
		return seam.NewPasskey{}, fmt.Errorf("%w: %w", seam.ErrUnavailable, err)
	}
	return seam.NewPasskey{RawID: cred.ID, SignCount: cred.Authenticator.SignCount,
		Flags: storeFlags(cred.Flags.ProtocolValue()), Data: blob}, nil
}

// BeginLogin implements the Service's passkey seam. With username "" the
// sign-in is discoverable (usernameless): the browser offers the passkeys
// it holds for the RP ID. With a username it lists Config.AllowCredentials
// credentials: the user's passkeys padded with decoys, or decoys only for
// an unknown username — the same calls, the same shape, so the answer does
// not tell whether the account exists.
func (p *Passkeys) BeginLogin(ctx context.Context, username string, passkeysOf func(context.Context, string) ([]store.Credential, error)) ([]byte, []byte, error) {
	var st loginState
	var opts []webauthn.LoginOption
	if username != "" {
		if len(username) > 256 || !utf8.ValidString(username) {
			return nil, nil, fmt.Errorf("%w: username must be at most 256 bytes of UTF-8", seam.ErrMalformed)
		}
		userID, err := p.cfg.LookupUsername(ctx, username)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: Config.LookupUsername: %w", seam.ErrUnavailable, err)
		}
		// For an unknown username userID is "", which has no credentials:
		// the store is asked all the same.
		creds, err := passkeysOf(ctx, userID)
		if err != nil {
			return nil, nil, err
		}
		list, err := p.allowList(username, creds)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", seam.ErrUnavailable, err)
		}
		opts = append(opts, webauthn.WithAllowedCredentials(list))
		st.UsernameFirst, st.UserID = true, userID
	}
	assertion, session, err := p.wa.BeginDiscoverableLogin(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: begin sign-in: %w", seam.ErrUnavailable, err)
	}
	st.Session = *session
	return marshalBoth(assertion, st)
}

// FinishLogin implements the Service's passkey seam. The passkey is found
// by its credential ID; in a username-first sign-in it must be one of the
// named user's, and in a discoverable one the assertion's user handle must
// be the one stored with it. The counter is not judged here: the Service
// moves it forward atomically or reports a clone.
func (p *Passkeys) FinishLogin(ctx context.Context, response []byte, take func() ([]byte, error), lookup func(context.Context, string) (store.Credential, error)) (seam.Assertion, error) {
	parsed, err := parseAssertion(response)
	if err != nil {
		return seam.Assertion{}, fmt.Errorf("%w: not a valid PublicKeyCredential's JSON", seam.ErrMalformed)
	}
	state, err := take()
	if err != nil {
		return seam.Assertion{}, err
	}
	var st loginState
	if err := json.Unmarshal(state, &st); err != nil {
		return seam.Assertion{}, fmt.Errorf("%w: sign-in state: %w", seam.ErrUnavailable, err)
	}
	cred, err := lookup(ctx, seam.CredentialID(parsed.RawID))
	if err != nil {
		return seam.Assertion{}, err
	}
	if st.UsernameFirst && (st.UserID == "" || cred.UserID != st.UserID ||
		!slices.ContainsFunc(st.Session.AllowedCredentialIDs, func(id []byte) bool { return bytes.Equal(id, parsed.RawID) })) {
		return seam.Assertion{}, errors.New("passkey: not a passkey of the named user")
	}
	return p.verify(parsed, st.Session, cred, !st.UsernameFirst)
}

// Timeouts implements the Service's passkey seam: Config.RegistrationTimeout
// and Config.LoginTimeout.
func (p *Passkeys) Timeouts() (registration, login time.Duration) {
	return p.cfg.RegistrationTimeout, p.cfg.LoginTimeout
}

// browserScript is passkey.js: the browser side of the ceremonies and of
// passkey step-up.
//
//go:embed passkey.js
var browserScript []byte

// Script implements the Service's passkey seam: passkey.js, which defines
// DeviceAuth.passkey.register, signIn, signInWithUsername and stepUp.
func (p *Passkeys) Script() []byte { return browserScript }

// marshalBoth returns the JSON of the browser's options and of the state.
func marshalBoth(options, state any) ([]byte, []byte, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", seam.ErrUnavailable, err)
	}
	s, err := json.Marshal(state)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", seam.ErrUnavailable, err)
	}
	return o, s, nil
}
