package deviceauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// Compat credentials and challenges: the rules behind package
// compat/authsignal (docs/compat-authsignal.md), reached through
// internal/seam.Compat. A compat credential (store.KindCompat) signs the
// challenge ID alone, so it is kept apart from native ones both ways: it
// answers only the compat challenges, told by their IDs, never signs a
// native request or answer (those need store.KindDevice), and its
// approval validates only where weak bindings are admitted
// (ValidateRequest.WeakBinding). Native credentials never answer through
// these steps.

// Prefixes of the IDs of compat challenges: tracked by the application's
// backend (ids.NewUserID), and unclaimed ones a browser (QR) or a phone
// (in-app) asked for.
const (
	compatTrackedPrefix = "as"
	compatQRPrefix      = "aq_"
	compatInAppPrefix   = "ai_"
)

// isCompat reports whether challenge id is a compat challenge.
func isCompat(id string) bool {
	return strings.HasPrefix(id, compatTrackedPrefix+"_") || isCompatUnclaimed(id)
}

// isCompatUnclaimed reports whether compat challenge id was created
// unclaimed (its answer must come from the credential that claimed it).
func isCompatUnclaimed(id string) bool {
	return strings.HasPrefix(id, compatQRPrefix) || strings.HasPrefix(id, compatInAppPrefix)
}

// compatTrack is Track for a compat challenge, which a device key answers
// (MethodDevice) and which carries no verification code.
func (s *Service) compatTrack(ctx context.Context, req TrackRequest) (TrackResult, error) {
	if req.InApp || len(req.Methods) > 0 || req.VerificationCode || req.CredentialID != "" {
		return TrackResult{}, ErrInvalidRequest.withMessage("a compat challenge names no methods, code or credential")
	}
	req.compat, req.Methods = true, []Method{MethodDevice}
	return s.Track(ctx, req)
}

// compatCredential returns compat credential id.
func (s *Service) compatCredential(ctx context.Context, id string) (store.Credential, error) {
	if !protocol.ValidID(id) {
		return store.Credential{}, ErrNotFound
	}
	c, err := s.store.GetCredential(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Kind != store.KindCompat) {
		return store.Credential{}, ErrNotFound
	}
	if err != nil {
		return store.Credential{}, s.storeFailed(ctx, err)
	}
	return c, nil
}

