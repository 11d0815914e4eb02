package deviceauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// Details are what the device shows the user before it signs: a message
// and up to 20 labelled fields (amount, payee, …). Track normalises them
// (NFC; control, bidi, zero-width and other invisible characters refused;
// caps of docs/protocol.md#signed-messages) and binds their digest into the challenge.
type Details = protocol.Details

// Field is one labelled line of Details.
type Field = protocol.Field

// TrackRequest asks whether userID may do action now.
type TrackRequest struct {
	UserID  string
	Action  string // [A-Za-z0-9_.:-]{1,64}, e.g. "transfer"
	Details Details
	// IdempotencyKey, when set, makes Track return the same challenge and
	// token for the same user and key while that challenge lives. Reusing a
	// key for another action or other details is ErrIdempotencyConflict.
	IdempotencyKey string
	ClientIP       netip.Addr
	UserAgent      string
	// Methods are the verification methods offered. Default: those the
	// user's credentials can answer — MethodDevice for device keys,
	// MethodPasskey for passkeys (MethodDevice for a user with none).
	Methods []Method
	// VerificationCode asks for number matching whatever the policy says.
	// Without it, add/remove-authenticator step-ups and push challenges
	// ask for it anyway unless Config.ApproveOnly is set; a challenge that
	// only a passkey may answer never carries a code.
	VerificationCode bool
	// Attestation is what the approving device's key must have been
	// attested with (docs/attestation.md); other devices cannot approve.
	// Validate it with the same requirement.
	Attestation AttestationRequirement
}

// TrackResult is Track's answer.
type TrackResult struct {
	State ActionState `json:"state"`
	// Enrolled reports whether the user has a credential. A
	// StateChallengeRequired without enrolment carries no challenge: the
	// user must enrol first (enrollment_required).
	Enrolled    bool      `json:"enrolled"`
	ChallengeID string    `json:"challengeId,omitempty"`
	Token       string    `json:"token,omitempty"`
	ExpiresAt   time.Time `json:"expiresAt,omitzero"`
	Methods     []Method  `json:"methods,omitempty"`
	// VerificationCode is the code the primary screen shows for number
	// matching, when asked. Show it to the user; never log it.
	VerificationCode string `json:"verificationCode,omitempty"`
}

// Track asks the policy whether an action may proceed and, when it needs a
// challenge and the user is enrolled, creates one. A user who has reached
// the wrong-code limit for this action is answered StateBlock until the
// window ends.
func (s *Service) Track(ctx context.Context, req TrackRequest) (TrackResult, error) {
	if !validUserID(req.UserID) {
		return TrackResult{}, ErrInvalidRequest.withMessage("userID must be 1 to 256 bytes of UTF-8")
	}
	if !protocol.ValidAction(req.Action) {
		return TrackResult{}, ErrInvalidRequest.withMessage("action must be 1 to 64 characters of [A-Za-z0-9_.:-]")
	}
	if len(req.IdempotencyKey) > 128 || !validText(req.IdempotencyKey) {
		return TrackResult{}, ErrInvalidRequest.withMessage("idempotencyKey must be at most 128 bytes of printable UTF-8")
	}
	if _, err := checkMethods(req.Methods); err != nil {
		return TrackResult{}, err
	}
	details, err := protocol.NormalizeDetails(stepUpDetails(req.Action, req.Details))
	if err != nil {
		return TrackResult{}, detailsError(err)
	}
	now := s.now()
	if isDefaultPolicy(s.policy) && !slices.Contains(req.Methods, MethodPush) {
		return s.trackDefault(ctx, req, details, now)
	}
	wrong, err := s.store.Counter(ctx, s.wrongCodeKey(req.UserID, req.Action), now)
	if err != nil {
		return TrackResult{}, s.storeFailed(ctx, err)
	}
	creds, err := s.store.ListCredentials(ctx, req.UserID)
	if err != nil {
		return TrackResult{}, s.storeFailed(ctx, err)
	}
	res := TrackResult{Enrolled: len(creds) > 0}
	methods := req.Methods
	if len(methods) == 0 {
		methods = defaultMethods(kindsOf(creds))
	}
	if wrong >= int64(s.cfg.WrongCodeLimit) {
		return s.blocked(ctx, req, res), nil
	}
	d, err := s.policy.Decide(ctx, PolicyInput{
		UserID: req.UserID, Action: req.Action, Details: details, Enrolled: res.Enrolled,
		ClientIP: req.ClientIP, UserAgent: req.UserAgent, Methods: methods,
	})
	if err != nil {
		return TrackResult{}, s.storeFailed(ctx, fmt.Errorf("policy: %w", err))
	}
	switch d.State {
	case StateAllow, StateBlock, StateReview:
		res.State = d.State
		return res, nil
	case StateChallengeRequired:
	default:
		return TrackResult{}, s.storeFailed(ctx, fmt.Errorf("policy: unknown state %q", d.State))
	}
	res.State = StateChallengeRequired
	if !res.Enrolled {
		return res, nil
	}
	if err := s.limit(ctx, "challenges", req.UserID, s.cfg.RateLimits.Challenges); err != nil {
		return TrackResult{}, err
	}
	push := slices.Contains(methods, MethodPush)
	if push {
		if err := s.pushLimit(ctx, req.UserID); err != nil {
			return TrackResult{}, err
		}
	}
	ch := s.newChallenge(req, details, methods, d.VerificationCode || s.codeByDefault(req.Action, methods), d.CodeDigits, now)
	stored, err := s.store.CreateChallenge(ctx, ch, now)
	if err != nil {
		return TrackResult{}, s.storeFailed(ctx, err)
	}
	if stored.ID == ch.ID && push {
		s.pushRules(ctx, stored, creds)
	}
	return s.tracked(ctx, req, ch, stored, res)
}

