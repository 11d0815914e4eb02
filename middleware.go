package deviceauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/deviceauth/deviceauth/risk"

	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// TokenHeader carries a challenge token when a client retries a gated
// request. Tokens never travel in URLs.
const TokenHeader = "Deviceauth-Token"

// UserResolver says who is logged in. ResolveUser returns the user ID, ""
// with a nil error when nobody is (a missing, stale or undecodable session
// is nobody, not an error), or an error when it cannot tell (its store
// failed), on which gated routes fail closed with 503.
type UserResolver interface {
	ResolveUser(r *http.Request) (string, error)
}

// UserResolverFunc adapts a function to UserResolver.
type UserResolverFunc func(r *http.Request) (string, error)

// ResolveUser calls f.
func (f UserResolverFunc) ResolveUser(r *http.Request) (string, error) { return f(r) }

// DetailsFunc extracts the details of a gated request (amount, payee, …)
// so they are bound into the challenge: a token approved for one amount
// does not pass a request with another. body is the request body, buffered
// up to Config.MaxBodyBytes; the handler still reads it in full. An error
// answers 400 invalid_request with the error's text as the message.
type DetailsFunc func(r *http.Request, body []byte) (Details, error)

// RequireOption configures Require.
type RequireOption func(*requireConfig)

type requireConfig struct {
	tokenOf  func(*http.Request) string
	idemOf   func(*http.Request) string
	memory   StepUpMemory
	details  DetailsFunc
	methods  []Method
	code     bool
	onError  func(http.ResponseWriter, *http.Request, *Denial)
	resolver UserResolver
	// attestation is required of the approving device (WithAttestation).
	attestation AttestationRequirement
	custom      func(r *http.Request, details Details) (map[string]any, risk.Amount, error)
	// weak admits compat credentials' approvals (WithWeakBinding).
	weak bool
}

// WithWeakBinding lets the route pass a token approved by a compat
// credential (package compat/authsignal), whose signature binds the
// challenge ID alone — not the decision, action or details
// (docs/compat-authsignal.md) — and which carries no verification code:
// such a route asks for number matching only with WithVerificationCode.
// Without it (the default) those tokens do not pass.
func WithWeakBinding() RequireOption { return func(c *requireConfig) { c.weak = true } }

// WithCustomData passes the application's own data that f extracts from
// each gated request to the rules: custom values (TrackRequest.Custom,
// custom.* in CEL) and the amount the action moves (TrackRequest.Amount,
// amount.*). details are those WithDetails extracted. An error from f
// answers 400 invalid_request.
func WithCustomData(f func(r *http.Request, details Details) (custom map[string]any, amount risk.Amount, err error)) RequireOption {
	return func(c *requireConfig) { c.custom = f }
}

// WithDetails binds the details that f extracts from each request.
func WithDetails(f DetailsFunc) RequireOption { return func(c *requireConfig) { c.details = f } }

// WithMethods sets the verification methods offered (default: those the
// user's credentials answer) and the only ones whose answer passes: with
// WithMethods(MethodPasskey) the route passes on a passkey assertion only.
// The check is part of Validate's atomic store call; a token approved
// another way is refused and stays unused.
func WithMethods(ms ...Method) RequireOption {
	return func(c *requireConfig) { c.methods = append([]Method(nil), ms...) }
}

// WithVerificationCode asks for number matching on every challenge of this
// route, whatever the policy says. It is the default unless
// Config.ApproveOnly is set; either way, a token whose device approval was
// made without a code does not pass a route that asks for one.
func WithVerificationCode() RequireOption { return func(c *requireConfig) { c.code = true } }

// WithErrorHandler writes this route's refusals with f instead of
// Config.ErrorHandler (or the default JSON). f must write the response;
// d.Status and d.Body are what Require would have sent, and d.Header its
// WWW-Authenticate.
func WithErrorHandler(f func(w http.ResponseWriter, r *http.Request, d *Denial)) RequireOption {
	return func(c *requireConfig) { c.onError = f }
}

// WithTokenFrom reads the challenge token with f instead of from the
// Deviceauth-Token header — for an HTML form, which cannot set headers,
// from a hidden field. Never read it from the URL.
func WithTokenFrom(f func(r *http.Request) string) RequireOption {
	return func(c *requireConfig) { c.tokenOf = f }
}

// WithIdempotencyKey derives Track's idempotency key from the request
// (e.g. an Idempotency-Key header or a form's nonce), so a re-submitted
// request gets the same challenge instead of a new one.
func WithIdempotencyKey(f func(r *http.Request) string) RequireOption {
	return func(c *requireConfig) { c.idemOf = f }
}

