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
	"unicode"
	"unicode/utf8"

	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// Details are what the device shows the user before it signs: a message
// and up to 20 labelled fields (amount, payee, …). Track normalises them
// (NFC; control, bidi and zero-width characters refused; caps of DESIGN §4)
// and binds their digest into the challenge.
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
	VerificationCode bool
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
	details, err := protocol.NormalizeDetails(req.Details)
	if err != nil {
		return TrackResult{}, detailsError(err)
	}
	now := s.now()
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
		methods = defaultMethods(creds)
	}
	if wrong >= int64(s.cfg.WrongCodeLimit) {
		res.State = StateBlock
		s.emit(ctx, Event{Type: EventActionBlocked, UserID: req.UserID, Action: req.Action, ClientIP: ipString(req.ClientIP), Reason: "wrong_code_limit"})
		return res, nil
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
	digest := protocol.DetailsDigest(details)
	ch := store.Challenge{
		ID: "ch_" + protocol.NewID(), UserID: req.UserID, Action: req.Action, State: store.StatePending,
		Method: string(primaryMethod(methods)), Methods: methodStrings(methods), Nonce: newNonce(),
		Details: protocol.CanonicalJSON(details), DetailsDigest: digest[:],
		IdempotencyKey: req.IdempotencyKey, ClientIP: ipString(req.ClientIP),
		UserAgent: truncate(req.UserAgent, 512), CreatedAt: now, ExpiresAt: now.Add(s.cfg.ChallengeTTL),
	}
	if d.VerificationCode || req.VerificationCode {
		n := d.CodeDigits
		if n == 0 {
			n = s.cfg.VerificationCodeDigits
		}
		ch.VerificationCode = newCode(min(max(n, 2), maxCodeDigits))
	}
	stored, err := s.store.CreateChallenge(ctx, ch, now)
	if err != nil {
		return TrackResult{}, s.storeFailed(ctx, err)
	}
	if stored.ID != ch.ID {
		if stored.Action != ch.Action || subtle.ConstantTimeCompare(stored.DetailsDigest, ch.DetailsDigest) != 1 {
			return TrackResult{}, ErrIdempotencyConflict
		}
	} else {
		s.emit(ctx, Event{Type: EventChallengeCreated, UserID: req.UserID, ChallengeID: ch.ID, Action: req.Action, ClientIP: ch.ClientIP})
		if push {
			s.pushRules(ctx, stored, creds)
		}
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
// was approved by userID's device for action and details. It consumes the
// challenge: of any number of concurrent calls with the same token, on any
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
	details, err := protocol.NormalizeDetails(req.Details)
	if err != nil {
		return failed, nil
	}
	now := s.now()
	ch, err := s.store.GetChallenge(ctx, id, now)
	if errors.Is(err, store.ErrNotFound) {
		return failed, nil
	}
	if err != nil {
		return failed, s.storeFailed(ctx, err)
	}
	digest := protocol.DetailsDigest(details)
	fail := func(reason string) (Validation, error) {
		s.emit(ctx, Event{Type: EventValidationFailed, UserID: req.UserID, ChallengeID: id, Action: req.Action, Reason: reason})
		return failed, nil
	}
	switch {
	case ch.UserID != req.UserID || ch.UserID == "":
		return fail("other_user")
	case ch.Action != req.Action:
		return fail("other_action")
	case subtle.ConstantTimeCompare(ch.DetailsDigest, digest[:]) != 1:
		return fail("other_details")
	case ch.State != store.StateApproved:
		return fail("state_" + strings.ToLower(string(ch.State)))
	}
	consumed, err := s.store.TransitionChallenge(ctx, id, store.Transition{From: store.StateApproved, To: store.StateConsumed, UserID: req.UserID}, now)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return fail("already_used")
	}
	if err != nil {
		return failed, s.storeFailed(ctx, err)
	}
	// Revocation is checked after the challenge is consumed: a credential
	// removed before this read can no longer make any token valid.
	cred, err := s.store.GetCredential(ctx, consumed.CredentialID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && cred.UserID != req.UserID) {
		return fail("credential_revoked")
	}
	if err != nil {
		return failed, s.storeFailed(ctx, err)
	}
	s.emit(ctx, Event{Type: EventChallengeValidated, UserID: req.UserID, ChallengeID: id, Action: req.Action, CredentialID: cred.ID})
	return Validation{
		Valid: true, State: StateChallengeSucceeded, ChallengeID: id, UserID: ch.UserID, Action: ch.Action,
		CredentialID: cred.ID, Method: methodOf(consumed, cred), Details: details, ValidatedAt: now,
	}, nil
}