// trackDefault is Track under DefaultPolicy without push, whose decision
// needs nothing from the store: one BeginChallenge reads the wrong-code
// counter and the user's credential kinds and creates the challenge, so
// that Track is one store round trip. The challenge is built for the
// credential kinds most users have (device keys only) unless the request
// names its methods; when the user's kinds differ, nothing was created and
// a second call builds it for the kinds the first one read.
func (s *Service) trackDefault(ctx context.Context, req TrackRequest, details Details, now time.Time) (TrackResult, error) {
	if err := s.limit(ctx, "challenges", req.UserID, s.cfg.RateLimits.Challenges); err != nil {
		return TrackResult{}, err
	}
	methods, kinds := req.Methods, []store.CredentialKind(nil)
	if len(methods) == 0 {
		kinds = []store.CredentialKind{store.KindDevice}
		methods = defaultMethods(kinds)
	}
	// Kinds change only when credentials are added or removed meanwhile:
	// a third refusal means the store does not keep its contract.
	for range 3 {
		ch := s.newChallenge(req, details, methods, s.codeByDefault(req.Action, methods), 0, now)
		begun, err := s.cycle.BeginChallenge(ctx, store.Begin{
			Challenge: ch, Counter: s.wrongCodeKey(req.UserID, req.Action),
			CounterLimit: int64(s.cfg.WrongCodeLimit), Kinds: kinds,
		}, now)
		if err != nil {
			return TrackResult{}, s.storeFailed(ctx, err)
		}
		res := TrackResult{Enrolled: len(begun.Kinds) > 0}
		switch {
		case begun.Counter >= int64(s.cfg.WrongCodeLimit):
			return s.blocked(ctx, req, res), nil
		case !res.Enrolled:
			res.State = StateChallengeRequired
			return res, nil
		case begun.Challenge.ID != "":
			res.State = StateChallengeRequired
			return s.tracked(ctx, req, ch, begun.Challenge, res)
		}
		// The user's credentials are of other kinds than the challenge was
		// built for (or changed meanwhile): build it again for those.
		kinds = begun.Kinds
		methods = defaultMethods(kinds)
	}
	return TrackResult{}, s.storeFailed(ctx, errors.New("store: BeginChallenge refused the kinds it reported three times"))
}

// isDefaultPolicy reports whether p is DefaultPolicy, whose decision needs
// no input.
func isDefaultPolicy(p Policy) bool {
	switch p.(type) {
	case DefaultPolicy, *DefaultPolicy:
		return true
	}
	return false
}

// codeByDefault reports whether a challenge for action offering methods
// asks for number matching when neither the caller nor the policy did:
// the targets of fatigue attacks (adding or removing an authenticator, a
// push to the phone) do, unless Config.ApproveOnly.
func (s *Service) codeByDefault(action string, methods []Method) bool {
	return !s.cfg.ApproveOnly && (action == ActionAddAuthenticator || action == ActionRemoveAuthenticator ||
		slices.Contains(methods, MethodPush))
}

