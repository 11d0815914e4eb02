package deviceauth

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// Passkeys are credentials of kind passkey: the Service stores, lists and
// removes them like device keys, accepts them as a verification method
// (MethodPasskey), and serves their ceremonies — registration, sign-in and
// step-up — from Handler when Config.Passkeys is set. The WebAuthn part of
// each lives in package passkey (go-webauthn), so applications without
// passkeys never compile it; everything else — routes, ceremony state,
// cookies, input rules, rate limits, step-ups, events — is here, once.

// PasskeyVerifier is the WebAuthn verifier of Config.Passkeys. Package
// passkey implements it with go-webauthn (passkey.New); its methods are
// the module's own seam, not an API to implement elsewhere.
type PasskeyVerifier interface {
	seam.Passkeys
}

// Ceremony kinds, the Action of their records.
const (
	ceremonyRegistration = seam.CeremonyRegistration
	ceremonyLogin        = seam.CeremonyLogin
)

// ceremonyMethod marked the challenge records that held ceremony state
// before ceremonies had records of their own (store.Ceremony). Such records
// written by the previous release are never shown to devices and expire
// within Config.ChallengeTTL; the filters go in the release after.
const ceremonyMethod = "CEREMONY"

// ceremony is state kept in the store between the two halves of a
// ceremony: single use, bound to its user (if any) and kind, expiring with
// Config.ChallengeTTL.
type ceremony = store.Ceremony

// beginCeremony stores data for a ceremony of kind for userID ("" when
// nobody is known yet). firstDevice marks a registration begun without a
// step-up: it adds a passkey only while the user has no credential.
func (s *Service) beginCeremony(ctx context.Context, kind, userID string, data []byte, firstDevice bool) (ceremony, error) {
	now := s.now()
	id := "ce_" + protocol.NewID()
	if userID != "" {
		id = ids.NewUserID("ce", userID)
	}
	c := ceremony{ID: id, UserID: userID, Kind: kind, Data: data, FirstDevice: firstDevice,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.ChallengeTTL)}
	if err := s.store.(store.CeremonyStore).PutCeremony(ctx, c); err != nil {
		return ceremony{}, s.storeFailed(ctx, err)
	}
	return c, nil
}

// takeCeremony takes the state of ceremony id, which must be of kind and
// of userID (or of nobody, when userID is ""), exactly once: of racing
// calls one gets it, the others ErrNotFound, as for an unknown, expired or
// other user's ceremony (which is used up all the same: its ID is the
// secret of the browser that began it, which can begin another).
func (s *Service) takeCeremony(ctx context.Context, id, kind, userID string) (ceremony, error) {
	if !protocol.ValidID(id) {
		return ceremony{}, ErrNotFound
	}
	c, err := s.store.(store.CeremonyStore).TakeCeremony(ctx, id, s.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ceremony{}, ErrNotFound
	case err != nil:
		return ceremony{}, s.storeFailed(ctx, err)
	case c.Kind != kind || c.UserID != userID:
		return ceremony{}, ErrNotFound
	}
	return c, nil
}

// registrationState is what a passkey registration keeps: the name the
// user asked for and the verifier's state.
type registrationState struct {
	Name  string          `json:"name"`
	State json.RawMessage `json:"state"`
}

// beginPasskeyRegistration starts adding a passkey called name for userID
// under the rules of MintRegistrationToken: when the user already has a
// credential, stepUpToken must be an approved addAuthenticator challenge's
// token (it is consumed), else ErrStepUpRequired; begun without one, it
// adds a passkey only while the user still has no credential. It returns
// the creation options and the ceremony.
func (s *Service) beginPasskeyRegistration(ctx context.Context, userID, name, stepUpToken string) ([]byte, ceremony, error) {
	return s.beginPasskeyRegistrationWith(ctx, userID, name, func(creds []store.Credential) (bool, error) {
		if len(creds) > 0 {
			return false, s.stepUp(ctx, userID, ActionAddAuthenticator, stepUpToken, Details{})
		}
		return s.useEnrolmentGrantIfReset(ctx, userID, stepUpToken)
	})
}

