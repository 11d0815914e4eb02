package deviceauth

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth/risk"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// Track: an application asks whether a user may do an action now, and
// gets a challenge (and its token) when a device must approve it.

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
	// InApp tracks the challenge for in-app verification: the app's own
	// phone answers it with one signature, from the InAppChallenge that
	// TrackResult carries and the application hands it over its own
	// authenticated channel (docs/protocol.md#in-app-verification). Such a
	// challenge offers MethodInApp only, asks for no verification code, is
	// never pushed, listed or fetched by a device, and validates as
	// MethodInApp. Methods and VerificationCode must not be set with it.
	InApp bool
	// CredentialID, with InApp, names the only credential that may answer
	// (the phone the application hands the challenge to). Optional.
	CredentialID string
	// Browser is the browser's ID from BrowserID, for the known.browser
	// and recency signals; "" when unknown (Require fills it in).
	Browser string
	// Custom is the application's own data for its rules (custom.* in
	// CEL): JSON values only — string, number, bool, null, list, map —
	// at most 4096 bytes as JSON. It is kept with the action's record and
	// shown to reviewers.
	Custom map[string]any
	// Amount is the sum the action moves, for rules (amount.*); zero when
	// none.
	Amount risk.Amount

	// compat tracks a compat challenge (package compat/authsignal, through
	// internal/seam): its ID says so and it carries no verification code.
	compat bool
}

// InAppChallenge is what the application hands its own phone to verify an
// action in-app: everything the device signs, so that it answers without a
// signed fetch. It never carries the verification code (an in-app
// challenge has none). Its JSON is what package device's
// ParseInAppChallenge reads.
type InAppChallenge struct {
	ChallengeID string    `json:"challengeId"`
	Nonce       []byte    `json:"nonce"` // base64url in JSON, as in the device's fetch
	Action      string    `json:"action"`
	Details     Details   `json:"details"`
	ExpiresAt   time.Time `json:"expiresAt"`
	// CredentialID is the only credential that may answer, when the
	// application named one.
	CredentialID string `json:"credentialId,omitempty"`
}

// MarshalJSON encodes the nonce as base64url without padding, as every
// binary member of the protocol.
//
// It writes what encoding/json would, by hand (one allocation where the
// encoder makes a dozen; FuzzInAppChallengeMarshalAsEncoder), except that
// <, > and & are not escaped as \u003c, \u003e and \u0026.
func (c InAppChallenge) MarshalJSON() ([]byte, error) {
	n := len(`{"challengeId":"","action":"","details":,"expiresAt":"","credentialId":"","nonce":""}`) +
		len(c.ChallengeID) + len(c.Action) + protocol.CanonicalJSONSize(c.Details) + len(time.RFC3339Nano) + 8 +
		len(c.CredentialID) + base64.RawURLEncoding.EncodedLen(len(c.Nonce))
	b := make([]byte, 0, n)
	b = protocol.AppendJSONString(append(b, `{"challengeId":`...), c.ChallengeID)
	b = protocol.AppendJSONString(append(b, `,"action":`...), c.Action)
	b = appendDetailsJSON(append(b, `,"details":`...), c.Details)
	b, err := appendJSONTime(append(b, `,"expiresAt":`...), c.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("deviceauth: InAppChallenge.ExpiresAt: %w", err)
	}
	b = protocol.AppendOptionalJSONString(b, `,"credentialId":`, c.CredentialID)
	b = appendBase64JSON(append(b, `,"nonce":`...), c.Nonce)
	return append(b, '}'), nil
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
	// InApp is the challenge for the app's own phone, when it was tracked
	// InApp. Hand it only to that phone, over the application's own
	// authenticated channel: it holds the challenge's nonce.
	InApp *InAppChallenge `json:"inApp,omitempty"`
	// ActionID identifies the action's record in the history (Actions):
	// the challenge's ID when there is one. A REVIEW is decided by it
	// (DecideReview). Empty over a store that keeps no history.
	ActionID string `json:"actionId,omitempty"`
	// Rule names the rule that decided, "" for a default.
	Rule string `json:"rule,omitempty"`
}