// additionDetails are what the device shows for an addAuthenticator
// step-up tracked without details; the challenge also carries the
// requesting IP and browser.
var additionDetails = Details{Message: "Add a new device to your account"}

// stepUpDetails are the details bound to a challenge for action: those
// given, or for an addAuthenticator step-up without any, additionDetails,
// so that the phone never shows an empty request to add a device.
func stepUpDetails(action string, d Details) Details {
	if action == ActionAddAuthenticator && d.Message == "" && len(d.Fields) == 0 {
		return additionDetails
	}
	return d
}

// newChallenge builds the challenge Track creates for req. A challenge no
// device key may answer carries no code: a passkey's user verification is
// its proof.
func (s *Service) newChallenge(req TrackRequest, details Details, methods []Method, code bool, codeDigits int, now time.Time) store.Challenge {
	digest := protocol.DetailsDigest(details)
	ch := store.Challenge{
		ID: ids.NewUserID("ch", req.UserID), UserID: req.UserID, Action: req.Action, State: store.StatePending,
		Method: string(primaryMethod(methods)), Methods: methodStrings(methods), Nonce: newNonce(),
		Details: protocol.CanonicalJSON(details), DetailsDigest: digest[:],
		IdempotencyKey: req.IdempotencyKey, ClientIP: ipString(req.ClientIP),
		UserAgent: protocol.ContextText(req.UserAgent, maxUserAgentBytes), CreatedAt: now, ExpiresAt: now.Add(s.cfg.ChallengeTTL),
		AttestationRequired: req.Attestation.encode(),
	}
	if (code || req.VerificationCode) && slices.ContainsFunc(methods, deviceMethod) {
		n := codeDigits
		if n == 0 {
			n = s.cfg.VerificationCodeDigits
		}
		ch.VerificationCode = newCode(min(max(n, 2), maxCodeDigits))
	}
	return ch
}

// blocked is Track's answer to a user at the wrong-code limit for the
// action.
func (s *Service) blocked(ctx context.Context, req TrackRequest, res TrackResult) TrackResult {
	res.State = StateBlock
	s.emit(ctx, event.Event{Type: event.ActionBlocked, UserID: req.UserID, Action: req.Action, ClientIP: ipString(req.ClientIP), Reason: "wrong_code_limit"})
	return res
}

// tracked completes res with the challenge the store holds for ch: ch
// itself, or the earlier challenge of the same idempotency key, which must
// be for the same action and details.
func (s *Service) tracked(ctx context.Context, req TrackRequest, ch, stored store.Challenge, res TrackResult) (TrackResult, error) {
	if stored.ID != ch.ID {
		if stored.Action != ch.Action || subtle.ConstantTimeCompare(stored.DetailsDigest, ch.DetailsDigest) != 1 {
			return TrackResult{}, ErrIdempotencyConflict
		}
	} else {
		s.emit(ctx, event.Event{Type: event.ChallengeCreated, UserID: req.UserID, ChallengeID: ch.ID, Action: req.Action, ClientIP: ch.ClientIP})
	}
	res.ChallengeID = stored.ID
	res.Token = s.challengeToken(stored.ID)
	res.ExpiresAt = stored.ExpiresAt
	res.Methods = toMethods(stored.Methods)
	res.VerificationCode = stored.VerificationCode
	return res, nil
}

// ValidateRequest names the challenge token and what it must be bound to.
type ValidateRequest struct {
	Token  string
	UserID string
	Action string
	// Details must equal the details given to Track (after normalisation);
	// a challenge tracked with details does not validate without them.
	Details Details
	// Methods, when not empty, are the methods whose answer counts: a
	// challenge approved otherwise does not validate and stays approved.
	// MethodPasskey admits a passkey assertion; MethodDevice, MethodPush
	// and MethodQRCode a device key's signature.
	Methods []Method
	// VerificationCode admits a device key's approval only when it was
	// made with number matching (a passkey's needs no code).
	VerificationCode bool
	// Attestation, when set, must be included in the requirement the
	// challenge was tracked with (TrackRequest.Attestation): a challenge an
	// unattested device could approve does not validate.
	Attestation AttestationRequirement
}

