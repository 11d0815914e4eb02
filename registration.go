package deviceauth

import (
	"context"
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// RegistrationGrant is a freshly minted registration token. The token is
// shown to the user's device once (a QR code, a deep link); only its hash
// is stored.
type RegistrationGrant struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Registration is a device's request to bind its key (docs/protocol.md#signed-messages).
type Registration struct {
	Token     string // the registration token
	Algorithm string // ES256 or EdDSA
	// PublicKey is the key as the device sent it (SPKI DER, or the raw
	// 65-byte P-256 point or 32-byte Ed25519 key); the proof of possession
	// signs these exact bytes.
	PublicKey       []byte
	SignatureFormat string // der (default) or raw, for ES256
	Signature       []byte // the proof of possession
	Name            string // ≤64 bytes, shown to the user
	Platform        string // ≤32 bytes: ios, android, web, …
	// PushToken is optional, for a Notifier. It is stored only when the
	// proof is the v2 one (deviceauth/v2/register), which signs it; with a
	// v1 proof it is dropped.
	PushToken string
	// Attestation is the JSON of the optional "attestation" member
	// (docs/attestation.md), verified by Config.Attestation; nil for none.
	Attestation []byte
	ClientIP    netip.Addr
}

// Credential is the public view of a registered device key or passkey.
type Credential struct {
	ID         string    `json:"id"`
	UserID     string    `json:"-"`
	Kind       string    `json:"kind"`
	Algorithm  string    `json:"algorithm,omitempty"`
	Name       string    `json:"name"`
	Platform   string    `json:"platform,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
	// CloneWarning is set when a passkey's counter once went backwards.
	CloneWarning bool `json:"cloneWarning,omitempty"`
	// Attestation is what a hardware attestation established about the
	// key; Kind "none" when nothing vouched for it (passkeys, and device
	// keys registered without one).
	Attestation Attestation `json:"attestation"`
}

func publicCredential(c store.Credential) Credential {
	return Credential{
		ID: c.ID, UserID: c.UserID, Kind: string(c.Kind), Algorithm: c.Algorithm,
		Name: c.Name, Platform: c.Platform, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt,
		CloneWarning: c.Flags&store.FlagCloneWarning != 0, Attestation: credentialAttestation(c),
	}
}

// MintRegistrationToken issues a single-use registration token for userID,
// valid for Config.RegistrationTokenTTL. When the user already has a
// credential, stepUpToken must be the token of a challenge for
// ActionAddAuthenticator (empty details) that the user's device approved; it
// is consumed. Otherwise ErrStepUpRequired: a stolen session alone cannot
// enrol the thief's phone. A token minted without a step-up (the user had
// no credential) enrols only a first device: once the user has a
// credential, Register refuses it with ErrRegistrationFailed. A recovery
// code (see RecoveryCodes) stands in for the step-up token once.
func (s *Service) MintRegistrationToken(ctx context.Context, userID, stepUpToken string) (RegistrationGrant, error) {
	if !validUserID(userID) {
		return RegistrationGrant{}, ErrInvalidRequest.withMessage("userID must be 1 to 256 bytes of UTF-8")
	}
	creds, err := s.store.ListCredentials(ctx, userID)
	if err != nil {
		return RegistrationGrant{}, s.storeFailed(ctx, err)
	}
	if len(creds) > 0 {
		if err := s.stepUp(ctx, userID, ActionAddAuthenticator, stepUpToken, Details{}); err != nil {
			return RegistrationGrant{}, err
		}
	}
	granted := false
	if len(creds) == 0 {
		if granted, err = s.useEnrolmentGrantIfReset(ctx, userID, stepUpToken); err != nil {
			return RegistrationGrant{}, err
		}
	}
	token, hash := newRegistrationToken()
	now := s.now()
	// Minted without a step-up, the token enrols only a first device:
	// Register re-checks that in the store call that creates the credential.
	rt := store.RegistrationToken{Hash: hash, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.RegistrationTokenTTL),
		FirstDevice: len(creds) == 0}
	if err := s.store.PutRegistrationToken(ctx, rt); err != nil {
		return RegistrationGrant{}, s.storeFailed(ctx, err)
	}
	if granted {
		if err := s.grantEnrolment(ctx, userID, hex.EncodeToString(hash)); err != nil {
			return RegistrationGrant{}, err
		}
	}
	s.emit(ctx, event.Event{Type: event.RegistrationTokenIssued, UserID: userID})
	return RegistrationGrant{Token: token, ExpiresAt: rt.ExpiresAt}, nil
}

// Register binds a device key to the user of reg.Token. The proof of
// possession (docs/protocol.md#signed-messages) is checked before the token is consumed, so a
// forged request cannot burn a good token; the token is single use.
func (s *Service) Register(ctx context.Context, reg Registration) (Credential, error) {
	if err := s.limitIP(ctx, "register", reg.ClientIP, s.cfg.RateLimits.Register); err != nil {
		return Credential{}, err
	}
	switch {
	case len(reg.Name) > maxNameBytes || !validText(reg.Name):
		return Credential{}, ErrInvalidRequest.withMessage("name must be at most 64 bytes of printable UTF-8")
	case len(reg.Platform) > maxPlatformBytes || !validText(reg.Platform):
		return Credential{}, ErrInvalidRequest.withMessage("platform must be at most 32 bytes of printable UTF-8")
	case len(reg.PushToken) > maxPushToken || !validText(reg.PushToken):
		return Credential{}, ErrInvalidRequest.withMessage("pushToken must be at most 4096 bytes of printable UTF-8")
	case reg.Token == "" || len(reg.Token) > 256:
		return Credential{}, ErrRegistrationFailed
	}
	key, err := protocol.ParsePublicKey(reg.Algorithm, reg.PublicKey)
	if err != nil {
		return Credential{}, keyError(err)
	}
	pushToken, msg, err := verifyRegistration(key, reg)
	if err != nil {
		if e := signatureError(err); e != nil {
			return Credential{}, e
		}
		s.emit(ctx, event.Event{Type: event.SignatureRejected, ClientIP: reg.ClientIP.String(), Reason: "registration"})
		return Credential{}, ErrRegistrationFailed.with(err)
	}
	att, err := s.verifyAttestation(ctx, reg, key.Key, msg)
	if err != nil {
		return Credential{}, err
	}
	attJSON, err := encodeAttestation(att)
	if err != nil {
		return Credential{}, s.storeFailed(ctx, err)
	}
	now := s.now()
	rt, err := s.store.ConsumeRegistrationToken(ctx, hashToken(reg.Token), now)
	if errors.Is(err, store.ErrNotFound) {
		return Credential{}, ErrRegistrationFailed.with(err)
	}
	if err != nil {
		return Credential{}, s.storeFailed(ctx, err)
	}
	c := store.Credential{
		ID: ids.NewUserID("cr", rt.UserID), UserID: rt.UserID, Kind: store.KindDevice, Algorithm: key.Algorithm,
		PublicKey: key.SPKI, Name: reg.Name, Platform: reg.Platform, PushToken: pushToken, CreatedAt: now,
		Attestation: attJSON,
	}
	// After an operator reset, only the token its grant paid for enrols:
	// not one minted before the reset.
	allowed, resetLocked, err := s.enrolmentAllowed(ctx, rt.UserID, hex.EncodeToString(hashToken(reg.Token)))
	if err != nil {
		return Credential{}, err
	}
	if !allowed {
		s.emit(ctx, event.Event{Type: event.RegistrationRefused, UserID: rt.UserID, ClientIP: reg.ClientIP.String(), Reason: "reset"})
		return Credential{}, ErrRegistrationFailed
	}
	limit := s.cfg.MaxCredentialsPerUser
	if rt.FirstDevice {
		// The token was minted without a step-up because the user had no
		// credential: it enrols only while that is still so, checked in the
		// same atomic step as the insert (a limit of one).
		limit = 1
	}
	switch err := s.store.CreateCredential(ctx, c, limit); {
	case errors.Is(err, store.ErrLimit) && rt.FirstDevice:
		s.emit(ctx, event.Event{Type: event.RegistrationRefused, UserID: rt.UserID, ClientIP: reg.ClientIP.String(), Reason: "not_first_device"})
		return Credential{}, ErrRegistrationFailed.with(err)
	case errors.Is(err, store.ErrLimit):
		return Credential{}, ErrCredentialLimit.with(err)
	case err != nil:
		return Credential{}, s.storeFailed(ctx, err)
	}
	if resetLocked {
		s.clearResetLock(ctx, c.UserID)
	}
	s.emit(ctx, event.Event{Type: event.CredentialRegistered, UserID: c.UserID, CredentialID: c.ID, ClientIP: reg.ClientIP.String()})
	s.notifyNewCredential(ctx, c)
	return publicCredential(c), nil
}

// verifyRegistration checks reg's proof of possession under key and
// returns the push token to store and the message that verified (an App
// Attest binding covers it). A v2 proof (deviceauth/v2/register)
// covers the push token; a v1 proof does not, so its push token, which
// anyone relaying the request could have changed, is dropped (the device
// sets one with a signed request). v1 stays accepted until 2027-12-31.
func verifyRegistration(key protocol.PublicKey, reg Registration) (pushToken string, msg []byte, err error) {
	v2 := protocol.RegistrationMessageV2(reg.Token, reg.Algorithm, reg.PublicKey, reg.Name, reg.Platform, reg.PushToken)
	err = key.Verify(reg.SignatureFormat, v2, reg.Signature)
	if err == nil {
		return reg.PushToken, v2, nil
	}
	if signatureError(err) != nil {
		return "", nil, err // malformed: no other message makes it well formed
	}
	v1 := protocol.RegistrationMessage(reg.Token, reg.Algorithm, reg.PublicKey, reg.Name, reg.Platform)
	if err := key.Verify(reg.SignatureFormat, v1, reg.Signature); err != nil {
		return "", nil, err
	}
	return "", v1, nil
}

// notifyNewCredential tells the user's other devices that c was added.
func (s *Service) notifyNewCredential(ctx context.Context, c store.Credential) {
	if s.cfg.Notifier == nil {
		return
	}
	creds, err := s.store.ListCredentials(ctx, c.UserID)
	if err != nil {
		s.storeFailed(ctx, err)
		return
	}
	s.notify(Notification{Type: NotificationCredentialAdded, CredentialIDs: deviceIDs(creds, c.ID), NewCredentialID: c.ID}, c.UserID)
}

// Credentials lists userID's credentials, oldest first (empty, not nil).
func (s *Service) Credentials(ctx context.Context, userID string) ([]Credential, error) {
	if !validUserID(userID) {
		return nil, ErrInvalidRequest.withMessage("userID must be 1 to 256 bytes of UTF-8")
	}
	cs, err := s.store.ListCredentials(ctx, userID)
	if err != nil {
		return nil, s.storeFailed(ctx, err)
	}
	out := make([]Credential, len(cs))
	for i, c := range cs {
		out[i] = publicCredential(c)
	}
	return out, nil
}

// RemoveCredential removes userID's credential credentialID, as asked from
// the web. stepUpToken must be the token of an approved
// ActionRemoveAuthenticator challenge whose details are RemovalDetails of
// this credential — so an approval to remove one device cannot remove
// another — which is consumed; otherwise ErrStepUpRequired. That holds for
// the user's last credential too: a session alone removes nothing. A
// recovery code (see RecoveryCodes) stands in for the token once. Removal
// takes effect at once: challenges the credential approved no longer
// validate, and it can answer none. The user's devices, the removed one
// included, are notified (NotificationCredentialRemoved), and
// event.CredentialRemoved and event.EndOtherSessions are emitted.
// ErrNotFound when the user has no such credential.
func (s *Service) RemoveCredential(ctx context.Context, userID, credentialID, stepUpToken string) error {
	if !validUserID(userID) || !protocol.ValidID(credentialID) {
		return ErrNotFound
	}
	creds, err := s.store.ListCredentials(ctx, userID)
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	i := slices.IndexFunc(creds, func(c store.Credential) bool { return c.ID == credentialID })
	if i < 0 {
		return ErrNotFound
	}
	if err := s.stepUp(ctx, userID, ActionRemoveAuthenticator, stepUpToken, RemovalDetails(publicCredential(creds[i]))); err != nil {
		return err
	}
	return s.deleteCredential(ctx, creds, creds[i], "")
}

// removeSelf removes the credential of dev at its own signed request: the
// signature is proof enough, no step-up.
func (s *Service) removeSelf(ctx context.Context, dev deviceIdentity) error {
	creds, err := s.store.ListCredentials(ctx, dev.UserID)
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	i := slices.IndexFunc(creds, func(c store.Credential) bool { return c.ID == dev.CredentialID })
	if i < 0 {
		return ErrNotFound
	}
	return s.deleteCredential(ctx, creds, creds[i], removedBySelf)
}

// removalDetails returns RemovalDetails of userID's credential id.
func (s *Service) removalDetails(ctx context.Context, userID, id string) (Details, error) {
	cs, err := s.Credentials(ctx, userID)
	if err != nil {
		return Details{}, err
	}
	for _, c := range cs {
		if c.ID == id {
			return RemovalDetails(c), nil
		}
	}
	return Details{}, ErrNotFound
}

// deleteCredential deletes c, one of creds (the user's credentials as read
// before), and reports it: an event, the application told to end the
// user's other sessions, and a notification to the user's devices — the
// remaining ones, and the removed one through its push token unless it
// asked for the removal itself. reason says how the removal was authorised.
func (s *Service) deleteCredential(ctx context.Context, creds []store.Credential, c store.Credential, reason string) error {
	err := s.store.DeleteCredential(ctx, c.UserID, c.ID)
	s.answers.removeCredential(c.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound
	case err != nil:
		return s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.CredentialRemoved, UserID: c.UserID, CredentialID: c.ID, Reason: reason})
	s.emit(ctx, event.Event{Type: event.EndOtherSessions, UserID: c.UserID, CredentialID: c.ID, Reason: string(event.CredentialRemoved)})
	n := Notification{Type: NotificationCredentialRemoved, CredentialIDs: deviceIDs(creds, c.ID), RemovedCredentialID: c.ID}
	if reason != removedBySelf && c.Kind == store.KindDevice {
		n.RemovedPushToken = c.PushToken
	}
	s.notify(n, c.UserID)
	return nil
}

// removedBySelf is the reason of a removal the device signed itself.
const removedBySelf = "self"

// RemovalDetails are the details of the removeAuthenticator step-up that
// removes c: the device shows which credential is being removed, and the
// approval is bound to it.
func RemovalDetails(c Credential) Details {
	d := Details{Message: "Remove " + c.Name, Fields: []Field{{Label: "Device", Value: c.Name}, {Label: "Credential", Value: c.ID}}}
	if _, err := protocol.NormalizeDetails(d); err != nil {
		// A name the details rules refuse is left out; the ID still binds.
		d = Details{Message: "Remove a device", Fields: []Field{{Label: "Credential", Value: c.ID}}}
	}
	return d
}

// stepUp validates and consumes a step-up token for action with details,
// or spends a recovery code in its place (RecoveryCodes); any failure is
// ErrStepUpRequired, except a store failure or a rate limit.
func (s *Service) stepUp(ctx context.Context, userID, action, token string, details Details) error {
	if isRecoveryCode(token) {
		return s.useRecoveryCode(ctx, userID, action, token)
	}
	return s.approvedStepUp(ctx, userID, action, token, details, !s.cfg.ApproveOnly)
}

// approvedStepUp validates and consumes the token of an approved step-up
// challenge for action with details, made with number matching when code.
func (s *Service) approvedStepUp(ctx context.Context, userID, action, token string, details Details, code bool) error {
	if token == "" {
		return ErrStepUpRequired
	}
	v, err := s.Validate(ctx, ValidateRequest{Token: token, UserID: userID, Action: action, Details: details,
		VerificationCode: code})
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return err
		}
		return ErrStepUpRequired.with(err)
	}
	if !v.Valid {
		return ErrStepUpRequired
	}
	return nil
}

// keyError maps a key parsing error to the endpoint error.
func keyError(err error) error {
	if errors.Is(err, protocol.ErrUnsupportedAlgorithm) {
		return ErrUnsupportedAlgorithm.with(err)
	}
	return ErrInvalidKey.with(err)
}

// signatureError maps a malformed signature or unknown format to its
// endpoint error; it returns nil for a well-formed signature that does not
// verify, which callers report as the failure of what it was to prove.
func signatureError(err error) error {
	switch {
	case errors.Is(err, protocol.ErrUnsupportedAlgorithm):
		return ErrUnsupportedAlgorithm.with(err)
	case errors.Is(err, protocol.ErrMalformedSignature):
		return ErrInvalidSignature.with(err)
	}
	return nil
}
