package deviceauth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// Passkeys are credentials of kind passkey: the Service stores, lists and
// removes them like device keys, and accepts them as a verification method
// (MethodPasskey). The WebAuthn ceremonies themselves live in package
// passkey (go-webauthn), so applications without passkeys never compile
// it; it plugs in through Config.Passkeys and the primitives below.

// PasskeyVerifier checks WebAuthn assertions for passkey step-up. Package
// passkey implements it.
type PasskeyVerifier interface {
	// AssertionOptions returns the JSON of the credential request options
	// (go-webauthn's {"publicKey": …}) for an assertion over challenge by
	// one of creds.
	AssertionOptions(ctx context.Context, challenge []byte, creds []store.Credential) ([]byte, error)
	// VerifyAssertion verifies response, a PublicKeyCredential as the
	// browser's toJSON() gives it, for challenge against creds, and reports
	// which credential signed with its new sign count and flags. A response
	// that is malformed (not such JSON, or not parseable as an assertion)
	// is an error wrapping ErrInvalidRequest; any other error means that it
	// does not verify (RespondPasskey answers ErrPasskeyAssertion).
	VerifyAssertion(ctx context.Context, r *http.Request, challenge []byte, creds []store.Credential, response []byte) (PasskeyAssertion, error)
}

// PasskeyAssertion is a verified assertion.
type PasskeyAssertion struct {
	CredentialID string // the credential that signed (a PasskeyCredentialID)
	SignCount    uint32
	Flags        uint32 // store.FlagBackupEligible, store.FlagBackupState
}

// Errors of passkey operations.
var (
	// ErrPasskeyAssertion: the assertion does not verify (wrong challenge,
	// origin, RP ID, signature, user presence or verification).
	ErrPasskeyAssertion = &Error{Code: "invalid_assertion", Status: http.StatusForbidden, Message: "the passkey assertion is not valid"}
	// ErrPasskeyClone: the authenticator's signature counter went backwards,
	// a sign that the passkey was cloned; the sign-in is refused.
	ErrPasskeyClone = &Error{Code: "passkey_clone", Status: http.StatusForbidden, Message: "the passkey's signature counter went backwards"}
	// ErrPasskeysNotConfigured: Config.Passkeys is not set.
	ErrPasskeysNotConfigured = &Error{Code: "not_found", Status: http.StatusNotFound, Message: "passkeys are not configured"}
)

// PasskeyCredentialID is the credential ID of the passkey whose WebAuthn
// raw ID is rawID: "pk_" and the base64url SHA-256 of it, so any raw ID
// length fits the ID rules and a passkey is found from its assertion.
func PasskeyCredentialID(rawID []byte) string {
	h := sha256.Sum256(rawID)
	return "pk_" + protocol.EncodeBase64(h[:])
}

// Ceremony is state kept in the store between the two halves of a
// ceremony (a WebAuthn registration or sign-in): single use, bound to its
// user (if any) and kind, expiring with Config.ChallengeTTL.
type Ceremony struct {
	ID        string
	Kind      string // e.g. "passkey.register", "passkey.login"
	UserID    string // "" for a ceremony without a known user
	Data      []byte // the caller's state (go-webauthn session data)
	ExpiresAt time.Time
	finished  bool // set by FinishCeremony: only a finished ceremony grants anything
	// firstDevice: a passkey registration begun without a step-up (the user
	// had no credential) adds a passkey only while the user has none.
	firstDevice bool
}

// LimitCeremonies counts a ceremony begun by the client at ip against
// RateLimits.Ceremonies; over the limit it is ErrRateLimited. Call it
// before BeginCeremony for anonymous ceremonies, which otherwise let anyone
// write to the store.
func (s *Service) LimitCeremonies(ctx context.Context, ip netip.Addr) error {
	return s.limitIP(ctx, "ceremony", ip, s.cfg.RateLimits.Ceremonies)
}

// Ceremony kinds the Service itself knows.
const (
	CeremonyPasskeyRegistration = "passkey.register"
	CeremonyPasskeyLogin        = "passkey.login"
)

// ceremonyMethod marks challenge records that hold ceremony state; they
// are never shown to devices.
const ceremonyMethod = "CEREMONY"

// firstDeviceMethod, among a ceremony record's methods, marks a passkey
// registration begun without a step-up.
const firstDeviceMethod = "FIRST_DEVICE"

// BeginCeremony stores data for a ceremony of kind for userID ("" when
// nobody is known yet) and returns its ID, to be kept by the browser in
// an HttpOnly cookie.
func (s *Service) BeginCeremony(ctx context.Context, kind, userID string, data []byte) (Ceremony, error) {
	return s.beginCeremony(ctx, kind, userID, data, false)
}