// WithStepUpMemory lets a recent approval of the same action and details
// by the same user pass without a new challenge, for as long as m
// remembers it (adapters/gorillasession keeps it in the session). The
// approving credential must still exist. Off unless given.
func WithStepUpMemory(m StepUpMemory) RequireOption { return func(c *requireConfig) { c.memory = m } }

// StepUp is a remembered approval: UserID passed Action with the details
// whose digest is DetailsDigest, approved by CredentialID, at At.
type StepUp struct {
	UserID        string    `json:"u"`
	Action        string    `json:"a"`
	DetailsDigest []byte    `json:"d"`
	CredentialID  string    `json:"c"`
	At            time.Time `json:"t"`
}

// StepUpMemory remembers approvals for a while. Recall reports the
// remembered approval of (user, action, digest) that is still within the
// memory's window at now; Remember records one after a token validated.
// Recall errors fail the request closed (503); Remember errors are logged.
type StepUpMemory interface {
	Recall(r *http.Request, userID, action string, detailsDigest []byte, now time.Time) (StepUp, bool, error)
	Remember(w http.ResponseWriter, r *http.Request, su StepUp) error
}

// WithUserResolver sets who is logged in for this route, instead of
// Config.Users.
func WithUserResolver(u UserResolver) RequireOption { return func(c *requireConfig) { c.resolver = u } }

// Denial is a refusal the Service answers: of a gated request
// (docs/architecture.md#gating-routes) or of one of Handler's endpoints.
// Config.ErrorHandler, when set, writes every one.
type Denial struct {
	Status int
	// Header is the WWW-Authenticate value, set only for challenge_required.
	Header string
	Body   DenialBody
	// Err is the cause, for logs; never sent.
	Err error
}

// DenialBody is the JSON body of every refusal. State is the action's
// state for a refusal of Require, and the challenge's state (e.g.
// APPROVED) for a challenge that is no longer pending.
type DenialBody struct {
	Error            string      `json:"error"`
	Message          string      `json:"message"`
	State            ActionState `json:"state,omitempty"`
	ChallengeID      string      `json:"challengeId,omitempty"`
	Token            string      `json:"token,omitempty"`
	ExpiresAt        time.Time   `json:"expiresAt,omitzero"`
	Methods          []Method    `json:"methods,omitempty"`
	VerificationCode string      `json:"verificationCode,omitempty"`
	// ActionID names the action held for review (error "review"), for the
	// operator and the user's support request.
	ActionID string `json:"actionId,omitempty"`
}

// Require gates a route on action: the handler runs only when the policy
// allows the action or the request carries a valid Deviceauth-Token for
// this user, action and details. Otherwise it answers (docs/architecture.md#gating-routes):
//
//	no logged-in user                401 unauthenticated
//	no token, challenge needed       401 challenge_required, WWW-Authenticate: Deviceauth …,
//	                                     with challengeId, token, expiresAt, methods
//	token invalid/used/other binding 403 challenge_failed (never tracks again)
//	policy BLOCK / REVIEW            403 blocked / review (with actionId; once an
//	                                     operator approved, a retry with the same
//	                                     details passes once)
//	user without a credential        403 enrollment_required
//	store error                      503 unavailable (the handler never runs)
//
// FromContext gives the handler the validation. Require panics when no
// UserResolver is configured, as a mux panics on a bad pattern.
func (s *Service) Require(action string, opts ...RequireOption) func(http.Handler) http.Handler {
	c := requireConfig{resolver: s.cfg.Users}
	for _, o := range opts {
		o(&c)
	}
	if c.resolver == nil {
		panic("deviceauth: Require needs Config.Users or WithUserResolver")
	}
	if _, err := checkMethods(c.methods); err != nil {
		panic("deviceauth: Require: " + err.Error())
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v, d := s.gate(w, r, action, &c)
			if d != nil {
				if c.onError != nil {
					c.onError(w, r, d)
					return
				}
				s.writeDenial(w, r, d)
				return
			}
			next.ServeHTTP(w, gatedRequest(r, v))
		})
	}
}

