package deviceauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth/risk"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// QR sign-in (docs/architecture.md#flows). A browser asks for a QR challenge and shows
// it; a device scans it, claims the challenge with a signed request that
// carries the claim secret from the code, sees the browser's context and
// approves; the browser, watching the state, completes sign-in with a POST
// that only it can make, because the challenge is bound to a secret in an
// HttpOnly, SameSite=Strict cookie of that browser — one cookie per
// challenge (its binding cookie), so challenges created at the same time in
// several tabs of one browser never overwrite each other's binding.

// qrBindingCookiePrefix starts the name of every QR binding cookie.
const qrBindingCookiePrefix = seam.QRBindingCookiePrefix

// qrBindingCookie is the name of the cookie that binds QR challenge
// challengeID to the browser that created it: qrBindingCookiePrefix and the
// ID (whose characters, [A-Za-z0-9_-], are all allowed in a cookie name).
func qrBindingCookie(challengeID string) string { return qrBindingCookiePrefix + challengeID }

// QRRequest asks for a QR challenge.
type QRRequest struct {
	Action    string // default ActionSignIn; one of Config.QRActions
	ClientIP  netip.Addr
	UserAgent string
	Origin    string // the page's origin, shown to the device
	// Replaces is a challenge of this browser that the new one replaces
	// ("refresh"): it is superseded if still unclaimed.
	Replaces string
	// ReplacesBinding is the binding secret of Replaces (the value of its
	// binding cookie), which proves that the browser created it.
	ReplacesBinding string
}

// ActionSignIn is the default action of QR challenges.
const ActionSignIn = "signIn"

// QRChallenge is what the browser shows.
type QRChallenge struct {
	ChallengeID string `json:"challengeId"`
	// Payload is the URL the QR code encodes:
	// <PublicURL>/v1/qr/claim#c=<challengeId>&s=<claim secret>.
	Payload string `json:"payload"`
	// Image is the QR code as a data: URL of a PNG, when Config.QRCode is set.
	Image string `json:"image,omitempty"`
	// VerificationCode is shown beside the code; the user types it on the
	// device.
	VerificationCode string    `json:"verificationCode,omitempty"`
	ExpiresAt        time.Time `json:"expiresAt"`
	State            string    `json:"state"`
	// Binding is the challenge's own binding secret (256 bits, fresh for
	// every challenge): set it in the browser as the HttpOnly,
	// SameSite=Strict binding cookie for at least the
	// challenge's lifetime, as the handler does.
	Binding string `json:"-"`
}