// beginPasskeyRegistrationWith starts adding a passkey called name for
// userID once gate, given the user's credentials, allowed it: the step-up
// a user who has credentials needs, or (for a user without) whether an
// operator reset's grant was used (granted), which then pays for this
// ceremony only.
func (s *Service) beginPasskeyRegistrationWith(ctx context.Context, userID, name string, gate func(creds []store.Credential) (granted bool, err error)) ([]byte, ceremony, error) {
	if s.cfg.Passkeys == nil {
		return nil, ceremony{}, ErrNotFound.withMessage("passkeys are not configured")
	}
	if !validUserID(userID) {
		return nil, ceremony{}, ErrInvalidRequest.withMessage("userID must be 1 to 256 bytes of UTF-8")
	}
	if name == "" {
		name = "Passkey"
	}
	if !validName(name) {
		return nil, ceremony{}, ErrInvalidRequest.withMessage("name must be at most 64 bytes of printable UTF-8")
	}
	creds, err := s.store.ListCredentials(ctx, userID)
	if err != nil {
		return nil, ceremony{}, s.storeFailed(ctx, err)
	}
	granted, err := gate(creds)
	if err != nil {
		return nil, ceremony{}, err
	}
	opts, state, err := s.cfg.Passkeys.BeginRegistration(ctx, userID, passkeysIn(creds))
	if err != nil {
		return nil, ceremony{}, passkeyError(err, ErrUnavailable)
	}
	data, err := json.Marshal(registrationState{Name: name, State: state})
	if err != nil {
		return nil, ceremony{}, ErrUnavailable.with(err)
	}
	c, err := s.beginCeremony(ctx, ceremonyRegistration, userID, data, len(creds) == 0)
	if err == nil && granted {
		err = s.grantEnrolment(ctx, userID, c.ID)
	}
	return opts, c, err
}

// finishPasskeyRegistration verifies response for the registration
// ceremony id of userID and stores the passkey. Every failure to verify is
// ErrRegistrationFailed; a malformed response is ErrInvalidRequest and
// leaves the ceremony in place.
func (s *Service) finishPasskeyRegistration(ctx context.Context, id, userID string, response []byte, clientIP string) (Credential, error) {
	cred, err := s.finishPasskey(ctx, id, userID, response, clientIP)
	if err != nil {
		return Credential{}, err
	}
	return publicCredential(cred), nil
}

// finishPasskey is finishPasskeyRegistration, with the stored passkey.
func (s *Service) finishPasskey(ctx context.Context, id, userID string, response []byte, clientIP string) (store.Credential, error) {
	var c ceremony
	var reg registrationState
	p, err := s.cfg.Passkeys.FinishRegistration(ctx, response, func() ([]byte, error) {
		var err error
		if c, err = s.takeCeremony(ctx, id, ceremonyRegistration, userID); err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, ErrRegistrationFailed.withMessage("no passkey registration is in progress for this user: start again")
			}
			return nil, err
		}
		if err := json.Unmarshal(c.Data, &reg); err != nil {
			return nil, ErrUnavailable.with(err)
		}
		return reg.State, nil
	})
	if err != nil {
		return store.Credential{}, passkeyError(err, ErrRegistrationFailed.withMessage("the passkey could not be verified"))
	}
	if len(p.RawID) == 0 || len(p.RawID) > 1023 {
		return store.Credential{}, ErrRegistrationFailed.withMessage("a passkey ID is 1 to 1023 bytes")
	}
	now := s.now()
	cred := store.Credential{
		ID: seam.CredentialID(p.RawID), UserID: userID, Kind: store.KindPasskey, Name: reg.Name, Platform: "passkey",
		CreatedAt: now, SignCount: p.SignCount, Flags: p.Flags, Passkey: p.Data,
	}
	limit := s.cfg.MaxCredentialsPerUser
	if c.FirstDevice {
		limit = 1 // as Register does for a first-device token
	}
	// After an operator reset, only the ceremony its grant paid for.
	allowed, resetLocked, err := s.enrolmentAllowed(ctx, userID, c.ID)
	if err != nil {
		return store.Credential{}, err
	}
	if !allowed {
		s.emit(ctx, event.Event{Type: event.RegistrationRefused, UserID: userID, ClientIP: clientIP, Reason: "reset"})
		return store.Credential{}, ErrRegistrationFailed
	}
	switch err := s.store.CreateCredential(ctx, cred, limit); {
	case errors.Is(err, store.ErrLimit) && c.FirstDevice:
		s.emit(ctx, event.Event{Type: event.RegistrationRefused, UserID: userID, ClientIP: clientIP, Reason: "not_first_device"})
		return store.Credential{}, ErrRegistrationFailed.with(err)
	case errors.Is(err, store.ErrLimit):
		return store.Credential{}, ErrCredentialLimit.with(err)
	case errors.Is(err, store.ErrConflict):
		return store.Credential{}, ErrRegistrationFailed.with(err).withMessage("this passkey is already registered")
	case err != nil:
		return store.Credential{}, s.storeFailed(ctx, err)
	}
	if resetLocked {
		s.clearResetLock(ctx, userID)
	}
	s.emit(ctx, event.Event{Type: event.CredentialRegistered, UserID: userID, CredentialID: cred.ID, ClientIP: clientIP, Reason: "passkey"})
	s.notifyNewCredential(ctx, cred)
	return cred, nil
}