// compatRegister adds a compat credential for r.UserID. Its key is the
// credential's ID (seam.CompatCredentialID), so a key another user holds
// is refused (ErrRegistrationFailed) and re-adding one's own returns it.
// The lifecycle rules are the native ones: a user who has a credential
// adds one only with an approved step-up (or a recovery code), which is
// consumed, and a first credential is added only while the user has none
// (one atomic step with the insert) and was not reset by an operator.
func (s *Service) compatRegister(ctx context.Context, r seam.CompatRegistration) (store.Credential, error) {
	ip, _ := netip.ParseAddr(r.ClientIP)
	if err := s.limitIP(ctx, "register", ip, s.cfg.RateLimits.Register); err != nil {
		return store.Credential{}, err
	}
	switch {
	case !validUserID(r.UserID):
		return store.Credential{}, ErrRegistrationFailed
	case len(r.Name) > maxNameBytes || !validText(r.Name):
		return store.Credential{}, ErrInvalidRequest.withMessage("deviceName must be at most 64 bytes of printable UTF-8")
	case len(r.Platform) > maxPlatformBytes || !validText(r.Platform):
		return store.Credential{}, ErrInvalidRequest.withMessage("devicePlatform must be at most 32 bytes of printable UTF-8")
	case len(r.PushToken) > maxPushToken || !validText(r.PushToken):
		return store.Credential{}, ErrInvalidRequest.withMessage("pushToken must be at most 4096 bytes of printable UTF-8")
	}
	key, err := protocol.ParsePublicKey(protocol.AlgES256, r.PublicKey)
	if err != nil {
		return store.Credential{}, keyError(err)
	}
	if !bytes.Equal(key.SPKI, r.PublicKey) {
		// The key is found by the hash of the bytes devices send: one
		// encoding only (SPKI DER, as the SDKs send it).
		return store.Credential{}, ErrInvalidKey.withMessage("publicKey must be the key's SPKI DER")
	}
	id := seam.CompatCredentialID(key.SPKI)
	switch held, err := s.store.GetCredential(ctx, id); {
	case err == nil && held.UserID == r.UserID && held.Kind == store.KindCompat:
		return held, nil
	case err == nil:
		s.emit(ctx, event.Event{Type: event.RegistrationRefused, UserID: r.UserID, ClientIP: r.ClientIP, Reason: "key_registered"})
		return store.Credential{}, ErrRegistrationFailed
	case !errors.Is(err, store.ErrNotFound):
		return store.Credential{}, s.storeFailed(ctx, err)
	}
	creds, err := s.store.ListCredentials(ctx, r.UserID)
	if err != nil {
		return store.Credential{}, s.storeFailed(ctx, err)
	}
	limit := s.cfg.MaxCredentialsPerUser
	if len(creds) > 0 {
		if err := s.compatStepUp(ctx, r); err != nil {
			return store.Credential{}, err
		}
	} else {
		if err := s.compatFirst(ctx, r.UserID, r.ClientIP); err != nil {
			return store.Credential{}, err
		}
		limit = 1
	}
	now := s.now()
	c := store.Credential{ID: id, UserID: r.UserID, Kind: store.KindCompat, Algorithm: key.Algorithm, PublicKey: key.SPKI,
		Name: r.Name, Platform: r.Platform, PushToken: r.PushToken, CreatedAt: now, Passkey: r.Data}
	switch err := s.store.CreateCredential(ctx, c, limit); {
	case errors.Is(err, store.ErrLimit) && len(creds) == 0:
		s.emit(ctx, event.Event{Type: event.RegistrationRefused, UserID: r.UserID, ClientIP: r.ClientIP, Reason: "not_first_device"})
		return store.Credential{}, ErrRegistrationFailed.with(err)
	case errors.Is(err, store.ErrLimit):
		return store.Credential{}, ErrCredentialLimit.with(err)
	case errors.Is(err, store.ErrConflict):
		// Registered meanwhile, by this user or another.
		return store.Credential{}, ErrRegistrationFailed.with(err)
	case err != nil:
		return store.Credential{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.CredentialRegistered, UserID: c.UserID, CredentialID: c.ID, ClientIP: r.ClientIP, Reason: "compat"})
	s.notifyNewCredential(ctx, c)
	return c, nil
}

// compatFirst refuses a first credential for userID, who has none, while
// an operator's reset holds: only the reset's grant enrols then, and a
// compat SDK cannot carry it.
func (s *Service) compatFirst(ctx context.Context, userID, clientIP string) error {
	locked, err := s.resetLocked(ctx, userID)
	if err != nil {
		return err
	}
	if locked {
		s.emit(ctx, event.Event{Type: event.RegistrationRefused, UserID: userID, ClientIP: clientIP, Reason: "reset"})
		return ErrRegistrationFailed
	}
	return nil
}

// compatStepUp consumes the step-up of a compat registration: a recovery
// code, or the token of an approved challenge for r.StepUpAction whose
// approval was a compat credential's only when r.WeakStepUp.
func (s *Service) compatStepUp(ctx context.Context, r seam.CompatRegistration) error {
	if isRecoveryCode(r.StepUpToken) {
		return s.useRecoveryCode(ctx, r.UserID, ActionAddAuthenticator, r.StepUpToken)
	}
	if r.StepUpToken == "" || !protocol.ValidAction(r.StepUpAction) {
		return ErrStepUpRequired
	}
	v, err := s.Validate(ctx, ValidateRequest{Token: r.StepUpToken, UserID: r.UserID, Action: r.StepUpAction, WeakBinding: r.WeakStepUp})
	switch {
	case err != nil:
		return err
	case !v.Valid:
		return ErrStepUpRequired
	}
	return nil
}