// gate decides a gated request: a validation to run the handler with, or a
// denial.
func (s *Service) gate(w http.ResponseWriter, r *http.Request, action string, c *requireConfig) (Validation, *Denial) {
	ctx := r.Context()
	user, err := c.resolver.ResolveUser(r)
	if err != nil {
		return Validation{}, deny(ErrUnavailable.with(err))
	}
	if user == "" {
		return Validation{}, deny(ErrUnauthenticated)
	}
	var details Details
	if c.details != nil {
		body, err := s.bufferBody(w, r)
		if err != nil {
			return Validation{}, deny(err)
		}
		if details, err = c.details(r, body); err != nil {
			return Validation{}, deny(ErrInvalidRequest.with(err).withMessage(err.Error()))
		}
	}
	token := r.Header.Get(TokenHeader)
	if c.tokenOf != nil {
		token = c.tokenOf(r)
	}
	if token != "" {
		v, err := s.Validate(ctx, ValidateRequest{Token: token, UserID: user, Action: action, Details: details,
			Methods: c.methods, VerificationCode: c.code || (!s.cfg.ApproveOnly && !c.weak), Attestation: c.attestation,
			WeakBinding: c.weak})
		if err != nil {
			return Validation{}, deny(err)
		}
		if !v.Valid {
			return Validation{}, &Denial{Status: http.StatusForbidden, Body: DenialBody{Error: "challenge_failed",
				Message: "the token is not valid for this user, action and details", State: StateChallengeFailed}}
		}
		if c.memory != nil {
			su := StepUp{UserID: user, Action: action, DetailsDigest: digestOf(v.Details), CredentialID: v.CredentialID, At: v.ValidatedAt}
			if err := c.memory.Remember(w, r, su); err != nil {
				s.log.WarnContext(ctx, "deviceauth: remembering a step-up failed", "userId", user, "action", action, "error", err.Error())
			}
		}
		return v, nil
	}
	if c.memory != nil {
		if v, ok, err := s.recall(r, c.memory, user, action, details, c.methods, c.weak, c.attestation); err != nil {
			return Validation{}, deny(err)
		} else if ok {
			return v, nil
		}
	}
	var idem string
	if c.idemOf != nil {
		idem = c.idemOf(r)
	}
	// A route that admits in-app answers (MethodInApp) accepts their
	// tokens, but the challenges it tracks itself are for other devices:
	// only an application's backend tracks in-app, for its own phone.
	methods := slices.DeleteFunc(slices.Clone(c.methods), func(m Method) bool { return m == MethodInApp })
	if len(c.methods) > 0 && len(methods) == 0 {
		return Validation{}, deny(ErrStepUpRequired.withMessage("this route passes in-app answers only: the application tracks them for its phone"))
	}
	req := TrackRequest{UserID: user, Action: action, Details: details, ClientIP: s.ClientIP(r),
		UserAgent: r.UserAgent(), Methods: methods, VerificationCode: c.code || !s.cfg.ApproveOnly, IdempotencyKey: idem, Attestation: c.attestation}
	if !isDefaultPolicy(s.policy) { // the browser is a signal for rules
		req.Browser = BrowserID(w, r)
	}
	if c.custom != nil {
		if req.Custom, req.Amount, err = c.custom(r, details); err != nil {
			return Validation{}, deny(ErrInvalidRequest.with(err).withMessage(err.Error()))
		}
	}
	res, err := s.Track(ctx, req)
	if err != nil {
		return Validation{}, deny(err)
	}
	return s.trackDenial(user, action, details, res)
}

// trackDenial turns a Track result into the answer of a gated request.
func (s *Service) trackDenial(user, action string, details Details, res TrackResult) (Validation, *Denial) {
	refuse := func(code, msg string) (Validation, *Denial) {
		return Validation{}, &Denial{Status: http.StatusForbidden, Body: DenialBody{Error: code, Message: msg, State: res.State}}
	}
	switch {
	case res.State == StateAllow:
		return Validation{State: StateAllow, UserID: user, Action: action, Details: details}, nil
	case res.State == StateBlock:
		return refuse("blocked", "the action is blocked")
	case res.State == StateReview:
		v, d := refuse("review", "the action is held for review: retry once an operator approved it")
		d.Body.ActionID = res.ActionID
		return v, d
	case !res.Enrolled || res.ChallengeID == "":
		// No state: the policy wanted a challenge, but there is none, and
		// none can be approved until the user enrols a device.
		return Validation{}, &Denial{Status: http.StatusForbidden, Body: DenialBody{Error: "enrollment_required",
			Message: "the user has no device to approve with: enrol one first"}}
	}
	return Validation{}, &Denial{
		Status: http.StatusUnauthorized,
		Header: challengeHeader(res.ChallengeID, action),
		Body: DenialBody{Error: "challenge_required", Message: "approve the challenge on your device, then retry with the token",
			State: res.State, ChallengeID: res.ChallengeID, Token: res.Token, ExpiresAt: res.ExpiresAt,
			Methods: res.Methods, VerificationCode: res.VerificationCode},
	}
}

// challengeHeader is the WWW-Authenticate value of a challenge_required
// denial: `Deviceauth challenge_id="…", action="…"`, built in one buffer.
func challengeHeader(challengeID, action string) string {
	b := make([]byte, 0, 48+len(challengeID)+len(action))
	b = strconv.AppendQuote(append(b, `Deviceauth challenge_id=`...), challengeID)
	b = strconv.AppendQuote(append(b, `, action=`...), action)
	return string(b)
}