// Status reports the lifecycle state of the challenge behind token
// (PENDING, APPROVED, DENIED, …) without consuming it, so a page can tell
// "not approved yet" from "denied". A token that is not valid, or not
// userID's, is ErrNotFound.
func (s *Service) Status(ctx context.Context, token, userID string) (string, error) {
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
	return string(ch.State), nil
}

// detailsError is ErrInvalidDetails saying which rule refused the details,
// without the internal package's prefix.
func detailsError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "protocol: invalid details: ")
	return ErrInvalidDetails.with(err).withMessage("the details are not acceptable: " + msg)
}

// methodOf reports how a challenge was answered.
func methodOf(ch store.Challenge, cred store.Credential) Method {
	if cred.Kind == store.KindPasskey {
		return MethodPasskey
	}
	if ch.Method != "" {
		return Method(ch.Method)
	}
	return MethodDevice
}

// ChallengeView is what a device sees of a challenge: enough to show the
// user what they approve and to build the response message (DESIGN §4).
// It never carries the verification code, which the user must type.
type ChallengeView struct {
	ChallengeID string `json:"challengeId"`
	Action      string `json:"action"`
	// State is the challenge's lifecycle state (PENDING, APPROVED, …).
	State   string    `json:"state"`
	Nonce   Base64URL `json:"nonce"`
	Details Details   `json:"details"`
	// VerificationCodeRequired says the user must type the code shown on
	// the primary screen.
	VerificationCodeRequired bool   `json:"verificationCodeRequired"`
	Method                   string `json:"method"`
	ClientIP                 string `json:"clientIp,omitempty"`
	UserAgent                string `json:"userAgent,omitempty"`
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

// FetchChallenge returns challenge id to a device of its user. A challenge
// of another user is ErrNotFound, the same answer as an unknown one.
func (s *Service) FetchChallenge(ctx context.Context, dev DeviceIdentity, id string) (ChallengeView, error) {
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
	if ch.UserID != dev.UserID || ch.Method == ceremonyMethod {
		return ChallengeView{}, ErrNotFound
	}
	return s.view(ch), nil
}

// PendingChallenges lists the pending challenges of a device's user,
// oldest first, so that polling alone works without push.
func (s *Service) PendingChallenges(ctx context.Context, dev DeviceIdentity) ([]ChallengeView, error) {
	chs, err := s.store.ListPendingChallenges(ctx, dev.UserID, s.now())
	if err != nil {
		return nil, s.storeFailed(ctx, err)
	}
	out := make([]ChallengeView, len(chs))
	for i, ch := range chs {
		out[i] = s.view(ch)
	}
	return out, nil
}

// Response is a device's signed answer to a challenge (DESIGN §4).
type Response struct {
	ChallengeID      string
	CredentialID     string
	Decision         string // "approve" or "deny"
	DenyReason       string // [A-Za-z0-9_.:-]{0,64}, deny only
	VerificationCode string // as typed; approve only
	SignatureFormat  string // der (default) or raw, for ES256
	Signature        []byte
	ClientIP         netip.Addr
}

// ResponseResult reports a challenge's state after a response.
type ResponseResult struct {
	ChallengeID string `json:"challengeId"`
	State       string `json:"state"`
}

// Respond records a device's approval or denial. The server rebuilds the
// signed message from the stored challenge and verifies it with the key of
// the named credential, which must belong to the challenge's user. Only a
// validly signed approval with a wrong code counts against the wrong-code
// limit; the limit-th in the window fails the challenge.
func (s *Service) Respond(ctx context.Context, r Response) (ResponseResult, error) {
	if err := s.limit(ctx, "respond", r.ClientIP.String(), s.cfg.RateLimits.Respond); err != nil {
		return ResponseResult{}, err
	}
	switch {
	case !protocol.ValidID(r.ChallengeID) || !protocol.ValidID(r.CredentialID):
		return ResponseResult{}, ErrInvalidResponse
	case r.Decision != protocol.DecisionApprove && r.Decision != protocol.DecisionDeny:
		return ResponseResult{}, ErrInvalidRequest.withMessage(`decision must be "approve" or "deny"`)
	case r.Decision == protocol.DecisionApprove && r.DenyReason != "":
		return ResponseResult{}, ErrInvalidRequest.withMessage("denyReason is only for deny")
	case r.DenyReason != "" && !protocol.ValidAction(r.DenyReason):
		return ResponseResult{}, ErrInvalidRequest.withMessage("denyReason must be at most 64 characters of [A-Za-z0-9_.:-]")
	case len(r.VerificationCode) > maxCodeDigits || !digitsOnly(r.VerificationCode):
		return ResponseResult{}, ErrInvalidRequest.withMessage("verificationCode must be digits")
	}
	now := s.now()
	ch, err := s.store.GetChallenge(ctx, r.ChallengeID, now)
	if errors.Is(err, store.ErrNotFound) {
		return ResponseResult{}, ErrInvalidResponse
	}
	if err != nil {
		return ResponseResult{}, s.storeFailed(ctx, err)
	}
	// The key is the one stored for the challenge's user: never chosen by
	// the request alone.
	cred, err := s.store.GetCredential(ctx, r.CredentialID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (cred.UserID != ch.UserID || cred.Kind != store.KindDevice)) {
		return ResponseResult{}, ErrInvalidResponse
	}
	if err != nil {
		return ResponseResult{}, s.storeFailed(ctx, err)
	}
	key, err := s.pubkeys.parse(cred.Algorithm, cred.PublicKey)
	if err != nil {
		return ResponseResult{}, s.storeFailed(ctx, fmt.Errorf("stored key of credential %s: %w", cred.ID, err))
	}
	msg := protocol.ResponseMessage(protocol.Response{
		ChallengeID: ch.ID, Nonce: ch.Nonce, Action: ch.Action, CredentialID: cred.ID,
		Decision: r.Decision, DenyReason: r.DenyReason, VerificationCode: r.VerificationCode,
		DetailsDigest: ch.DetailsDigest,
	})
	if err := key.Verify(r.SignatureFormat, msg, r.Signature); err != nil {
		if e := signatureError(err); e != nil {
			return ResponseResult{}, e
		}
		s.emit(ctx, Event{Type: EventSignatureRejected, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, ClientIP: ipString(r.ClientIP), Reason: "response"})
		return ResponseResult{}, ErrInvalidResponse
	}
	if ch.State != store.StatePending {
		return ResponseResult{ChallengeID: ch.ID, State: string(ch.State)}, ErrChallengeClosed
	}
	if r.Decision == protocol.DecisionApprove && ch.VerificationCode != "" &&
		subtle.ConstantTimeCompare([]byte(r.VerificationCode), []byte(ch.VerificationCode)) != 1 {
		return s.wrongCode(ctx, ch, cred, r, now)
	}
	to, event := store.StateApproved, EventChallengeApproved
	if r.Decision == protocol.DecisionDeny {
		to, event = store.StateDenied, EventChallengeDenied
	}
	next, err := s.store.TransitionChallenge(ctx, ch.ID, store.Transition{
		From: store.StatePending, To: to, UserID: ch.UserID, CredentialID: cred.ID, DenyReason: r.DenyReason, AnsweredAt: now,
	}, now)
	if errors.Is(err, store.ErrConflict) {
		cur, gerr := s.store.GetChallenge(ctx, ch.ID, now)
		if gerr != nil {
			return ResponseResult{}, ErrChallengeClosed
		}
		return ResponseResult{ChallengeID: ch.ID, State: string(cur.State)}, ErrChallengeClosed
	}
	if err != nil {
		return ResponseResult{}, s.storeFailed(ctx, err)
	}
	if _, err := s.store.UpdateCredential(ctx, cred.UserID, cred.ID, store.CredentialUpdate{LastUsedAt: now}); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.WarnContext(ctx, "deviceauth: recording last use failed", "credentialId", cred.ID, "error", err.Error())
	}
	s.emit(ctx, Event{Type: event, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, Action: ch.Action, ClientIP: ipString(r.ClientIP), Reason: r.DenyReason})
	if r.DenyReason == DenyReasonNotMe {
		s.reportNotMe(ctx, ch, cred.ID)
	}
	return ResponseResult{ChallengeID: ch.ID, State: string(next.State)}, nil
}