// beginPasskeyLogin starts a sign-in: discoverable for username "",
// username-first otherwise. Anyone may begin one, and each is written to
// the store: the caller counts it against RateLimits.Ceremonies first.
func (s *Service) beginPasskeyLogin(ctx context.Context, username string) ([]byte, ceremony, error) {
	opts, state, err := s.cfg.Passkeys.BeginLogin(ctx, username, s.passkeysOf)
	if err != nil {
		return nil, ceremony{}, passkeyError(err, ErrUnavailable)
	}
	c, err := s.beginCeremony(ctx, ceremonyLogin, "", state, false)
	return opts, c, err
}

// finishPasskeyLogin verifies response for sign-in ceremony id and records
// the passkey's use; it returns the passkey. Every failure — no such
// ceremony, an unknown or removed passkey, a wrong challenge, origin, RP
// ID, user handle or signature — is the same errPasskeyAssertion; a
// counter that went backwards is errPasskeyClone (with an event). A
// malformed response is ErrInvalidRequest and leaves the ceremony in
// place.
func (s *Service) finishPasskeyLogin(ctx context.Context, id string, response []byte) (store.Credential, error) {
	var cred store.Credential
	a, err := s.cfg.Passkeys.FinishLogin(ctx, response, func() ([]byte, error) {
		c, err := s.takeCeremony(ctx, id, ceremonyLogin, "")
		if errors.Is(err, ErrNotFound) {
			return nil, errPasskeyAssertion.with(errors.New("no such sign-in ceremony"))
		}
		return c.Data, err
	}, func(ctx context.Context, credentialID string) (store.Credential, error) {
		var err error
		cred, err = s.passkey(ctx, credentialID)
		if errors.Is(err, ErrNotFound) {
			return store.Credential{}, errPasskeyAssertion.with(errors.New("unknown passkey"))
		}
		return cred, err
	})
	if err != nil {
		return store.Credential{}, passkeyError(err, errPasskeyAssertion)
	}
	switch err := s.usePasskey(ctx, cred.UserID, a.CredentialID, a.SignCount, a.Flags); {
	case errors.Is(err, ErrNotFound): // removed since it was read
		return store.Credential{}, errPasskeyAssertion.with(err)
	case err != nil:
		return store.Credential{}, err
	}
	return cred, nil
}