// CreateQR creates an unclaimed QR challenge bound to the browser by a new
// binding secret (QRChallenge.Binding). Its action must be one of
// Config.QRActions (ErrInvalidRequest). With req.Replaces, that challenge
// of the same browser (req.ReplacesBinding) is superseded if still
// unclaimed; a challenge not bound to req.ReplacesBinding is ErrNotFound.
// A client IP whose QR challenges drew Config.WrongCodeLimit wrong codes
// within Config.WrongCodeWindow is ErrRateLimited until the window ends.
func (s *Service) CreateQR(ctx context.Context, req QRRequest) (QRChallenge, error) {
	if req.Action == "" {
		req.Action = ActionSignIn
	}
	if !slices.Contains(s.cfg.QRActions, req.Action) {
		return QRChallenge{}, ErrInvalidRequest.withMessage("action must be one the application allows for QR challenges")
	}
	if req.Replaces != "" && !protocol.ValidID(req.Replaces) {
		return QRChallenge{}, ErrInvalidRequest.withMessage("replaces must be a challenge ID")
	}
	if err := s.limitIP(ctx, "qr", req.ClientIP, s.cfg.RateLimits.QR); err != nil {
		return QRChallenge{}, err
	}
	now := s.now()
	if err := s.wrongCodeBlock(ctx, s.qrWrongCodeKey(ipString(req.ClientIP)), event.Event{ClientIP: ipString(req.ClientIP), Action: req.Action}, now); err != nil {
		return QRChallenge{}, err
	}
	if req.Replaces != "" {
		if err := s.supersedeQR(ctx, req.Replaces, req.ReplacesBinding, now); err != nil {
			return QRChallenge{}, err
		}
	}
	claim, binding := newSecret(), newSecret()
	digest := protocol.DetailsDigest(Details{})
	ch := store.Challenge{
		ID: "ch_" + protocol.NewID(), Action: req.Action, State: store.StateUnclaimed,
		Method: string(MethodQRCode), Methods: []string{string(MethodQRCode)}, Nonce: newNonce(),
		Details: protocol.CanonicalJSON(Details{}), DetailsDigest: digest[:],
		ClientIP: ipString(req.ClientIP), UserAgent: protocol.ContextText(req.UserAgent, maxUserAgentBytes), Origin: protocol.ContextText(req.Origin, maxOriginBytes),
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.ChallengeTTL),
		ClaimSecretHash: hashToken(claim), BrowserBindingHash: hashToken(binding),
	}
	if !s.cfg.QRApproveOnly {
		ch.VerificationCode = newCode(s.cfg.VerificationCodeDigits)
	}
	if _, err := s.store.CreateChallenge(ctx, ch, now); err != nil {
		return QRChallenge{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.ChallengeCreated, ChallengeID: ch.ID, Action: ch.Action, ClientIP: ch.ClientIP, Reason: "qr"})
	q := QRChallenge{
		ChallengeID: ch.ID, Payload: s.qrPayload(ch.ID, claim), VerificationCode: ch.VerificationCode,
		ExpiresAt: ch.ExpiresAt, State: string(ch.State), Binding: binding,
	}
	if s.cfg.QRCode != nil {
		png, err := s.cfg.QRCode(q.Payload)
		if err != nil {
			return QRChallenge{}, s.storeFailed(ctx, err)
		}
		q.Image = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	}
	return q, nil
}

// supersedeQR retires a browser's unclaimed challenge when it refreshes.
func (s *Service) supersedeQR(ctx context.Context, id, binding string, now time.Time) error {
	old, err := s.boundQR(ctx, id, binding)
	if err != nil {
		return err
	}
	_, err = s.store.TransitionChallenge(ctx, old.ID, store.Transition{From: store.StateUnclaimed, To: store.StateSuperseded}, now)
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return s.storeFailed(ctx, err)
	}
	return nil
}

// qrPayload is the URL a QR code carries. The claim secret is in the
// fragment, which browsers never send to a server.
func (s *Service) qrPayload(id, claim string) string {
	u := *s.publicURL
	u.Path = u.Path + "/v1/qr/claim"
	u.RawPath = ""
	u.Fragment = ""
	return u.String() + "#" + url.Values{"c": {id}, "s": {claim}}.Encode()
}

// claimQR claims a QR challenge for the device: it must be unclaimed, the
// device's user must not be blocked by wrong codes for its action (as Track
// answers BLOCK; ErrRateLimited, the challenge stays unclaimed), and the
// claim secret must match (an unknown challenge and a wrong secret are
// the same ErrNotFound). A claim secret that does not have the shape of one
// (256 bits as base64url) is ErrInvalidRequest, decided from the request
// alone before any lookup, so it tells nothing about the challenge. Exactly
// one device can claim a challenge; a second claim is ErrChallengeClosed
// with the challenge's state. The challenge becomes PENDING for the
// device's user, and the device sees the browser's context and answers it
// as any challenge.
func (s *Service) claimQR(ctx context.Context, dev deviceIdentity, id, claimSecret string) (ChallengeView, error) {
	if !validSecret(claimSecret) {
		return ChallengeView{}, ErrInvalidRequest.withMessage("claimSecret must be the claim secret of the QR code (43 characters of base64url)")
	}
	if !protocol.ValidID(id) {
		return ChallengeView{}, ErrNotFound
	}
	now := s.now()
	ch, err := s.store.GetChallenge(ctx, id, now)
	if errors.Is(err, store.ErrNotFound) {
		return ChallengeView{}, ErrNotFound
	}
	if err != nil {
		return ChallengeView{}, s.storeFailed(ctx, err)
	}
	if len(ch.ClaimSecretHash) == 0 || subtle.ConstantTimeCompare(ch.ClaimSecretHash, hashToken(claimSecret)) != 1 {
		return ChallengeView{}, ErrNotFound
	}
	if err := s.wrongCodeBlock(ctx, s.wrongCodeKey(dev.UserID, ch.Action), event.Event{UserID: dev.UserID, Action: ch.Action, ChallengeID: id}, now); err != nil {
		return ChallengeView{}, err
	}
	if err := s.claimRules(ctx, dev, ch, now); err != nil {
		return ChallengeView{}, err
	}
	claimed, err := s.store.TransitionChallenge(ctx, id, store.Transition{
		From: store.StateUnclaimed, To: store.StatePending, UserID: dev.UserID, ClaimedBy: dev.CredentialID,
	}, now)
	if errors.Is(err, store.ErrConflict) {
		return ChallengeView{}, s.challengeClosed(ctx, id, now)
	}
	if err != nil {
		return ChallengeView{}, s.storeFailed(ctx, err)
	}
	s.emit(ctx, event.Event{Type: event.QRClaimed, UserID: dev.UserID, CredentialID: dev.CredentialID, ChallengeID: id, Action: ch.Action})
	return s.view(claimed), nil
}