// deny turns a Service error into a denial with its status and code.
func deny(err error) *Denial {
	e := asError(err)
	return &Denial{Status: e.Status, Body: DenialBody{Error: e.Code, Message: e.Message, State: ActionState(e.State)}, Err: err}
}

func (s *Service) writeDenial(w http.ResponseWriter, r *http.Request, d *Denial) {
	if s.cfg.ErrorHandler != nil {
		s.cfg.ErrorHandler(w, r, d)
		return
	}
	if d.Header != "" {
		w.Header()["Www-Authenticate"] = []string{d.Header} // the canonical key: Set would make it again
	}
	b, err := d.Body.appendJSON(make([]byte, 0, d.Body.jsonSize()))
	if err != nil {
		writeJSON(w, d.Status, d.Body) // encoding/json's answer to a time it refuses
		return
	}
	writeRaw(w, d.Status, b)
}

// bufferBody reads r's body up to the limit and puts it back for the
// handler.
func (s *Service) bufferBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody || r.PostForm != nil {
		// No body, or one the application read already (a form it parsed
		// before the gate, for a token): nothing left to buffer.
		return nil, nil
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	r.Body = &bufferedBody{Reader: *bytes.NewReader(body)}
	return body, nil
}

// bufferedBody is a request body read into memory, handed back to the
// handler: one allocation where io.NopCloser(bytes.NewReader) makes two.
type bufferedBody struct{ bytes.Reader }

// Close does nothing: the body is in memory.
func (*bufferedBody) Close() error { return nil }

// recall looks for a remembered step-up and checks that its credential
// still exists for the user, is of a kind that answers methods and meets
// the attestation requirement req.
func (s *Service) recall(r *http.Request, m StepUpMemory, user, action string, details Details, methods []Method, weak bool, req AttestationRequirement) (Validation, bool, error) {
	norm, err := protocol.NormalizeDetails(details)
	if err != nil {
		return Validation{}, false, detailsError(err)
	}
	su, ok, err := m.Recall(r, user, action, digestOf(norm), s.now())
	if err != nil {
		return Validation{}, false, ErrUnavailable.with(err)
	}
	if !ok || su.UserID != user || su.Action != action {
		return Validation{}, false, nil
	}
	cred, err := s.store.GetCredential(r.Context(), su.CredentialID)
	kinds := admittedKinds(methods, weak)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (cred.UserID != user || !slices.Contains(kinds, cred.Kind))) {
		return Validation{}, false, nil
	}
	if err != nil {
		return Validation{}, false, s.storeFailed(r.Context(), err)
	}
	if !meetsRequirement(credentialAttestation(cred), req.encode()) {
		return Validation{}, false, nil
	}
	return Validation{Valid: true, State: StateChallengeSucceeded, UserID: user, Action: action, CredentialID: cred.ID,
		Method: methodOf(store.Challenge{}, cred.Kind), Details: norm, ValidatedAt: su.At, Remembered: true,
		WeakBinding: cred.Kind == store.KindCompat}, true, nil
}

// digestOf is the details digest of normalised details.
func digestOf(d Details) []byte {
	h := protocol.DetailsDigest(d)
	return h[:]
}

type validationKey struct{}

// gated is the request a gated handler gets and its context, allocated
// together.
type gated struct {
	r   http.Request
	ctx validationContext
}

// gatedRequest is r with a context that carries v, in one allocation:
// r.WithContext's copy of the request is made on the stack and copied
// into the value that also holds the context (the request and the
// context.WithValue of before were two, and the boxed Validation a third).
func gatedRequest(r *http.Request, v Validation) *http.Request {
	g := &gated{ctx: validationContext{Context: r.Context(), v: v}}
	g.r = *r.WithContext(&g.ctx)
	return &g.r
}

// validationContext is the gated handler's context: its parent with the
// validation. One allocation, where context.WithValue makes two (the
// context and the boxed Validation).
type validationContext struct {
	context.Context
	v Validation
}

// Value is the validation, by pointer, for validationKey; otherwise the
// parent's value.
func (c *validationContext) Value(key any) any {
	if key == (validationKey{}) {
		return &c.v
	}
	return c.Context.Value(key)
}

// String names the context as context.WithValue's do.
func (c *validationContext) String() string {
	return fmt.Sprint(c.Context) + ".WithValue(deviceauth.Validation)"
}

// FromContext returns the validation of the gated request whose context
// this is: State StateChallengeSucceeded with the credential and method
// that approved, or StateAllow when the policy let the action through
// without a challenge. ok is false outside Require.
func FromContext(ctx context.Context) (Validation, bool) {
	v, ok := ctx.Value(validationKey{}).(*Validation)
	if !ok {
		return Validation{}, false
	}
	return *v, true
}

// isStepUp reports whether err asks for a step-up challenge.
func isStepUp(err error) bool { return errors.Is(err, ErrStepUpRequired) }