// compatVerify checks cred's signature (DER) over msg. Every failure, a
// malformed signature included, is the same error.
func (s *Service) compatVerify(cred store.Credential, msg, sig []byte) error {
	key, err := s.pubkeys.parse(cred.Algorithm, cred.PublicKey)
	if err != nil {
		return err
	}
	return key.Verify(protocol.FormatDER, msg, sig)
}

// compatProve checks compat credential id's signature over one of
// messages, counted against rate limit (a RateLimits name: "fetch" or
// "respond"), and, when replay is not "", that it is the first use of
// replay for this credential (kept until 2·compatRemoveWindow from now).
// Every failure is the same ErrUnauthorized.
func (s *Service) compatProve(ctx context.Context, id string, messages [][]byte, sig []byte, replay, clientIP, limit string) (store.Credential, error) {
	if err := s.compatLimit(ctx, limit, clientIP); err != nil {
		return store.Credential{}, err
	}
	cred, err := s.compatCredential(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return store.Credential{}, ErrUnauthorized
	}
	if err != nil {
		return store.Credential{}, err
	}
	if !slices.ContainsFunc(messages, func(m []byte) bool { return s.compatVerify(cred, m, sig) == nil }) {
		s.emit(ctx, event.Event{Type: event.SignatureRejected, CredentialID: cred.ID, ClientIP: clientIP, Reason: "compat_request"})
		return store.Credential{}, ErrUnauthorized
	}
	if replay == "" {
		return cred, nil
	}
	now := s.now()
	// Bound to the credential's creation too: a key removed and added
	// again is not reached by an old signature.
	key := "compat:" + cred.ID + ":" + cred.CreatedAt.UTC().Format(time.RFC3339Nano) + ":" + replay
	switch err := s.store.ClaimNonce(ctx, key, now.Add(2*compatRemoveWindow), now); {
	case errors.Is(err, store.ErrConflict):
		s.emit(ctx, event.Event{Type: event.SignatureRejected, CredentialID: cred.ID, ClientIP: clientIP, Reason: "replayed_nonce"})
		return store.Credential{}, ErrUnauthorized
	case err != nil:
		return store.Credential{}, s.storeFailed(ctx, err)
	}
	return cred, nil
}

// compatPushMessage returns the message compat credential id signs to
// fetch its pending push challenge: the sealed count of the messages
// issued for it within compatPushWindow (a counter in the store, so any
// instance rebuilds the newest), which only the newest fetch may sign,
// once.
func (s *Service) compatPushMessage(ctx context.Context, id, clientIP string) (string, error) {
	if err := s.compatLimit(ctx, "fetch", clientIP); err != nil {
		return "", err
	}
	if _, err := s.compatCredential(ctx, id); err != nil {
		return "", err
	}
	n, err := s.store.IncrementCounter(ctx, compatPushKey(id), compatPushWindow, s.now())
	if err != nil {
		return "", s.storeFailed(ctx, err)
	}
	return s.compatPushText(id, n), nil
}

// compatPushFetch checks compat credential id's signature over its newest
// push message, once.
func (s *Service) compatPushFetch(ctx context.Context, id string, sig []byte, clientIP string) error {
	if !protocol.ValidID(id) {
		return ErrUnauthorized
	}
	n, err := s.store.Counter(ctx, compatPushKey(id), s.now())
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	if n == 0 {
		return ErrUnauthorized
	}
	_, err = s.compatProve(ctx, id, [][]byte{[]byte(s.compatPushText(id, n))}, sig, "push:"+strconv.FormatInt(n, 10), clientIP, "fetch")
	return err
}

// compatPushWindow is how long a push message can be signed.
const compatPushWindow = 2 * time.Minute

func compatPushKey(id string) string { return "compat-push:" + id }

func (s *Service) compatPushText(id string, n int64) string {
	return s.seal("authsignal-push-fetch", []byte(id+":"+strconv.FormatInt(n, 10)))
}

// compatRemove removes compat credential id at its own request (a
// compatProve over the time windows it may sign): no step-up, as a
// native device that signs its own removal.
func (s *Service) compatRemove(ctx context.Context, id string, messages [][]byte, sig []byte, replay, clientIP string) error {
	cred, err := s.compatProve(ctx, id, messages, sig, replay, clientIP, "respond")
	if err != nil {
		return err
	}
	return s.removeSelf(ctx, deviceIdentity{CredentialID: cred.ID, UserID: cred.UserID})
}

