package authsignal

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// The server API (the backend SDKs, with the secret key): track, validate
// and a user's authenticators.

// scopeAddAuthenticators is the track scope that lets the client token add
// a device key.
const scopeAddAuthenticators = "add:authenticators"

// trackBody is a track request's body. The members after Custom are sent
// by the SDKs for features the adapter does not offer (hosted UI,
// profiling, channels): tolerated and ignored
// (docs/compat-authsignal.md#tolerated-members).
type trackBody struct {
	IdempotencyKey string         `json:"idempotencyKey"`
	IPAddress      string         `json:"ipAddress"`
	UserAgent      string         `json:"userAgent"`
	Scope          string         `json:"scope"`
	Custom         map[string]any `json:"custom"`

	RedirectURL        json.RawMessage `json:"redirectUrl"`
	RedirectToSettings json.RawMessage `json:"redirectToSettings"`
	DeviceID           json.RawMessage `json:"deviceId"`
	Email              json.RawMessage `json:"email"`
	PhoneNumber        json.RawMessage `json:"phoneNumber"`
	Username           json.RawMessage `json:"username"`
	ChallengeID        json.RawMessage `json:"challengeId"`
	Locale             json.RawMessage `json:"locale"`
	CustomDomain       json.RawMessage `json:"customDomain"`
	Crypto             json.RawMessage `json:"crypto"`
}

// stateReviewRequired is the SDKs' name of deviceauth's REVIEW
// (UserActionState.REVIEW_REQUIRED in @authsignal/node); the other states
// have the same names.
const stateReviewRequired = "REVIEW_REQUIRED"

// trackResponse is a track's answer.
type trackResponse struct {
	IdempotencyKey string   `json:"idempotencyKey"`
	State          string   `json:"state"`
	URL            string   `json:"url"`
	Token          string   `json:"token"`
	IsEnrolled     bool     `json:"isEnrolled"`
	Enrolled       []string `json:"enrolledVerificationMethods"`
	Allowed        []string `json:"allowedVerificationMethods"`
	RuleIDs        []string `json:"ruleIds,omitempty"`
}

// track is POST /v1/users/{userId}/actions/{action}: Service.Track of a
// compat challenge, answered with a client token for the SDKs — none when
// the rules decided BLOCK or REVIEW.
func (h *Handler) track(w http.ResponseWriter, r *http.Request) error {
	var b trackBody
	if err := h.readJSON(w, r, &b, true); err != nil {
		return err
	}
	userID, action := r.PathValue("userId"), r.PathValue("action")
	if b.Scope != "" && b.Scope != scopeAddAuthenticators {
		return errInvalid.describe("scope must be " + scopeAddAuthenticators)
	}
	if b.IdempotencyKey == "" {
		b.IdempotencyKey = protocol.NewID()
	}
	ip, _ := netip.ParseAddr(b.IPAddress)
	res, err := seam.Compat.Track(h.svc, r.Context(), deviceauth.TrackRequest{
		UserID: userID, Action: action, IdempotencyKey: b.IdempotencyKey, ClientIP: ip, UserAgent: b.UserAgent, Custom: b.Custom,
	})
	if err != nil {
		return err
	}
	tr := res.(deviceauth.TrackResult)
	creds, err := seam.Compat.Credentials(h.svc, r.Context(), userID)
	if err != nil {
		return err
	}
	// A BLOCK or REVIEW hands the SDKs no token: it would otherwise let a
	// user the rules stopped add a first authenticator.
	token := ""
	if tr.State != deviceauth.StateBlock && tr.State != deviceauth.StateReview {
		now := seam.Compat.Now(h.svc)
		token = h.sealClient(clientToken{UserID: userID, Action: action, ChallengeID: tr.ChallengeID,
			AddScope: b.Scope == scopeAddAuthenticators, Expires: now.Add(h.cfg.ClientTokenTTL).Unix()})
	}
	state := string(tr.State)
	if tr.State == deviceauth.StateReview {
		state = stateReviewRequired
	}
	out := trackResponse{IdempotencyKey: b.IdempotencyKey, State: state, Token: token, IsEnrolled: tr.Enrolled,
		Enrolled: verificationMethods(creds), Allowed: []string{"PUSH", "QR_CODE", "DEVICE"}}
	if tr.Rule != "" {
		out.RuleIDs = []string{tr.Rule}
	}
	writeOK(w, out)
	return nil
}

// validateBody is a validate request's body.
type validateBody struct {
	Token  string `json:"token"`
	UserID string `json:"userId"`
	Action string `json:"action"`
}