// Track asks the policy whether an action may proceed and, when it needs a
// challenge and the user is enrolled, creates one. A user who has reached
// the wrong-code limit for this action is answered StateBlock until the
// window ends.
func (s *Service) Track(ctx context.Context, req TrackRequest) (TrackResult, error) {
	ctx, end := s.trace(ctx, "track", req.Action)
	res, err := s.track(ctx, req)
	end(outcomeOf(err, string(res.State)))
	return res, err
}

func (s *Service) track(ctx context.Context, req TrackRequest) (TrackResult, error) {
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
	switch {
	case req.InApp && (len(req.Methods) > 0 || req.VerificationCode):
		return TrackResult{}, ErrInvalidRequest.withMessage("an in-app challenge offers MethodInApp only and asks for no verification code")
	case !req.InApp && (req.CredentialID != "" || slices.Contains(req.Methods, MethodInApp)):
		return TrackResult{}, ErrInvalidRequest.withMessage("CredentialID and MethodInApp are for in-app challenges (TrackRequest.InApp)")
	case req.CredentialID != "" && !protocol.ValidID(req.CredentialID):
		return TrackResult{}, ErrInvalidRequest.withMessage("credentialID is not a credential ID")
	case req.InApp:
		req.Methods = []Method{MethodInApp}
	}
	if err := checkCustom(req.Custom); err != nil {
		return TrackResult{}, err
	}
	req.UserAgent = protocol.ContextText(req.UserAgent, maxUserAgentBytes)
	if req.Browser != "" && !validBrowserID(req.Browser) {
		req.Browser = "" // not one BrowserID minted: an unknown browser
	}
	details, err := protocol.NormalizeDetails(stepUpDetails(req.Action, req.Details))
	if err != nil {
		return TrackResult{}, detailsError(err)
	}
	now := s.now()
	if isDefaultPolicy(s.policy) && !slices.Contains(req.Methods, MethodPush) {
		return s.trackDefault(ctx, req, details, now)
	}
	var (
		read store.SignalRead
		sig  *risk.Signals
	)
	if isDefaultPolicy(s.policy) { // with push: the policy needs no signals
		if read.Counter, err = s.store.Counter(ctx, s.wrongCodeKey(req.UserID, req.Action), now); err != nil {
			return TrackResult{}, s.storeFailed(ctx, err)
		}
		if read.Credentials, err = s.store.ListCredentials(ctx, req.UserID); err != nil {
			return TrackResult{}, s.storeFailed(ctx, err)
		}
	} else {
		if read, err = s.readSignals(ctx, req, s.wrongCodeKey(req.UserID, req.Action), now); err != nil {
			return TrackResult{}, err
		}
		computed := s.signals(ctx, req, read, now)
		sig = &computed
	}
	wrong, creds, approvals := read.Counter, read.Credentials, read.Approvals
	res := TrackResult{Enrolled: len(creds) > 0}
	methods := req.Methods
	if len(methods) == 0 {
		methods = defaultMethods(kindsOf(creds))
	}
	if wrong >= int64(s.cfg.WrongCodeLimit) {
		res = s.blocked(ctx, req, res)
		res.Rule = ruleWrongCodes
		res.ActionID = s.putAction(ctx, s.actionRecord("", req, details, StateBlock, Decision{Rule: ruleWrongCodes}, sig, "", now))
		s.emitTracked(ctx, req, res)
		return res, nil
	}
	if id, err := s.useApproval(ctx, approvals, req, details, now); err != nil {
		return TrackResult{}, err
	} else if id != "" {
		res.State, res.Rule = StateAllow, ruleReview+id
		res.ActionID = s.putAction(ctx, s.actionRecord("", req, details, StateAllow, Decision{Rule: res.Rule}, sig, "", now))
		s.emitTracked(ctx, req, res)
		return res, nil
	}
	in := PolicyInput{UserID: req.UserID, Action: req.Action, Details: details, Enrolled: res.Enrolled,
		ClientIP: req.ClientIP, UserAgent: req.UserAgent, Methods: methods}
	if sig != nil {
		in.Signals = *sig
	}
	d, err := s.policy.Decide(ctx, in)
	if err != nil {
		return TrackResult{}, s.storeFailed(ctx, fmt.Errorf("policy: %w", err))
	}
	if d.Err != nil {
		s.log.WarnContext(ctx, "deviceauth: a rule failed; the policy failed closed", "action", req.Action, "rule", d.Rule, "error", d.Err.Error())
		s.emit(ctx, event.Event{Type: event.RuleError, UserID: req.UserID, Action: req.Action, Rule: d.Rule, Reason: "evaluation_error"})
	}
	res.Rule = d.Rule
	switch d.State {
	case StateAllow, StateBlock, StateReview:
		res.State = d.State
		res.ActionID = s.putAction(ctx, s.actionRecord("", req, details, d.State, d, sig, "", now))
		if d.State == StateBlock {
			s.emit(ctx, event.Event{Type: event.ActionBlocked, UserID: req.UserID, Action: req.Action, ClientIP: ipString(req.ClientIP), Reason: "policy", Rule: d.Rule})
		}
		s.emitTracked(ctx, req, res)
		return res, nil
	case StateChallengeRequired:
	default:
		return TrackResult{}, s.storeFailed(ctx, fmt.Errorf("policy: unknown state %q", d.State))
	}
	res.State = StateChallengeRequired
	if !res.Enrolled {
		res.ActionID = s.putAction(ctx, s.actionRecord("", req, details, StateChallengeRequired, d, sig, "", now))
		s.emitTracked(ctx, req, res)
		return res, nil
	}
	if len(d.Methods) > 0 {
		if only := slices.DeleteFunc(slices.Clone(methods), func(m Method) bool { return !slices.Contains(d.Methods, m) }); len(only) > 0 {
			methods = only
		}
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
	if s.actionStore() != nil {
		ch.Record = s.actionRecord(ch.ID, req, details, StateChallengeRequired, d, sig, ch.Method, now)
	}
	stored, err := s.store.CreateChallenge(ctx, ch, now)
	if err != nil {
		return TrackResult{}, s.storeFailed(ctx, err)
	}
	if stored.ID == ch.ID && push {
		s.pushRules(ctx, stored, creds)
	}
	return s.tracked(ctx, req, details, ch, stored, res)
}

// Rule names Track records for decisions no policy made.
const (
	ruleWrongCodes = "wrong_code_limit" // the user reached the wrong-code limit for the action
	ruleReview     = "review:"          // an operator's approval of the review it names let the action through
)

// emitTracked reports the outcome of a Track that created no challenge
// (ChallengeCreated reports those that did).
func (s *Service) emitTracked(ctx context.Context, req TrackRequest, res TrackResult) {
	s.emit(ctx, event.Event{Type: event.ActionTracked, UserID: req.UserID, ChallengeID: res.ActionID, Action: req.Action,
		ClientIP: ipString(req.ClientIP), Reason: string(res.State), Rule: res.Rule})
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
		kinds, methods = deviceKindsOnly, deviceMethodsOnly
	}
	// Kinds change only when credentials are added or removed meanwhile:
	// a third refusal means the store does not keep its contract.
	for range 3 {
		ch := s.newChallenge(req, details, methods, s.codeByDefault(req.Action, methods), 0, now)
		if s.actionStore() != nil {
			ch.Record = s.actionRecord(ch.ID, req, details, StateChallengeRequired, Decision{}, nil, ch.Method, now)
		}
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
			res = s.blocked(ctx, req, res)
			res.Rule = ruleWrongCodes
			res.ActionID = s.putAction(ctx, s.actionRecord("", req, details, StateBlock, Decision{Rule: ruleWrongCodes}, nil, "", now))
			s.emitTracked(ctx, req, res)
			return res, nil
		case !res.Enrolled:
			res.State = StateChallengeRequired
			res.ActionID = s.putAction(ctx, s.actionRecord("", req, details, StateChallengeRequired, Decision{}, nil, "", now))
			s.emitTracked(ctx, req, res)
			return res, nil
		case begun.Challenge.ID != "":
			res.State = StateChallengeRequired
			return s.tracked(ctx, req, details, ch, begun.Challenge, res)
		}
		// The user's credentials are of other kinds than the challenge was
		// built for (or changed meanwhile): build it again for those.
		kinds = begun.Kinds
		methods = defaultMethods(kinds)
	}
	return TrackResult{}, s.storeFailed(ctx, errors.New("store: BeginChallenge refused the kinds it reported three times"))
}