// compatLimit counts a request of clientIP against the rate limit name
// ("fetch", "respond", "register", "qr" or "ceremony").
func (s *Service) compatLimit(ctx context.Context, name, clientIP string) error {
	r := map[string]Rate{"fetch": s.cfg.RateLimits.Fetch, "respond": s.cfg.RateLimits.Respond,
		"register": s.cfg.RateLimits.Register, "qr": s.cfg.RateLimits.QR, "ceremony": s.cfg.RateLimits.Ceremonies}[name]
	if r.Window == 0 {
		return s.storeFailed(ctx, errors.New("compat: unknown rate limit "+name))
	}
	ip, _ := netip.ParseAddr(clientIP)
	return s.limitIP(ctx, name, ip, r)
}

// compatRemoveWindow is the span of a removal signature's time window.
const compatRemoveWindow = 10 * time.Minute

// compatPending returns the newest pending tracked compat challenge of the
// user of compat credential id (the one a push is about).
func (s *Service) compatPending(ctx context.Context, id string) (store.Challenge, bool, error) {
	cred, err := s.compatCredential(ctx, id)
	if err != nil {
		return store.Challenge{}, false, err
	}
	chs, err := s.store.ListPendingChallenges(ctx, cred.UserID, s.now())
	if err != nil {
		return store.Challenge{}, false, s.storeFailed(ctx, err)
	}
	for _, ch := range slices.Backward(chs) {
		if strings.HasPrefix(ch.ID, compatTrackedPrefix+"_") && ch.AttestationRequired == "" {
			return ch, true, nil
		}
	}
	return store.Challenge{}, false, nil
}

// compatPush notifies userID's compat devices of tracked compat challenge
// id, which must be userID's and pending: counted against the push limit,
// and not sent while the user muted pushes (denied one as not_me).
func (s *Service) compatPush(ctx context.Context, userID, id string) error {
	ch, err := s.readChallenge(ctx, id)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(id, compatTrackedPrefix+"_") || ch.UserID != userID {
		return ErrNotFound
	}
	if ch.State != store.StatePending {
		return ErrChallengeClosed.withState(string(ch.State))
	}
	if err := s.pushLimit(ctx, userID); err != nil {
		return err
	}
	muted, err := s.store.Counter(ctx, s.muteKey(userID), s.now())
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	if muted > 0 {
		s.emit(ctx, event.Event{Type: event.PushMuted, UserID: userID, ChallengeID: id, Action: ch.Action})
		return nil
	}
	creds, err := s.store.ListCredentials(ctx, userID)
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	var to []string
	for _, c := range creds {
		if c.Kind == store.KindCompat && c.PushToken != "" {
			to = append(to, c.ID)
		}
	}
	s.notify(Notification{Type: NotificationChallenge, ChallengeID: id, CredentialIDs: to}, userID)
	return nil
}

// compatAnswered reads challenge a.ChallengeID and the compat credential
// that answers it, and checks the credential's signature over the ID. Any
// failure — not a compat challenge, another kind or user of credential, a
// challenge created unclaimed that another credential claimed, a bad or
// malformed signature — is the same ErrInvalidResponse.
func (s *Service) compatAnswered(ctx context.Context, a seam.CompatAnswer, unclaimed bool) (store.Challenge, store.Credential, error) {
	ip, _ := netip.ParseAddr(a.ClientIP)
	if err := s.limitIP(ctx, "respond", ip, s.cfg.RateLimits.Respond); err != nil {
		return store.Challenge{}, store.Credential{}, err
	}
	if !protocol.ValidID(a.ChallengeID) || !protocol.ValidID(a.CredentialID) || !isCompat(a.ChallengeID) ||
		(unclaimed && !isCompatUnclaimed(a.ChallengeID)) {
		return store.Challenge{}, store.Credential{}, ErrInvalidResponse
	}
	ch, cred, err := s.cycle.GetChallengeCredential(ctx, a.ChallengeID, a.CredentialID, s.now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Challenge{}, store.Credential{}, ErrInvalidResponse
	case err != nil:
		return store.Challenge{}, store.Credential{}, s.storeFailed(ctx, err)
	case cred.Kind != store.KindCompat:
		return store.Challenge{}, store.Credential{}, ErrInvalidResponse
	case !unclaimed && (cred.UserID != ch.UserID || (isCompatUnclaimed(ch.ID) && ch.ClaimedBy != cred.ID)):
		return store.Challenge{}, store.Credential{}, ErrInvalidResponse
	}
	if s.compatVerify(cred, []byte(ch.ID), a.Signature) != nil {
		s.emit(ctx, event.Event{Type: event.SignatureRejected, UserID: cred.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, ClientIP: a.ClientIP, Reason: "compat_response"})
		return store.Challenge{}, store.Credential{}, ErrInvalidResponse
	}
	return ch, cred, nil
}