func (s *Service) beginCeremony(ctx context.Context, kind, userID string, data []byte, firstDevice bool) (Ceremony, error) {
	if !protocol.ValidAction(kind) {
		return Ceremony{}, ErrInvalidRequest.withMessage("a ceremony kind is 1 to 64 characters of [A-Za-z0-9_.:-]")
	}
	now := s.now()
	id := "ce_" + protocol.NewID()
	if userID != "" {
		id = ids.NewUserID("ce", userID)
	}
	ch := store.Challenge{
		ID: id, UserID: userID, Action: kind, State: store.StateUnclaimed, Method: ceremonyMethod,
		Methods: []string{ceremonyMethod}, Nonce: newNonce(), Passkey: data, CreatedAt: now, ExpiresAt: now.Add(s.cfg.ChallengeTTL),
	}
	if firstDevice {
		ch.Methods = append(ch.Methods, firstDeviceMethod)
	}
	if _, err := s.store.CreateChallenge(ctx, ch, now); err != nil {
		return Ceremony{}, s.storeFailed(ctx, err)
	}
	return Ceremony{ID: ch.ID, Kind: kind, UserID: userID, Data: data, ExpiresAt: ch.ExpiresAt}, nil
}

// FinishCeremony takes the state of ceremony id, which must be of kind and
// of userID (or of nobody, when userID is ""), exactly once: of racing
// calls one gets it, the others ErrNotFound, as for an unknown, expired or
// other user's ceremony.
func (s *Service) FinishCeremony(ctx context.Context, id, kind, userID string) (Ceremony, error) {
	if !protocol.ValidID(id) {
		return Ceremony{}, ErrNotFound
	}
	now := s.now()
	ch, err := s.store.GetChallenge(ctx, id, now)
	if errors.Is(err, store.ErrNotFound) {
		return Ceremony{}, ErrNotFound
	}
	if err != nil {
		return Ceremony{}, s.storeFailed(ctx, err)
	}
	if ch.Method != ceremonyMethod || ch.Action != kind || ch.UserID != userID {
		return Ceremony{}, ErrNotFound
	}
	if _, err := s.store.TransitionChallenge(ctx, id, store.Transition{From: store.StateUnclaimed, To: store.StateConsumed}, now); err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			return Ceremony{}, ErrNotFound
		}
		return Ceremony{}, s.storeFailed(ctx, err)
	}
	return Ceremony{ID: id, Kind: kind, UserID: userID, Data: ch.Passkey, ExpiresAt: ch.ExpiresAt, finished: true,
		firstDevice: slices.Contains(ch.Methods, firstDeviceMethod)}, nil
}

// BeginPasskeyRegistration starts adding a passkey for userID under the
// rules of MintRegistrationToken: when the user already has a credential,
// stepUpToken must be an approved addAuthenticator challenge's token (it is
// consumed), else ErrStepUpRequired; begun without one, it adds a passkey
// only while the user still has no credential. data is the caller's
// ceremony state.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, userID, stepUpToken string, data []byte) (Ceremony, error) {
	if !validUserID(userID) {
		return Ceremony{}, ErrInvalidRequest.withMessage("userID must be 1 to 256 bytes of UTF-8")
	}
	creds, err := s.store.ListCredentials(ctx, userID)
	if err != nil {
		return Ceremony{}, s.storeFailed(ctx, err)
	}
	if len(creds) > 0 {
		if err := s.stepUp(ctx, userID, ActionAddAuthenticator, stepUpToken, Details{}); err != nil {
			return Ceremony{}, err
		}
	}
	granted := false
	if len(creds) == 0 {
		if granted, err = s.useEnrolmentGrantIfReset(ctx, userID, stepUpToken); err != nil {
			return Ceremony{}, err
		}
	}
	c, err := s.beginCeremony(ctx, CeremonyPasskeyRegistration, userID, data, len(creds) == 0)
	if err == nil && granted {
		err = s.grantEnrolment(ctx, userID, c.ID)
	}
	return c, err
}

// PasskeyRegistration is a verified WebAuthn registration.
type PasskeyRegistration struct {
	RawID     []byte // the credential's WebAuthn ID
	Name      string
	SignCount uint32
	Flags     uint32 // store.FlagBackupEligible, store.FlagBackupState
	Data      []byte // the passkey package's credential record (public key, AAGUID, …)
	ClientIP  string
}