// passkeyError maps an error of the verifier: a malformed response is
// ErrInvalidRequest, a failing verifier ErrUnavailable, the Service's own
// errors (from the callbacks) stay as they are, and anything else — a
// response that does not verify — is refusal, with err as its cause.
func passkeyError(err error, refusal interface{ with(error) *Error }) error {
	var e *Error
	switch {
	case errors.Is(err, seam.ErrMalformed):
		return ErrInvalidRequest.with(err).withMessage("the body is not a valid PublicKeyCredential's JSON")
	case errors.Is(err, seam.ErrUnavailable):
		return ErrUnavailable.with(err)
	case errors.As(err, &e):
		return err
	}
	return refusal.with(err)
}

// passkeysIn returns the passkeys among creds.
func passkeysIn(creds []store.Credential) []store.Credential {
	out := []store.Credential{}
	for _, c := range creds {
		if c.Kind == store.KindPasskey {
			out = append(out, c)
		}
	}
	return out
}

// passkeysOf lists userID's passkeys (empty, not nil).
func (s *Service) passkeysOf(ctx context.Context, userID string) ([]store.Credential, error) {
	creds, err := s.store.ListCredentials(ctx, userID)
	if err != nil {
		return nil, s.storeFailed(ctx, err)
	}
	return passkeysIn(creds), nil
}

// passkey returns the passkey with the given credential ID;
// ErrNotFound otherwise.
func (s *Service) passkey(ctx context.Context, credentialID string) (store.Credential, error) {
	if !protocol.ValidID(credentialID) {
		return store.Credential{}, ErrNotFound
	}
	c, err := s.store.GetCredential(ctx, credentialID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Kind != store.KindPasskey) {
		return store.Credential{}, ErrNotFound
	}
	if err != nil {
		return store.Credential{}, s.storeFailed(ctx, err)
	}
	return c, nil
}

// usePasskey records a verified use of userID's passkey credentialID: the
// new sign count (which must move forward, unless both old and new are 0,
// as synced passkeys report), the flags, and the time. A counter that went
// backwards emits event.PasskeyClone, marks the credential with
// store.FlagCloneWarning (Credential.CloneWarning) and is errPasskeyClone:
// refuse the sign-in. A removed passkey is ErrNotFound.
func (s *Service) usePasskey(ctx context.Context, userID, credentialID string, signCount, flags uint32) error {
	cur, err := s.store.GetCredential(ctx, credentialID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && cur.UserID != userID):
		return ErrNotFound
	case err != nil:
		return s.storeFailed(ctx, err)
	}
	flags = flags&^store.FlagCloneWarning | cur.Flags&store.FlagCloneWarning // the warning stays
	_, err = s.store.UpdateCredential(ctx, userID, credentialID, store.CredentialUpdate{
		SignCount: &signCount, Flags: &flags, LastUsedAt: s.now(),
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		s.emit(ctx, event.Event{Type: event.PasskeyClone, UserID: userID, CredentialID: credentialID})
		s.markClone(ctx, userID, credentialID)
		return errPasskeyClone
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	case err != nil:
		return s.storeFailed(ctx, err)
	}
	return nil
}

// markClone keeps the clone warning on the credential for the user to see.
func (s *Service) markClone(ctx context.Context, userID, credentialID string) {
	c, err := s.store.GetCredential(ctx, credentialID)
	if err == nil && c.UserID == userID {
		flags := c.Flags | store.FlagCloneWarning
		_, err = s.store.UpdateCredential(ctx, userID, credentialID, store.CredentialUpdate{Flags: &flags})
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.storeFailed(ctx, err)
	}
}