// claimRules runs the rules on a challenge created without a user (a QR
// sign-in, or a compat in-app challenge) once its user is known, at claim,
// with the signals of the browser or app that asked for it (its IP and
// user agent; the device is the user's own), and records the action under
// the challenge's method. A
// BLOCK or REVIEW fails the challenge (the browser's wait ends) and
// refuses the claim with ErrChallengeClosed; an operator's approval of
// the review lets the user's next QR sign-in through, once. ALLOW is a
// challenge still: the device's approval is the sign-in's only proof.
func (s *Service) claimRules(ctx context.Context, dev deviceIdentity, ch store.Challenge, now time.Time) error {
	if isDefaultPolicy(s.policy) && s.actionStore() == nil {
		return nil
	}
	req := TrackRequest{UserID: dev.UserID, Action: ch.Action, UserAgent: ch.UserAgent}
	req.ClientIP, _ = netip.ParseAddr(ch.ClientIP)
	details := Details{Fields: []Field{}}
	d := Decision{State: StateChallengeRequired}
	var sig *risk.Signals
	if !isDefaultPolicy(s.policy) {
		read, err := s.readSignals(ctx, req, "", now)
		if err != nil {
			return err
		}
		creds, approvals, computed := read.Credentials, read.Approvals, s.signals(ctx, req, read, now)
		sig = &computed
		if used, err := s.useApproval(ctx, approvals, req, details, now); err != nil {
			return err
		} else if used != "" {
			d.Rule = ruleReview + used
		} else if d, err = s.policy.Decide(ctx, PolicyInput{UserID: dev.UserID, Action: ch.Action, Details: details, Enrolled: len(creds) > 0,
			ClientIP: req.ClientIP, UserAgent: req.UserAgent, Methods: []Method{Method(ch.Method)}, Signals: computed}); err != nil {
			return s.storeFailed(ctx, fmt.Errorf("policy: %w", err))
		}
		if d.Err != nil {
			s.emit(ctx, event.Event{Type: event.RuleError, UserID: dev.UserID, Action: ch.Action, Rule: d.Rule, Reason: "evaluation_error"})
		}
	}
	outcome := d.State
	if outcome == StateAllow {
		outcome = StateChallengeRequired
	}
	rec := s.actionRecord("", req, details, outcome, d, sig, ch.Method, now)
	res := TrackResult{State: outcome, Rule: d.Rule, ActionID: s.putAction(ctx, rec)}
	switch outcome {
	case StateBlock, StateReview:
		s.emitTracked(ctx, req, res)
		_, err := s.store.TransitionChallenge(ctx, ch.ID, store.Transition{From: store.StateUnclaimed, To: store.StateFailed,
			UserID: dev.UserID, DenyReason: strings.ToLower(string(outcome))}, now)
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return s.storeFailed(ctx, err)
		}
		return ErrChallengeClosed.withState(string(outcome)).withMessage("the sign-in is " + map[ActionState]string{StateBlock: "blocked", StateReview: "held for review"}[outcome])
	case StateChallengeRequired:
		return nil
	}
	return s.storeFailed(ctx, fmt.Errorf("policy: unknown state %q", d.State))
}