// AddPasskey stores a passkey for the user of c, a finished
// passkey-registration ceremony (FinishCeremony): nothing else authorises
// it. ErrCredentialLimit over Config.MaxCredentialsPerUser; ErrConflict-
// like ErrRegistrationFailed when the passkey is already registered.
func (s *Service) AddPasskey(ctx context.Context, c Ceremony, p PasskeyRegistration) (Credential, error) {
	if !c.finished || c.Kind != CeremonyPasskeyRegistration || c.UserID == "" {
		return Credential{}, ErrRegistrationFailed.withMessage("no finished passkey registration")
	}
	if len(p.RawID) == 0 || len(p.RawID) > 1023 {
		return Credential{}, ErrInvalidRequest.withMessage("a passkey ID is 1 to 1023 bytes")
	}
	if len(p.Name) > maxNameBytes || !validText(p.Name) {
		return Credential{}, ErrInvalidRequest.withMessage("name must be at most 64 bytes of printable UTF-8")
	}
	now := s.now()
	cred := store.Credential{
		ID: PasskeyCredentialID(p.RawID), UserID: c.UserID, Kind: store.KindPasskey, Name: p.Name, Platform: "passkey",
		CreatedAt: now, SignCount: p.SignCount, Flags: p.Flags, Passkey: p.Data,
	}
	limit := s.cfg.MaxCredentialsPerUser
	if c.firstDevice {
		limit = 1 // as Register does for a first-device token
	}
	// After an operator reset, only the ceremony its grant paid for.
	allowed, resetLocked, err := s.enrolmentAllowed(ctx, c.UserID, c.ID)
	if err != nil {
		return Credential{}, err
	}
	if !allowed {
		s.emit(ctx, Event{Type: EventRegistrationRefused, UserID: cred.UserID, ClientIP: p.ClientIP, Reason: "reset"})
		return Credential{}, ErrRegistrationFailed
	}
	switch err := s.store.CreateCredential(ctx, cred, limit); {
	case errors.Is(err, store.ErrLimit) && c.firstDevice:
		s.emit(ctx, Event{Type: EventRegistrationRefused, UserID: cred.UserID, ClientIP: p.ClientIP, Reason: "not_first_device"})
		return Credential{}, ErrRegistrationFailed.with(err)
	case errors.Is(err, store.ErrLimit):
		return Credential{}, ErrCredentialLimit.with(err)
	case errors.Is(err, store.ErrConflict):
		return Credential{}, ErrRegistrationFailed.with(err).withMessage("this passkey is already registered")
	case err != nil:
		return Credential{}, s.storeFailed(ctx, err)
	}
	if resetLocked {
		s.clearResetLock(ctx, cred.UserID)
	}
	s.emit(ctx, Event{Type: EventCredentialRegistered, UserID: cred.UserID, CredentialID: cred.ID, ClientIP: p.ClientIP, Reason: "passkey"})
	s.notifyNewCredential(ctx, cred)
	return publicCredential(cred), nil
}