// passkeyStepUp returns userID's pending challenge id that a passkey may
// answer, its WebAuthn challenge and the user's passkeys.
func (s *Service) passkeyStepUp(ctx context.Context, userID, id string) (store.Challenge, []byte, []store.Credential, error) {
	if s.cfg.Passkeys == nil {
		return store.Challenge{}, nil, nil, ErrNotFound.withMessage("passkeys are not configured")
	}
	if !protocol.ValidID(id) {
		return store.Challenge{}, nil, nil, ErrNotFound
	}
	ch, err := s.store.GetChallenge(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && (ch.UserID != userID || ch.Method == ceremonyMethod)) {
		return store.Challenge{}, nil, nil, ErrNotFound
	}
	if err != nil {
		return store.Challenge{}, nil, nil, s.storeFailed(ctx, err)
	}
	if ch.State != store.StatePending {
		return store.Challenge{}, nil, nil, ErrChallengeClosed.withState(string(ch.State))
	}
	if !slices.Contains(ch.Methods, string(MethodPasskey)) {
		return store.Challenge{}, nil, nil, ErrInvalidRequest.withMessage("this challenge does not offer the PASSKEY method")
	}
	if ch.AttestationRequired != "" {
		// Passkeys are never attested (docs/attestation.md): such a
		// challenge does not offer them, whatever its methods say.
		return store.Challenge{}, nil, nil, ErrInvalidRequest.withMessage("this challenge requires an attested device key; passkeys are never attested")
	}
	creds, err := s.passkeysOf(ctx, userID)
	if err != nil {
		return store.Challenge{}, nil, nil, err
	}
	if len(creds) == 0 {
		return store.Challenge{}, nil, nil, ErrNotFound.withMessage("the user has no passkey")
	}
	wc := protocol.PasskeyChallenge(ch.ID, ch.Nonce, ch.Action, ch.DetailsDigest)
	return ch, wc[:], creds, nil
}

// passkeyOptions returns the WebAuthn request options with which userID's
// browser answers challenge id with a passkey. The WebAuthn challenge is
// SHA-256 of the canonical passkey message (framed as in docs/protocol.md:
// challenge ID, nonce, action, details digest), so the assertion is bound
// to the action and its details.
func (s *Service) passkeyOptions(ctx context.Context, userID, id string) ([]byte, error) {
	_, wc, creds, err := s.passkeyStepUp(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	opts, err := s.cfg.Passkeys.AssertionOptions(ctx, wc, creds)
	if err != nil {
		return nil, ErrUnavailable.with(err)
	}
	return opts, nil
}

// respondPasskey approves challenge id of userID with a passkey assertion
// (approve only). The assertion must verify over the challenge's own
// WebAuthn challenge with one of the user's passkeys, whose counter must
// move forward. A malformed response is ErrInvalidRequest, one that does
// not verify errPasskeyAssertion; a challenge that is no longer pending is
// ErrChallengeClosed with its state.
func (s *Service) respondPasskey(ctx context.Context, userID, id string, response []byte, clientIP string) (AnswerResult, error) {
	ch, wc, creds, err := s.passkeyStepUp(ctx, userID, id)
	if err != nil {
		return AnswerResult{}, err
	}
	a, err := s.cfg.Passkeys.VerifyAssertion(ctx, wc, creds, response)
	if err != nil {
		err = passkeyError(err, errPasskeyAssertion)
		if errors.Is(err, errPasskeyAssertion) {
			s.emit(ctx, event.Event{Type: event.SignatureRejected, UserID: userID, ChallengeID: id, ClientIP: clientIP, Reason: "passkey"})
		}
		return AnswerResult{}, err
	}
	if !slices.ContainsFunc(creds, func(c store.Credential) bool { return c.ID == a.CredentialID }) {
		return AnswerResult{}, errPasskeyAssertion
	}
	if err := s.usePasskey(ctx, userID, a.CredentialID, a.SignCount, a.Flags); err != nil {
		if errors.Is(err, ErrNotFound) {
			return AnswerResult{}, errPasskeyAssertion
		}
		return AnswerResult{}, err
	}
	now := s.now()
	next, err := s.store.TransitionChallenge(ctx, id, store.Transition{
		From: store.StatePending, To: store.StateApproved, UserID: userID, CredentialID: a.CredentialID, AnsweredAt: now,
	}, now)
	if errors.Is(err, store.ErrConflict) {
		return AnswerResult{}, s.challengeClosed(ctx, id, now)
	}
	if err != nil {
		return AnswerResult{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.ChallengeApproved, UserID: userID, CredentialID: a.CredentialID, ChallengeID: id, Action: ch.Action, Reason: "passkey"})
	return AnswerResult{ChallengeID: id, State: string(next.State)}, nil
}