// Validation is Validate's answer.
type Validation struct {
	// Valid is true exactly once per approved challenge, for its user,
	// action and details, while the approving credential still exists.
	Valid        bool        `json:"isValid"`
	State        ActionState `json:"state"` // StateChallengeSucceeded or StateChallengeFailed
	ChallengeID  string      `json:"challengeId,omitempty"`
	UserID       string      `json:"userId,omitempty"`
	Action       string      `json:"action,omitempty"`
	CredentialID string      `json:"credentialId,omitempty"`
	Method       Method      `json:"verificationMethod,omitempty"`
	Details      Details     `json:"details"`
	ValidatedAt  time.Time   `json:"validatedAt,omitzero"`
	// Remembered is true when Require let the request through on a
	// remembered step-up (WithStepUpMemory) rather than a token.
	Remembered bool `json:"remembered,omitempty"`
}

// Validate is the backend's one-time check that the challenge behind token
// was approved by userID's device for action and details, by a method and
// with the number matching req asks for. It consumes the challenge: of any number of concurrent calls with the same token, on any
// instance, at most one is valid. An invalid, used, denied, expired or
// revoked token, or one for another user, action or details, gives Valid
// false and a nil error; the error is for store failures (ErrUnavailable),
// on which callers must fail closed.
func (s *Service) Validate(ctx context.Context, req ValidateRequest) (Validation, error) {
	failed := Validation{State: StateChallengeFailed}
	id, ok := s.parseChallengeToken(req.Token)
	if !ok {
		return failed, nil
	}
	details, err := protocol.NormalizeDetails(stepUpDetails(req.Action, req.Details))
	if _, merr := checkMethods(req.Methods); err != nil || merr != nil {
		return failed, nil
	}
	now := s.now()
	digest := protocol.DetailsDigest(details)
	fail := func(reason string) (Validation, error) {
		s.emit(ctx, event.Event{Type: event.ValidationFailed, UserID: req.UserID, ChallengeID: id, Action: req.Action, Reason: reason})
		return failed, nil
	}
	// One store call checks the binding (the method that answered
	// included), consumes the challenge and checks that the approving
	// credential still exists (revocation), atomically.
	ch, kind, err := s.cycle.ConsumeChallenge(ctx, id, store.Binding{UserID: req.UserID, Action: req.Action, DetailsDigest: digest[:],
		Kinds: kindsAnswering(req.Methods), VerificationCode: req.VerificationCode}, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return failed, nil
	case errors.Is(err, store.ErrRevoked):
		return fail("credential_revoked")
	case errors.Is(err, store.ErrConflict):
		switch {
		case ch.UserID != req.UserID || ch.UserID == "":
			return fail("other_user")
		case ch.Action != req.Action:
			return fail("other_action")
		case subtle.ConstantTimeCompare(ch.DetailsDigest, digest[:]) != 1:
			return fail("other_details")
		case ch.State == store.StateApproved:
			return fail("method_not_admitted")
		}
		return fail("state_" + strings.ToLower(string(ch.State)))
	case err != nil:
		return failed, s.storeFailed(ctx, err)
	}
	if !coversRequirement(ch.AttestationRequired, req.Attestation) {
		// Consumed all the same: the token is spent either way.
		return fail("attestation_requirement")
	}
	s.emit(ctx, event.Event{Type: event.ChallengeValidated, UserID: req.UserID, ChallengeID: id, Action: req.Action, CredentialID: ch.CredentialID})
	return Validation{
		Valid: true, State: StateChallengeSucceeded, ChallengeID: id, UserID: ch.UserID, Action: ch.Action,
		CredentialID: ch.CredentialID, Method: methodOf(ch, kind), Details: details, ValidatedAt: now,
	}, nil
}

// ChallengeState reports the lifecycle state of the challenge behind token
// (PENDING, APPROVED, DENIED, …) without consuming it, so a page can tell
// "not approved yet" from "denied". A token that is not valid, or not
// userID's, is ErrNotFound.
func (s *Service) ChallengeState(ctx context.Context, token, userID string) (store.State, error) {
	id, ok := s.parseChallengeToken(token)
	if !ok {
		return "", ErrNotFound
	}
	ch, err := s.store.GetChallenge(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && (ch.UserID != userID || userID == "")) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", s.storeFailed(ctx, err)
	}
	return ch.State, nil
}

// detailsError is ErrInvalidDetails saying which rule refused the details,
// without the internal package's prefix.
func detailsError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "protocol: invalid details: ")
	return ErrInvalidDetails.with(err).withMessage("the details are not acceptable: " + msg)
}