// compatAnswer approves or denies a pending compat challenge.
func (s *Service) compatAnswer(ctx context.Context, a seam.CompatAnswer) (store.Challenge, error) {
	ch, cred, err := s.compatAnswered(ctx, a, false)
	if err != nil {
		return store.Challenge{}, err
	}
	if ch.State != store.StatePending {
		return store.Challenge{}, ErrChallengeClosed.withState(string(ch.State))
	}
	if a.Approve && (ch.AttestationRequired != "" || ch.VerificationCode != "") {
		// A compat key is never attested, nor can its SDK send a code.
		s.emit(ctx, event.Event{Type: event.SignatureRejected, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, ClientIP: a.ClientIP, Reason: "compat_not_enough"})
		return store.Challenge{}, ErrInvalidResponse
	}
	now := s.now()
	to, typ := store.StateApproved, event.ChallengeApproved
	if !a.Approve {
		to, typ = store.StateDenied, event.ChallengeDenied
	}
	next, err := s.store.TransitionChallenge(ctx, ch.ID, store.Transition{
		From: store.StatePending, To: to, UserID: ch.UserID, CredentialID: cred.ID, AnsweredAt: now, CredentialUsed: true,
	}, now)
	if errors.Is(err, store.ErrConflict) {
		return store.Challenge{}, s.challengeClosed(ctx, ch.ID, now)
	}
	if err != nil {
		return store.Challenge{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: typ, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, Action: ch.Action, ClientIP: a.ClientIP, Reason: "compat"})
	return next, nil
}

// compatClaim claims an unclaimed compat challenge for the answering
// credential's user, who must not be at the wrong-code limit for its
// action; the rules then run and the action is recorded, as for a native
// QR claim (a BLOCK or REVIEW fails the challenge). Exactly one
// credential claims it; only that one answers it.
func (s *Service) compatClaim(ctx context.Context, a seam.CompatAnswer) (store.Challenge, error) {
	ch, cred, err := s.compatAnswered(ctx, a, true)
	if err != nil {
		return store.Challenge{}, err
	}
	if ch.State != store.StateUnclaimed {
		return store.Challenge{}, ErrChallengeClosed.withState(string(ch.State))
	}
	return s.compatClaimFor(ctx, ch, cred)
}

// compatClaimFor claims unclaimed compat challenge ch for cred (a compat
// key or a passkey) and its user: the wrong-code limit, then the rules
// and the action record, then the claim itself.
func (s *Service) compatClaimFor(ctx context.Context, ch store.Challenge, cred store.Credential) (store.Challenge, error) {
	now := s.now()
	if err := s.wrongCodeBlock(ctx, s.wrongCodeKey(cred.UserID, ch.Action), event.Event{UserID: cred.UserID, Action: ch.Action, ChallengeID: ch.ID}, now); err != nil {
		return store.Challenge{}, err
	}
	if err := s.claimRules(ctx, deviceIdentity{UserID: cred.UserID, CredentialID: cred.ID}, ch, now); err != nil {
		return store.Challenge{}, err
	}
	claimed, err := s.store.TransitionChallenge(ctx, ch.ID, store.Transition{
		From: store.StateUnclaimed, To: store.StatePending, UserID: cred.UserID, ClaimedBy: cred.ID,
	}, now)
	if errors.Is(err, store.ErrConflict) {
		return store.Challenge{}, s.challengeClosed(ctx, ch.ID, now)
	}
	if err != nil {
		return store.Challenge{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.QRClaimed, UserID: cred.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, Action: ch.Action})
	return claimed, nil
}