// deviceKindsOnly and deviceMethodsOnly are what trackDefault builds a
// challenge for first (most users have device keys only), shared: neither
// is changed by those that read them.
var (
	deviceKindsOnly   = []store.CredentialKind{store.KindDevice}
	deviceMethodsOnly = defaultMethods(deviceKindsOnly)
)

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
	return !s.cfg.ApproveOnly && !slices.Contains(methods, MethodInApp) &&
		(action == ActionAddAuthenticator || action == ActionRemoveAuthenticator || slices.Contains(methods, MethodPush))
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

// newChallenge builds the challenge Track creates for req, whose
// UserAgent Track normalised. A challenge no
// device key may answer carries no code: a passkey's user verification is
// its proof.
func (s *Service) newChallenge(req TrackRequest, details Details, methods []Method, code bool, codeDigits int, now time.Time) store.Challenge {
	digest := protocol.DetailsDigest(details)
	prefix := "ch"
	switch {
	case req.InApp:
		prefix = inAppPrefix
	case req.compat:
		prefix, code = compatTrackedPrefix, false
	}
	ch := store.Challenge{
		ID: ids.NewUserID(prefix, req.UserID), UserID: req.UserID, ClaimedBy: req.CredentialID, Action: req.Action, State: store.StatePending,
		Method: string(primaryMethod(methods)), Methods: methodStrings(methods), Nonce: newNonce(),
		Details: protocol.CanonicalJSON(details), DetailsDigest: digest[:],
		IdempotencyKey: req.IdempotencyKey, ClientIP: ipString(req.ClientIP),
		UserAgent: req.UserAgent, CreatedAt: now, ExpiresAt: now.Add(s.cfg.ChallengeTTL),
		AttestationRequired: req.Attestation.encode(),
	}
	if (code || req.VerificationCode) && !req.InApp && !req.compat && slices.ContainsFunc(methods, deviceMethod) {
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
// be for the same action and details (its digest equals ch's, so details,
// the normalised details of both, are its details too).
func (s *Service) tracked(ctx context.Context, req TrackRequest, details Details, ch, stored store.Challenge, res TrackResult) (TrackResult, error) {
	if stored.ID != ch.ID {
		if stored.Action != ch.Action || subtle.ConstantTimeCompare(stored.DetailsDigest, ch.DetailsDigest) != 1 ||
			isInApp(stored.ID) != isInApp(ch.ID) || isCompat(stored.ID) != isCompat(ch.ID) {
			return TrackResult{}, ErrIdempotencyConflict
		}
	} else {
		s.emit(ctx, event.Event{Type: event.ChallengeCreated, UserID: req.UserID, ChallengeID: ch.ID, Action: req.Action, ClientIP: ch.ClientIP, Rule: res.Rule})
	}
	res.ChallengeID = stored.ID
	if s.actionStore() != nil {
		res.ActionID = stored.ID
	}
	res.Token = s.challengeToken(stored.ID)
	res.ExpiresAt = stored.ExpiresAt
	res.Methods = toMethods(stored.Methods)
	res.VerificationCode = stored.VerificationCode
	if isInApp(stored.ID) {
		res.VerificationCode = "" // there is none; never hand one to the phone
		s.answers.putChallenge(stored)
		res.InApp = &InAppChallenge{ChallengeID: stored.ID, Nonce: stored.Nonce, Action: stored.Action,
			Details: details, ExpiresAt: stored.ExpiresAt, CredentialID: stored.ClaimedBy}
	}
	return res, nil
}

// inAppPrefix starts the ID of every challenge tracked InApp, so that the
// ID alone (and the token, which carries it under its MAC) tells the path
// a challenge is answered by, with no store read.
const inAppPrefix = "ia"

// isInApp reports whether challenge id was tracked InApp.
func isInApp(id string) bool { return strings.HasPrefix(id, inAppPrefix+"_") }

// detailsError is ErrInvalidDetails saying which rule refused the details,
// without the internal package's prefix.
func detailsError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "protocol: invalid details: ")
	return ErrInvalidDetails.with(err).withMessage("the details are not acceptable: " + msg)
}