// methodOf reports how a challenge was answered: PASSKEY by a passkey;
// by a device key, the challenge's primary method when a device answers
// it, else the first device method it offered.
func methodOf(ch store.Challenge, kind store.CredentialKind) Method {
	if kind == store.KindPasskey {
		return MethodPasskey
	}
	if deviceMethod(Method(ch.Method)) {
		return Method(ch.Method)
	}
	for _, m := range ch.Methods {
		if deviceMethod(Method(m)) {
			return Method(m)
		}
	}
	return MethodDevice
}

// deviceMethod reports whether a device key answers m.
func deviceMethod(m Method) bool {
	return m == MethodDevice || m == MethodPush || m == MethodQRCode
}

// deviceAnswers reports whether a device key may answer ch.
func deviceAnswers(ch store.Challenge) bool {
	return slices.ContainsFunc(toMethods(ch.Methods), deviceMethod)
}

// kindsAnswering lists the credential kinds that answer methods (nil, any
// kind, when methods is empty).
func kindsAnswering(methods []Method) []store.CredentialKind {
	var kinds []store.CredentialKind
	for _, m := range methods {
		k := store.KindDevice
		if m == MethodPasskey {
			k = store.KindPasskey
		}
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

// ChallengeView is what a device sees of a challenge: enough to show the
// user what they approve and to build the response message (docs/protocol.md#signed-messages).
// It never carries the verification code, which the user must type.
type ChallengeView struct {
	ChallengeID string `json:"challengeId"`
	Action      string `json:"action"`
	// State is the challenge's lifecycle state (PENDING, APPROVED, …).
	State   string    `json:"state"`
	Nonce   base64URL `json:"nonce"`
	Details Details   `json:"details"`
	// VerificationCodeRequired says the user must type the code shown on
	// the primary screen.
	VerificationCodeRequired bool   `json:"verificationCodeRequired"`
	Method                   string `json:"method"`
	ClientIP                 string `json:"clientIp,omitempty"`
	// UserAgent (and Origin) came from the browser: characters details
	// refuse are shown as U+FFFD, and they are capped at 512 (256) bytes.
	UserAgent string `json:"userAgent,omitempty"`
	// Origin is the web page that asked for a QR challenge.
	Origin    string    `json:"origin,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (s *Service) view(ch store.Challenge) ChallengeView {
	// Track stored the canonical JSON of normalised details; a record that
	// does not decode is shown as empty rather than as anything else.
	d := Details{Fields: []Field{}}
	if err := json.Unmarshal(ch.Details, &d); err != nil || d.Fields == nil {
		d = Details{Fields: []Field{}}
	}
	return ChallengeView{
		ChallengeID: ch.ID, Action: ch.Action, State: string(ch.State), Nonce: ch.Nonce, Details: d,
		VerificationCodeRequired: ch.VerificationCode != "", Method: ch.Method,
		ClientIP: ch.ClientIP, UserAgent: ch.UserAgent, Origin: ch.Origin, CreatedAt: ch.CreatedAt, ExpiresAt: ch.ExpiresAt,
	}
}

// fetchChallenge returns challenge id to a device of its user. A challenge
// of another user is ErrNotFound, the same answer as an unknown one.
func (s *Service) fetchChallenge(ctx context.Context, dev deviceIdentity, id string) (ChallengeView, error) {
	if !protocol.ValidID(id) {
		return ChallengeView{}, ErrNotFound
	}
	ch, err := s.store.GetChallenge(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return ChallengeView{}, ErrNotFound
	}
	if err != nil {
		return ChallengeView{}, s.storeFailed(ctx, err)
	}
	return s.fetched(dev, ch)
}

// fetched is FetchChallenge's answer for ch, read from the store.
func (s *Service) fetched(dev deviceIdentity, ch store.Challenge) (ChallengeView, error) {
	if ch.UserID != dev.UserID || ch.Method == ceremonyMethod {
		return ChallengeView{}, ErrNotFound
	}
	return s.view(ch), nil
}

// pendingChallenges lists the pending challenges of a device's user that
// this device may answer, oldest first, so that polling alone works without
// push. A challenge only a passkey may answer is not listed, nor one whose
// attestation requirement the device does not meet.
func (s *Service) pendingChallenges(ctx context.Context, dev deviceIdentity) ([]ChallengeView, error) {
	chs, err := s.store.ListPendingChallenges(ctx, dev.UserID, s.now())
	if err != nil {
		return nil, s.storeFailed(ctx, err)
	}
	if slices.ContainsFunc(chs, func(ch store.Challenge) bool { return ch.AttestationRequired != "" }) {
		cred, err := s.store.GetCredential(ctx, dev.CredentialID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, s.storeFailed(ctx, err)
		}
		chs = visibleTo(chs, cred) // a credential gone meanwhile is not attested
	}
	out := []ChallengeView{}
	for _, ch := range chs {
		if deviceAnswers(ch) {
			out = append(out, s.view(ch))
		}
	}
	return out, nil
}

// DeviceAnswer is a device's signed answer to a challenge (docs/protocol.md#signed-messages).
type DeviceAnswer struct {
	ChallengeID      string
	CredentialID     string
	Decision         string // "approve" or "deny"
	DenyReason       string // [A-Za-z0-9_.:-]{0,64}, deny only
	VerificationCode string // as typed; approve only
	SignatureFormat  string // der (default) or raw, for ES256
	Signature        []byte
	ClientIP         netip.Addr
}

// AnswerResult reports a challenge's state after a response.
type AnswerResult struct {
	ChallengeID string `json:"challengeId"`
	State       string `json:"state"`
}

// Respond records a device's approval or denial. The server rebuilds the
// signed message from the stored challenge and verifies it with the key of
// the named credential, which must belong to the challenge's user; a
// challenge that offers no device method (only PASSKEY) is
// ErrInvalidResponse. Only a
// validly signed approval with a wrong code counts against the wrong-code
// limit; the limit-th in the window fails the challenge.
func (s *Service) Respond(ctx context.Context, r DeviceAnswer) (AnswerResult, error) {
	if err := s.limitIP(ctx, "respond", r.ClientIP, s.cfg.RateLimits.Respond); err != nil {
		return AnswerResult{}, err
	}
	switch {
	case !protocol.ValidID(r.ChallengeID) || !protocol.ValidID(r.CredentialID):
		return AnswerResult{}, ErrInvalidResponse
	case r.Decision != protocol.DecisionApprove && r.Decision != protocol.DecisionDeny:
		return AnswerResult{}, ErrInvalidRequest.withMessage(`decision must be "approve" or "deny"`)
	case r.Decision == protocol.DecisionApprove && r.DenyReason != "":
		return AnswerResult{}, ErrInvalidRequest.withMessage("denyReason is only for deny")
	case r.Decision == protocol.DecisionDeny && r.VerificationCode != "":
		// A code proves the user saw the other screen; on a deny it would
		// only be a guess the server checks nowhere.
		return AnswerResult{}, ErrInvalidRequest.withMessage("verificationCode is only for approve")
	case r.DenyReason != "" && !protocol.ValidAction(r.DenyReason):
		return AnswerResult{}, ErrInvalidRequest.withMessage("denyReason must be at most 64 characters of [A-Za-z0-9_.:-]")
	case len(r.VerificationCode) > maxCodeDigits || !digitsOnly(r.VerificationCode):
		return AnswerResult{}, ErrInvalidRequest.withMessage("verificationCode must be digits")
	}
	now := s.now()
	// The key is the one stored for the challenge's user: never chosen by
	// the request alone.
	ch, cred, err := s.cycle.GetChallengeCredential(ctx, r.ChallengeID, r.CredentialID, now)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (cred.UserID != ch.UserID || cred.Kind != store.KindDevice)) {
		return AnswerResult{}, ErrInvalidResponse
	}
	if err != nil {
		return AnswerResult{}, s.storeFailed(ctx, err)
	}
	key, err := s.pubkeys.parse(cred.Algorithm, cred.PublicKey)
	if err != nil {
		return AnswerResult{}, s.storeFailed(ctx, fmt.Errorf("stored key of credential %s: %w", cred.ID, err))
	}
	msg := protocol.ResponseMessage(protocol.Response{
		ChallengeID: ch.ID, Nonce: ch.Nonce, Action: ch.Action, CredentialID: cred.ID,
		Decision: r.Decision, DenyReason: r.DenyReason, VerificationCode: r.VerificationCode,
		DetailsDigest: ch.DetailsDigest,
	})
	if err := key.Verify(r.SignatureFormat, msg, r.Signature); err != nil {
		if e := signatureError(err); e != nil {
			return AnswerResult{}, e
		}
		s.emit(ctx, event.Event{Type: event.SignatureRejected, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, ClientIP: ipString(r.ClientIP), Reason: "response"})
		return AnswerResult{}, ErrInvalidResponse
	}
	if !deviceAnswers(ch) {
		return AnswerResult{}, ErrInvalidResponse.withMessage("this challenge is not answered with a device key")
	}
	if ch.State != store.StatePending {
		return AnswerResult{}, ErrChallengeClosed.withState(string(ch.State))
	}
	if r.Decision == protocol.DecisionApprove && !meetsRequirement(credentialAttestation(cred), ch.AttestationRequired) {
		// A denial is still accepted: any device of the user may refuse.
		s.emit(ctx, event.Event{Type: event.SignatureRejected, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, ClientIP: ipString(r.ClientIP), Reason: "attestation_required"})
		return AnswerResult{}, ErrAttestationRequired
	}
	if r.Decision == protocol.DecisionApprove && ch.VerificationCode != "" &&
		subtle.ConstantTimeCompare([]byte(r.VerificationCode), []byte(ch.VerificationCode)) != 1 {
		return s.wrongCode(ctx, ch, cred, r, now)
	}
	to, typ := store.StateApproved, event.ChallengeApproved
	if r.Decision == protocol.DecisionDeny {
		to, typ = store.StateDenied, event.ChallengeDenied
	}
	next, err := s.store.TransitionChallenge(ctx, ch.ID, store.Transition{
		From: store.StatePending, To: to, UserID: ch.UserID, CredentialID: cred.ID, DenyReason: r.DenyReason, AnsweredAt: now,
		CredentialUsed: true,
	}, now)
	if errors.Is(err, store.ErrConflict) {
		cur, gerr := s.store.GetChallenge(ctx, ch.ID, now)
		if gerr != nil {
			return AnswerResult{}, ErrChallengeClosed
		}
		return AnswerResult{}, ErrChallengeClosed.withState(string(cur.State))
	}
	if err != nil {
		return AnswerResult{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: typ, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, Action: ch.Action, ClientIP: ipString(r.ClientIP), Reason: r.DenyReason})
	if r.DenyReason == DenyReasonNotMe {
		s.reportNotMe(ctx, ch, cred.ID)
	}
	return AnswerResult{ChallengeID: ch.ID, State: string(next.State)}, nil
}

// wrongCode counts a validly signed approval with a wrong code against the
// (user, action) window, and fails the challenge at the limit.
func (s *Service) wrongCode(ctx context.Context, ch store.Challenge, cred store.Credential, r DeviceAnswer, now time.Time) (AnswerResult, error) {
	n, err := s.store.IncrementCounter(ctx, s.wrongCodeKey(ch.UserID, ch.Action), s.cfg.WrongCodeWindow, now)
	if err != nil {
		return AnswerResult{}, s.storeFailed(ctx, err)
	}
	if ch.Method == string(MethodQRCode) && ch.ClientIP != "" {
		// The browser that showed the code is counted too, like the user
		// (before the attempt, which a racing failure may refuse): its IP
		// may create no more QR challenges while at the limit.
		if _, err := s.store.IncrementCounter(ctx, s.qrWrongCodeKey(ch.ClientIP), s.cfg.WrongCodeWindow, now); err != nil {
			return AnswerResult{}, s.storeFailed(ctx, err)
		}
	}
	cur, err := s.store.RecordAttempt(ctx, ch.ID, store.StatePending, now)
	if errors.Is(err, store.ErrConflict) {
		return AnswerResult{}, ErrChallengeClosed
	}
	if err != nil {
		return AnswerResult{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.WrongCode, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, Action: ch.Action, ClientIP: ipString(r.ClientIP)})
	if n < int64(s.cfg.WrongCodeLimit) {
		return AnswerResult{}, ErrWrongCode.withState(string(cur.State))
	}
	failed, err := s.store.TransitionChallenge(ctx, ch.ID, store.Transition{
		From: store.StatePending, To: store.StateFailed, UserID: ch.UserID, CredentialID: cred.ID, AnsweredAt: now,
	}, now)
	if errors.Is(err, store.ErrConflict) {
		return AnswerResult{}, ErrChallengeClosed
	}
	if err != nil {
		return AnswerResult{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.ChallengeFailed, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, Action: ch.Action, Reason: "wrong_code_limit"})
	return AnswerResult{}, ErrWrongCode.withState(string(failed.State))
}

// wrongCodeKey names the wrong-code counter of (user, action); the user's
// length is part of it, so no two pairs share a key.
func (s *Service) wrongCodeKey(userID, action string) string {
	return ids.UserCounterKey("wrongcode", userID, action)
}

// qrWrongCodeKey names the wrong-code counter of the client IP that
// created QR challenges.
func (s *Service) qrWrongCodeKey(ip string) string {
	return "wrongcode-qr:ip=" + ip
}

// wrongCodeBlock is ErrRateLimited, with an event.ActionBlocked completed
// from ev, when wrong-code counter key is at Config.WrongCodeLimit.
func (s *Service) wrongCodeBlock(ctx context.Context, key string, ev event.Event, now time.Time) error {
	n, err := s.store.Counter(ctx, key, now)
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	if n < int64(s.cfg.WrongCodeLimit) {
		return nil
	}
	ev.Type, ev.Reason = event.ActionBlocked, "wrong_code_limit"
	s.emit(ctx, ev)
	return ErrRateLimited.withMessage("too many wrong verification codes: try again later")
}

// limit counts one event against rate r for key; over the limit it is
// ErrRateLimited. A negative limit is off.
func (s *Service) limit(ctx context.Context, name, key string, r Rate) error {
	if r.Limit < 0 {
		return nil
	}
	n, err := s.store.IncrementCounter(ctx, "rate:"+name+":"+key, r.Window, s.now())
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	if n > int64(r.Limit) {
		s.emit(ctx, event.Event{Type: event.RateLimited, Reason: name})
		return ErrRateLimited
	}
	return nil
}

// limitIP counts one event of client ip against rate r, keyed by the
// client's network (RateLimits.IPv4Prefix, IPv6Prefix).
func (s *Service) limitIP(ctx context.Context, name string, ip netip.Addr, r Rate) error {
	return s.limit(ctx, name, s.ipKey(ip), r)
}

// ipKey names the network ip counts in: an IPv4-mapped address is unmapped
// first (else every IPv4 client would share the mapped range's /64), and a
// full-length prefix is the bare address, so default IPv4 keys stay as
// they were. An unknown IP is "".
func (s *Service) ipKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap().WithZone("")
	bits := s.cfg.RateLimits.IPv6Prefix
	if ip.Is4() {
		bits = s.cfg.RateLimits.IPv4Prefix
	}
	if bits >= ip.BitLen() {
		return ip.String()
	}
	p, _ := ip.Prefix(bits) // bits is within 1..BitLen, checked by New
	return p.String()
}

// storeFailed reports a store (or context) failure and returns
// ErrUnavailable with err as its cause.
func (s *Service) storeFailed(ctx context.Context, err error) error {
	if e := (*Error)(nil); errors.As(err, &e) {
		return err
	}
	s.emit(ctx, event.Event{Type: event.StoreError, Reason: err.Error()})
	return ErrUnavailable.with(err)
}

// primaryMethod is how a challenge reaches the user: PUSH when it is
// pushed to devices, else the first method offered.
func primaryMethod(ms []Method) Method {
	if slices.Contains(ms, MethodPush) {
		return MethodPush
	}
	return ms[0]
}

// defaultMethods are the methods credentials of the given kinds can
// answer.
func defaultMethods(kinds []store.CredentialKind) []Method {
	var ms []Method
	if slices.Contains(kinds, store.KindDevice) {
		ms = append(ms, MethodDevice)
	}
	if slices.Contains(kinds, store.KindPasskey) {
		ms = append(ms, MethodPasskey)
	}
	if len(ms) == 0 {
		ms = []Method{MethodDevice}
	}
	return ms
}

// kindsOf lists the kinds of creds.
func kindsOf(creds []store.Credential) []store.CredentialKind {
	var kinds []store.CredentialKind
	for _, c := range creds {
		if !slices.Contains(kinds, c.Kind) {
			kinds = append(kinds, c.Kind)
		}
	}
	return kinds
}

func checkMethods(ms []Method) ([]Method, error) {
	for i, m := range ms {
		switch m {
		case MethodDevice, MethodPush, MethodQRCode, MethodPasskey:
		default:
			return nil, ErrInvalidRequest.withMessage(fmt.Sprintf("unknown verification method %q", m))
		}
		if slices.Contains(ms[:i], m) {
			return nil, ErrInvalidRequest.withMessage(fmt.Sprintf("verification method %q given twice", m))
		}
	}
	return ms, nil
}

func methodStrings(ms []Method) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

func toMethods(ss []string) []Method {
	out := make([]Method, len(ss))
	for i, m := range ss {
		out[i] = Method(m)
	}
	return out
}

func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