// compatCreate creates an unclaimed compat challenge for action, one of
// Config.QRActions: a QR challenge bound to the browser that asked by a
// new binding secret, or an in-app one a phone asked for.
func (s *Service) compatCreate(ctx context.Context, qr bool, action, clientIP, userAgent string) (store.Challenge, string, error) {
	if !slices.Contains(s.cfg.QRActions, action) {
		return store.Challenge{}, "", ErrInvalidRequest.withMessage("action must be one the application allows for challenges without a user")
	}
	ip, _ := netip.ParseAddr(clientIP)
	if err := s.limitIP(ctx, "qr", ip, s.cfg.RateLimits.QR); err != nil {
		return store.Challenge{}, "", err
	}
	now := s.now()
	if err := s.wrongCodeBlock(ctx, s.qrWrongCodeKey(ipString(ip)), event.Event{ClientIP: ipString(ip), Action: action}, now); err != nil {
		return store.Challenge{}, "", err
	}
	digest := protocol.DetailsDigest(Details{})
	ch := store.Challenge{
		ID: compatInAppPrefix + protocol.NewID(), Action: action, State: store.StateUnclaimed,
		Method: string(MethodInApp), Methods: []string{string(MethodInApp)}, Nonce: newNonce(),
		Details: protocol.CanonicalJSON(Details{}), DetailsDigest: digest[:],
		ClientIP: ipString(ip), UserAgent: protocol.ContextText(userAgent, maxUserAgentBytes),
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.ChallengeTTL),
	}
	binding := ""
	if qr {
		binding = newSecret()
		ch.ID, ch.Method, ch.Methods = compatQRPrefix+protocol.NewID(), string(MethodQRCode), []string{string(MethodQRCode)}
		ch.BrowserBindingHash = hashToken(binding)
	}
	if _, err := s.store.CreateChallenge(ctx, ch, now); err != nil {
		return store.Challenge{}, "", s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.ChallengeCreated, ChallengeID: ch.ID, Action: ch.Action, ClientIP: ch.ClientIP, Reason: "compat"})
	return ch, binding, nil
}

// readChallenge reads challenge id for a caller outside the store: an ID
// that is not one, or an unknown challenge, is ErrNotFound; a store
// failure is reported as such.
func (s *Service) readChallenge(ctx context.Context, id string) (store.Challenge, error) {
	if !protocol.ValidID(id) {
		return store.Challenge{}, ErrNotFound
	}
	ch, err := s.store.GetChallenge(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Challenge{}, ErrNotFound
	}
	if err != nil {
		return store.Challenge{}, s.storeFailed(ctx, err)
	}
	return ch, nil
}

// seal MACs payload for purpose under the first key: base64url of payload
// and the MAC. The MAC's input starts as a challenge token's does and
// goes on with "/" (which no challenge ID holds), the purpose and a NUL,
// so a sealed value is never a challenge token nor one of another purpose.
func (s *Service) seal(purpose string, payload []byte) string {
	mac := s.macs[0].sum(nil, []byte(sealInput(purpose, payload)))
	return base64.RawURLEncoding.EncodeToString(append(append([]byte(nil), payload...), mac...))
}