// validateResponse is validate's answer. action and actionCode carry the
// same value: the Node SDK reads actionCode, the Go SDK and the docs
// action.
type validateResponse struct {
	IsValid            bool   `json:"isValid"`
	State              string `json:"state"`
	StateUpdatedAt     string `json:"stateUpdatedAt,omitempty"`
	UserID             string `json:"userId,omitempty"`
	Action             string `json:"action,omitempty"`
	ActionCode         string `json:"actionCode,omitempty"`
	IdempotencyKey     string `json:"idempotencyKey,omitempty"`
	VerificationMethod string `json:"verificationMethod,omitempty"`
	// WeakBinding is true when a compat device approved (the challenge ID
	// alone was signed).
	WeakBinding bool `json:"weakBinding,omitempty"`
}

// validate is POST /v1/validate: Service.Validate, once per approval. The
// token must come with its user: a token validated without userId is
// refused, so that a token an attacker earned for their own account
// cannot pass in a victim's flow. Without action, the challenge's own is
// used, and the answer names it: the application must then compare it.
// A compat device's approval validates only for Config.WeakActions.
func (h *Handler) validate(w http.ResponseWriter, r *http.Request) error {
	var b validateBody
	if err := h.readJSON(w, r, &b, false); err != nil {
		return err
	}
	if b.UserID == "" {
		return errInvalid.describe("userId is required: a token is validated for its user")
	}
	failed := validateResponse{State: string(deviceauth.StateChallengeFailed)}
	id, ok := seam.Compat.TokenID(h.svc, b.Token)
	if !ok {
		writeOK(w, failed)
		return nil
	}
	ch, err := seam.Compat.Challenge(h.svc, r.Context(), id)
	if errors.Is(err, deviceauth.ErrNotFound) {
		writeOK(w, failed)
		return nil
	}
	if err != nil {
		return err
	}
	action := b.Action
	if action == "" {
		action = ch.Action
	}
	v, err := h.svc.Validate(r.Context(), deviceauth.ValidateRequest{Token: b.Token, UserID: b.UserID, Action: action, WeakBinding: h.weak(action)})
	if err != nil {
		return err
	}
	if !v.Valid {
		writeOK(w, failed)
		return nil
	}
	writeOK(w, validateResponse{IsValid: true, State: string(v.State), StateUpdatedAt: v.ValidatedAt.UTC().Format(time.RFC3339),
		UserID: v.UserID, Action: v.Action, ActionCode: v.Action, IdempotencyKey: ch.IdempotencyKey,
		VerificationMethod: string(v.Method), WeakBinding: v.WeakBinding})
	return nil
}

// authenticator is one of a user's authenticators.
type authenticator struct {
	UserID              string `json:"userId"`
	UserAuthenticatorID string `json:"userAuthenticatorId"`
	VerificationMethod  string `json:"verificationMethod"`
	CreatedAt           string `json:"createdAt"`
	VerifiedAt          string `json:"verifiedAt"`
	LastVerifiedAt      string `json:"lastVerifiedAt,omitempty"`
	DeviceName          string `json:"displayName,omitempty"`
	Platform            string `json:"devicePlatform,omitempty"`
}

// authenticators is GET /v1/users/{userId}/authenticators: every
// credential of the user, native and compat.
func (h *Handler) authenticators(w http.ResponseWriter, r *http.Request) error {
	userID := r.PathValue("userId")
	creds, err := seam.Compat.Credentials(h.svc, r.Context(), userID)
	if err != nil {
		return err
	}
	out := make([]authenticator, 0, len(creds))
	for _, c := range creds {
		out = append(out, authenticatorOf(c))
	}
	writeOK(w, out)
	return nil
}

// methodOfCredential is the verification method the SDKs call c's: a
// compat key's namespace (kept in its Passkey blob), PASSKEY for passkeys,
// DEVICE for native device keys.
func methodOfCredential(c store.Credential) string {
	switch c.Kind {
	case store.KindPasskey:
		return "PASSKEY"
	case store.KindCompat:
		switch string(c.Passkey) {
		case "push":
			return "PUSH"
		case "qr-code":
			return "QR_CODE"
		}
	}
	return "DEVICE"
}

// verificationMethods lists the distinct methods of creds.
func verificationMethods(creds []store.Credential) []string {
	out := []string{}
	for _, c := range creds {
		if m := methodOfCredential(c); !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// stamp is t as RFC 3339, "" when zero.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