// Passkey returns the passkey with the given credential ID (see
// PasskeyCredentialID), for a sign-in ceremony; ErrNotFound otherwise.
func (s *Service) Passkey(ctx context.Context, credentialID string) (store.Credential, error) {
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

// Passkeys lists userID's passkeys (empty, not nil).
func (s *Service) Passkeys(ctx context.Context, userID string) ([]store.Credential, error) {
	creds, err := s.store.ListCredentials(ctx, userID)
	if err != nil {
		return nil, s.storeFailed(ctx, err)
	}
	out := []store.Credential{}
	for _, c := range creds {
		if c.Kind == store.KindPasskey {
			out = append(out, c)
		}
	}
	return out, nil
}

// UsePasskey records a verified use of userID's passkey credentialID: the
// new sign count (which must move forward, unless both old and new are 0,
// as synced passkeys report), the flags, and the time. A counter that went
// backwards emits EventPasskeyClone, marks the credential with
// store.FlagCloneWarning (Credential.CloneWarning) and is ErrPasskeyClone:
// refuse the sign-in. A removed passkey is ErrNotFound.
func (s *Service) UsePasskey(ctx context.Context, userID, credentialID string, signCount, flags uint32) error {
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
		s.emit(ctx, Event{Type: EventPasskeyClone, UserID: userID, CredentialID: credentialID})
		s.markClone(ctx, userID, credentialID)
		return ErrPasskeyClone
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
		return store.Challenge{}, nil, nil, ErrPasskeysNotConfigured
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
	creds, err := s.Passkeys(ctx, userID)
	if err != nil {
		return store.Challenge{}, nil, nil, err
	}
	if len(creds) == 0 {
		return store.Challenge{}, nil, nil, ErrNotFound.withMessage("the user has no passkey")
	}
	wc := protocol.PasskeyChallenge(ch.ID, ch.Nonce, ch.Action, ch.DetailsDigest)
	return ch, wc[:], creds, nil
}

// PasskeyOptions returns the WebAuthn request options with which userID's
// browser answers challenge id with a passkey. The WebAuthn challenge is
// SHA-256 of the canonical passkey message (framed as in docs/protocol.md: challenge ID,
// nonce, action, details digest), so the assertion is bound to the action
// and its details.
func (s *Service) PasskeyOptions(ctx context.Context, userID, id string) ([]byte, error) {
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

// RespondPasskey approves challenge id of userID with a passkey assertion
// (approve only). The assertion must verify over the challenge's own
// WebAuthn challenge with one of the user's passkeys, whose counter must
// move forward. A malformed response is ErrInvalidRequest, one that does
// not verify ErrPasskeyAssertion; a challenge that is no longer pending is
// ErrChallengeClosed with its state.
func (s *Service) RespondPasskey(ctx context.Context, r *http.Request, userID, id string, response []byte) (ResponseResult, error) {
	if err := s.limitIP(ctx, "respond", s.ClientIP(r), s.cfg.RateLimits.Respond); err != nil {
		return ResponseResult{}, err
	}
	ch, wc, creds, err := s.passkeyStepUp(ctx, userID, id)
	if err != nil {
		return ResponseResult{}, err
	}
	a, err := s.cfg.Passkeys.VerifyAssertion(ctx, r, wc, creds, response)
	if errors.Is(err, ErrInvalidRequest) {
		return ResponseResult{}, err
	}
	if err != nil {
		s.emit(ctx, Event{Type: EventSignatureRejected, UserID: userID, ChallengeID: id, Reason: "passkey"})
		return ResponseResult{}, ErrPasskeyAssertion.with(err)
	}
	i := slices.IndexFunc(creds, func(c store.Credential) bool { return c.ID == a.CredentialID })
	if i < 0 {
		return ResponseResult{}, ErrPasskeyAssertion
	}
	if err := s.UsePasskey(ctx, userID, a.CredentialID, a.SignCount, a.Flags); err != nil {
		if errors.Is(err, ErrNotFound) {
			return ResponseResult{}, ErrPasskeyAssertion
		}
		return ResponseResult{}, err
	}
	now := s.now()
	next, err := s.store.TransitionChallenge(ctx, id, store.Transition{
		From: store.StatePending, To: store.StateApproved, UserID: userID, CredentialID: a.CredentialID, AnsweredAt: now,
	}, now)
	if errors.Is(err, store.ErrConflict) {
		return ResponseResult{}, s.challengeClosed(ctx, id, now)
	}
	if err != nil {
		return ResponseResult{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, Event{Type: EventChallengeApproved, UserID: userID, CredentialID: a.CredentialID, ChallengeID: id, Action: ch.Action, Reason: "passkey"})
	return ResponseResult{ChallengeID: id, State: string(next.State)}, nil
}

// The passkey step-up endpoints, for the logged-in user (web, behind
// cross-origin protection). Their bodies are capped and strict JSON: a body
// that is not (for the assertion: not a JSON object) is 400
// invalid_request before anything is looked up, and so is an assertion the
// verifier cannot parse, as in the passkey sign-in.
//
//	POST /v1/web/challenges/{id}/passkey/options   request options for navigator.credentials.get (body: none or {})
//	POST /v1/web/challenges/{id}/passkey           the assertion (PublicKeyCredential JSON) → APPROVED
func (s *Service) passkeyRoutes(route func(pattern, method string, h func(http.ResponseWriter, *http.Request))) {
	route("/v1/web/challenges/{id}/passkey/options", http.MethodPost, s.handlePasskeyOptions)
	route("/v1/web/challenges/{id}/passkey", http.MethodPost, s.handlePasskeyRespond)
}

func (s *Service) handlePasskeyOptions(w http.ResponseWriter, r *http.Request) {
	user, ok := s.webUser(w, r)
	if !ok {
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(body) > 0 { // none is {}; {} is all there is to say
		if err := decodeJSON(body, &struct{}{}); err != nil {
			writeError(w, err)
			return
		}
	}
	opts, err := s.PasskeyOptions(r.Context(), user, r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeRaw(w, http.StatusOK, opts)
}

func (s *Service) handlePasskeyRespond(w http.ResponseWriter, r *http.Request) {
	user, ok := s.webUser(w, r)
	if !ok {
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	// A PublicKeyCredential's JSON is an object; the verifier judges its
	// members (malformed: ErrInvalidRequest, too).
	var members map[string]json.RawMessage
	if err := decodeJSON(body, &members); err != nil || members == nil {
		writeError(w, ErrInvalidRequest.with(err).withMessage("the body is not a PublicKeyCredential's JSON object"))
		return
	}
	res, err := s.RespondPasskey(r.Context(), r, user, r.PathValue("id"), body)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