// wrongCode counts a validly signed approval with a wrong code against the
// (user, action) window, and fails the challenge at the limit.
func (s *Service) wrongCode(ctx context.Context, ch store.Challenge, cred store.Credential, r Response, now time.Time) (ResponseResult, error) {
	n, err := s.store.IncrementCounter(ctx, s.wrongCodeKey(ch.UserID, ch.Action), s.cfg.WrongCodeWindow, now)
	if err != nil {
		return ResponseResult{}, s.storeFailed(ctx, err)
	}
	cur, err := s.store.RecordAttempt(ctx, ch.ID, store.StatePending, now)
	if errors.Is(err, store.ErrConflict) {
		return ResponseResult{}, ErrChallengeClosed
	}
	if err != nil {
		return ResponseResult{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, Event{Type: EventWrongCode, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, Action: ch.Action, ClientIP: ipString(r.ClientIP)})
	if n < int64(s.cfg.WrongCodeLimit) {
		return ResponseResult{ChallengeID: ch.ID, State: string(cur.State)}, ErrWrongCode
	}
	failed, err := s.store.TransitionChallenge(ctx, ch.ID, store.Transition{
		From: store.StatePending, To: store.StateFailed, UserID: ch.UserID, CredentialID: cred.ID, AnsweredAt: now,
	}, now)
	if errors.Is(err, store.ErrConflict) {
		return ResponseResult{}, ErrChallengeClosed
	}
	if err != nil {
		return ResponseResult{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, Event{Type: EventChallengeFailed, UserID: ch.UserID, CredentialID: cred.ID, ChallengeID: ch.ID, Action: ch.Action, Reason: "wrong_code_limit"})
	return ResponseResult{ChallengeID: ch.ID, State: string(failed.State)}, ErrWrongCode
}

// wrongCodeKey names the wrong-code counter of (user, action); the user's
// length is part of it, so no two pairs share a key.
func (s *Service) wrongCodeKey(userID, action string) string {
	return fmt.Sprintf("wrongcode:%d:%s:%s", len(userID), userID, action)
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
		s.emit(ctx, Event{Type: EventRateLimited, Reason: name})
		return ErrRateLimited
	}
	return nil
}

// storeFailed reports a store (or context) failure and returns
// ErrUnavailable with err as its cause.
func (s *Service) storeFailed(ctx context.Context, err error) error {
	if e := (*Error)(nil); errors.As(err, &e) {
		return err
	}
	s.emit(ctx, Event{Type: EventStoreError, Reason: err.Error()})
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

// defaultMethods are the methods a user's credentials can answer.
func defaultMethods(creds []store.Credential) []Method {
	var ms []Method
	if slices.ContainsFunc(creds, func(c store.Credential) bool { return c.Kind == store.KindDevice }) {
		ms = append(ms, MethodDevice)
	}
	if slices.ContainsFunc(creds, func(c store.Credential) bool { return c.Kind == store.KindPasskey }) {
		ms = append(ms, MethodPasskey)
	}
	if len(ms) == 0 {
		ms = []Method{MethodDevice}
	}
	return ms
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

func validUserID(s string) bool {
	return s != "" && len(s) <= maxUserIDBytes && utf8.ValidString(s)
}

// validText reports whether s is valid UTF-8 without control characters.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// truncate cuts s to at most n bytes of valid UTF-8.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