// open returns the payload sealed for purpose when its MAC verifies under
// one of the keys.
func (s *Service) open(purpose, sealed string) ([]byte, bool) {
	if len(sealed) > 2048 {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(raw) < sha256.Size {
		return nil, false
	}
	payload, mac := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	for _, m := range s.macs {
		if hmac.Equal(mac, m.sum(nil, []byte(sealInput(purpose, payload)))) {
			return payload, true
		}
	}
	return nil, false
}

func sealInput(purpose string, payload []byte) string {
	return "/" + purpose + "\x00" + string(payload)
}

// The steps of package compat/authsignal (internal/seam.Compat).
func init() {
	c := &seam.Compat
	c.Track = func(svc any, ctx context.Context, req any) (any, error) {
		return svc.(*Service).compatTrack(ctx, req.(TrackRequest))
	}
	c.Credential = func(svc any, ctx context.Context, id string) (store.Credential, error) {
		return svc.(*Service).compatCredential(ctx, id)
	}
	c.Credentials = func(svc any, ctx context.Context, userID string) ([]store.Credential, error) {
		s := svc.(*Service)
		if !validUserID(userID) {
			return nil, ErrInvalidRequest.withMessage("userId must be 1 to 256 bytes of UTF-8")
		}
		cs, err := s.store.ListCredentials(ctx, userID)
		if err != nil {
			return nil, s.storeFailed(ctx, err)
		}
		return cs, nil
	}
	c.Register = func(svc any, ctx context.Context, r seam.CompatRegistration) (store.Credential, error) {
		return svc.(*Service).compatRegister(ctx, r)
	}
	c.Prove = func(svc any, ctx context.Context, id string, messages [][]byte, sig []byte, replay, clientIP string) (store.Credential, error) {
		return svc.(*Service).compatProve(ctx, id, messages, sig, replay, clientIP, "fetch")
	}
	c.PushMessage = func(svc any, ctx context.Context, id, clientIP string) (string, error) {
		return svc.(*Service).compatPushMessage(ctx, id, clientIP)
	}
	c.PushFetch = func(svc any, ctx context.Context, id string, sig []byte, clientIP string) error {
		return svc.(*Service).compatPushFetch(ctx, id, sig, clientIP)
	}
	c.Limit = func(svc any, ctx context.Context, name, clientIP string) error {
		return svc.(*Service).compatLimit(ctx, name, clientIP)
	}
	c.Remove = func(svc any, ctx context.Context, id string, messages [][]byte, sig []byte, replay, clientIP string) error {
		return svc.(*Service).compatRemove(ctx, id, messages, sig, replay, clientIP)
	}
	c.Pending = func(svc any, ctx context.Context, id string) (store.Challenge, bool, error) {
		return svc.(*Service).compatPending(ctx, id)
	}
	c.Push = func(svc any, ctx context.Context, userID, id string) error {
		return svc.(*Service).compatPush(ctx, userID, id)
	}
	c.Answer = func(svc any, ctx context.Context, a seam.CompatAnswer) (store.Challenge, error) {
		return svc.(*Service).compatAnswer(ctx, a)
	}
	c.Claim = func(svc any, ctx context.Context, a seam.CompatAnswer) (store.Challenge, error) {
		return svc.(*Service).compatClaim(ctx, a)
	}
	c.Create = func(svc any, ctx context.Context, qr bool, action, clientIP, userAgent string) (store.Challenge, string, error) {
		return svc.(*Service).compatCreate(ctx, qr, action, clientIP, userAgent)
	}
	c.Challenge = func(svc any, ctx context.Context, id string) (store.Challenge, error) {
		return svc.(*Service).readChallenge(ctx, id)
	}
	c.Bound = func(svc any, ctx context.Context, id, binding string) (store.Challenge, error) {
		return svc.(*Service).boundQR(ctx, id, binding)
	}
	c.Wait = func(svc any, ctx context.Context, id string, since store.State) (store.Challenge, error) {
		return svc.(*Service).waitChange(ctx, id, since, MaxLongPoll)
	}
	c.Done = func(svc any) <-chan struct{} { return svc.(*Service).done }
	c.Token = func(svc any, id string) string { return svc.(*Service).challengeToken(id) }
	c.TokenID = func(svc any, token string) (string, bool) { return svc.(*Service).parseChallengeToken(token) }
	c.Seal = func(svc any, purpose string, payload []byte) string { return svc.(*Service).seal(purpose, payload) }
	c.Now = func(svc any) time.Time { return svc.(*Service).now() }
	c.Open = func(svc any, purpose, sealed string) ([]byte, bool) { return svc.(*Service).open(purpose, sealed) }
}