// challengeClosed is ErrChallengeClosed for challenge id, which a
// transition just found in another state, with the state it is in now. A
// challenge gone meanwhile is ErrNotFound, a store that cannot say
// ErrUnavailable (nothing was changed).
func (s *Service) challengeClosed(ctx context.Context, id string, now time.Time) error {
	cur, err := s.store.GetChallenge(ctx, id, now)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	return ErrChallengeClosed.withState(string(cur.State))
}

// QRStatus is what a waiting browser learns of a challenge — its QR
// challenge, or one of the user's (GET /v1/web/challenges/{id}): the state
// only.
type QRStatus struct {
	ChallengeID string `json:"challengeId"`
	State       string `json:"state"`
}

// WaitQR reports the state of the browser's QR challenge id, waiting up to
// wait (at most MaxLongPoll) for it to differ from since. It only reports: it
// never completes a sign-in. A challenge not bound to binding is
// ErrNotFound.
func (s *Service) WaitQR(ctx context.Context, id, binding, since string, wait time.Duration) (QRStatus, error) {
	ch, err := s.boundQR(ctx, id, binding)
	if err != nil {
		return QRStatus{}, err
	}
	if wait > 0 && string(ch.State) == since {
		if ch, err = s.waitChange(ctx, id, ch.State, min(wait, MaxLongPoll)); err != nil {
			return QRStatus{}, err
		}
	}
	return QRStatus{ChallengeID: id, State: string(ch.State)}, nil
}

// CompleteQR finishes a QR challenge for the browser that created
// challenge id: the challenge must be approved by a device (with the
// verification code, unless Config.QRApproveOnly), and its token is
// validated (so it is consumed exactly once). It returns the user and the
// action; only ActionSignIn is a sign-in. Any failure — another browser,
// not approved, already used — is a Validation with Valid false.
func (s *Service) CompleteQR(ctx context.Context, id, binding string) (Validation, error) {
	return s.completeQR(ctx, id, binding, "")
}

// completeQR is CompleteQR; with action set, a challenge for another
// action is refused before it is consumed.
func (s *Service) completeQR(ctx context.Context, id, binding, action string) (Validation, error) {
	ch, err := s.boundQR(ctx, id, binding)
	if errors.Is(err, ErrNotFound) || (err == nil && (ch.UserID == "" || (action != "" && ch.Action != action))) {
		return Validation{State: StateChallengeFailed}, nil
	}
	if err != nil {
		return Validation{}, err
	}
	return s.Validate(ctx, ValidateRequest{Token: s.challengeToken(id), UserID: ch.UserID, Action: ch.Action,
		Methods: []Method{MethodQRCode}, VerificationCode: !s.cfg.QRApproveOnly})
}

// boundQR returns QR challenge id when binding is the browser secret it
// was created with; otherwise ErrNotFound.
func (s *Service) boundQR(ctx context.Context, id, binding string) (store.Challenge, error) {
	if !validSecret(binding) {
		return store.Challenge{}, ErrNotFound
	}
	ch, err := s.readChallenge(ctx, id)
	if err != nil {
		return store.Challenge{}, err
	}
	if len(ch.BrowserBindingHash) == 0 || subtle.ConstantTimeCompare(ch.BrowserBindingHash, hashToken(binding)) != 1 {
		return store.Challenge{}, ErrNotFound
	}
	return ch, nil
}

// newSecret returns 256 random bits as base64url.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return protocol.EncodeBase64(b)
}

// validSecret reports whether s has the shape of newSecret's output.
func validSecret(s string) bool {
	b, err := protocol.DecodeBase64(s)
	return err == nil && len(b) == 32
}
