package deviceauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth/event"
)

// The passkey endpoints, served when Config.Passkeys is set. Every POST is
// a browser's (behind cross-origin protection), its body capped at
// Config.MaxBodyBytes and decoded strictly; answers are JSON with
// Cache-Control: no-store, errors the Service's error body.
//
//	POST /v1/passkey/registration/options        begin adding a passkey (signed-in user; step-up when enrolled)
//	POST /v1/passkey/registration                finish: the PublicKeyCredential JSON → 201 the credential
//	POST /v1/passkey/login/options               begin a sign-in: {} discoverable, {"username": …} username-first
//	POST /v1/passkey/login                       finish: the PublicKeyCredential JSON → signed in, 200
//	GET  /v1/passkey/passkey.js                  the browser script (DeviceAuth.passkey)
//	POST /v1/web/challenges/{id}/passkey/options step-up: request options (body: none or {})
//	POST /v1/web/challenges/{id}/passkey         step-up: the assertion → APPROVED
//
// The ceremony in progress is named by an HttpOnly, SameSite=Strict cookie
// scoped to the /v1/passkey/ path (Secure, and __Secure- prefixed, when
// Config.PublicURL is https), cleared when the ceremony is used up — kept
// after a malformed body or a failure of the store, so the browser can
// send a good one or retry.

// Cookies that name the ceremony in progress, one per kind so a sign-in in
// one tab does not end a registration in another.
const (
	registrationCookie = "deviceauth-passkey-registration"
	loginCookie        = "deviceauth-passkey-login"
)

func (s *Service) handlePasskeyRegistrationOptions(w http.ResponseWriter, r *http.Request) {
	user, ok := s.webUser(w, r)
	if !ok {
		return
	}
	var b struct {
		Name string `json:"name"`
	}
	if !s.readOptionalJSON(w, r, &b) {
		return
	}
	opts, c, err := s.beginPasskeyRegistration(r.Context(), user, b.Name, r.Header.Get(TokenHeader))
	if isStepUp(err) {
		s.stepUpDenial(w, r, user, ActionAddAuthenticator, Details{})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	timeout, _ := s.cfg.Passkeys.Timeouts()
	s.setCeremonyCookie(w, registrationCookie, c.ID, timeout)
	writeRaw(w, http.StatusOK, opts)
}

func (s *Service) handlePasskeyRegistration(w http.ResponseWriter, r *http.Request) {
	user, body, ok := s.webUserBody(w, r)
	if !ok {
		return
	}
	cred, err := s.finishPasskeyRegistration(r.Context(), s.ceremonyCookie(r, registrationCookie), user, body, ipString(s.ClientIP(r)))
	if !keepsCeremony(err) {
		s.clearCeremonyCookie(w, registrationCookie)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, cred)
}

func (s *Service) handlePasskeyLoginOptions(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Username string `json:"username"`
	}
	if !s.readOptionalJSON(w, r, &b) {
		return
	}
	// Anyone may begin a sign-in, and each one is written to the store.
	if err := s.limitIP(r.Context(), "ceremony", s.ClientIP(r), s.cfg.RateLimits.Ceremonies); err != nil {
		s.fail(w, r, err)
		return
	}
	opts, c, err := s.beginPasskeyLogin(r.Context(), b.Username)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_, timeout := s.cfg.Passkeys.Timeouts()
	s.setCeremonyCookie(w, loginCookie, c.ID, timeout)
	writeRaw(w, http.StatusOK, opts)
}

func (s *Service) handlePasskeyLogin(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cred, err := s.finishPasskeyLogin(r.Context(), s.ceremonyCookie(r, loginCookie), body)
	if !keepsCeremony(err) {
		s.clearCeremonyCookie(w, loginCookie)
	}
	ip := ipString(s.ClientIP(r))
	if err != nil {
		if errors.Is(err, errPasskeyAssertion) {
			s.emit(r.Context(), event.Event{Type: event.SignatureRejected, ClientIP: ip, Reason: "passkey_sign_in"})
		}
		s.fail(w, r, err)
		return
	}
	if s.cfg.SignIn == nil {
		s.fail(w, r, ErrUnavailable.withMessage("Config.SignIn is not set"))
		return
	}
	if err := s.cfg.SignIn(w, r, cred.UserID); err != nil {
		s.fail(w, r, ErrUnavailable.with(err))
		return
	}
	s.emit(r.Context(), event.Event{Type: event.SignedIn, UserID: cred.UserID, CredentialID: cred.ID, ClientIP: ip, Reason: "passkey"})
	writeJSON(w, http.StatusOK, struct {
		UserID       string `json:"userId"`
		CredentialID string `json:"credentialId"`
	}{cred.UserID, cred.ID})
}

func (s *Service) handlePasskeyScript(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(s.cfg.Passkeys.Script())
}

func (s *Service) handlePasskeyOptions(w http.ResponseWriter, r *http.Request) {
	user, ok := s.webUser(w, r)
	if !ok {
		return
	}
	if !s.readOptionalJSON(w, r, &struct{}{}) { // none is {}; {} is all there is to say
		return
	}
	opts, err := s.passkeyOptions(r.Context(), user, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeRaw(w, http.StatusOK, opts)
}

func (s *Service) handlePasskeyRespond(w http.ResponseWriter, r *http.Request) {
	user, body, ok := s.webUserBody(w, r)
	if !ok {
		return
	}
	// A PublicKeyCredential's JSON is an object; the verifier judges its
	// members (malformed: ErrInvalidRequest, too).
	var members map[string]json.RawMessage
	if err := decodeJSON(body, &members); err != nil || members == nil {
		s.fail(w, r, ErrInvalidRequest.with(err).withMessage("the body is not a PublicKeyCredential's JSON object"))
		return
	}
	ip := s.ClientIP(r)
	if err := s.limitIP(r.Context(), "respond", ip, s.cfg.RateLimits.Respond); err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.respondPasskey(r.Context(), user, r.PathValue("id"), body, ipString(ip))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// keepsCeremony reports whether a finish that failed with err leaves the
// ceremony cookie in place: after a malformed body (400), which used
// nothing up, and after a failure of the store or the configuration (503),
// so the user can retry — should the ceremony have been used up all the
// same, the retry is refused as any used ceremony is, and clears it then.
func keepsCeremony(err error) bool {
	if err == nil {
		return false
	}
	e := asError(err)
	return e.Status == http.StatusBadRequest || e.Status >= 500
}

// setCeremonyCookie sets the cookie that names ceremony id for as long as
// the browser may take (the store enforces the ceremony's own expiry).
func (s *Service) setCeremonyCookie(w http.ResponseWriter, name, id string, timeout time.Duration) {
	http.SetCookie(w, s.cookie(name, id, s.ceremonyCookiePath(), int(timeout/time.Second)))
}

// ceremonyCookie returns the ceremony ID of cookie name, "" when there is
// none.
func (s *Service) ceremonyCookie(r *http.Request, name string) string {
	c, err := r.Cookie(s.cookieName(name))
	if err != nil {
		return ""
	}
	return c.Value
}

// clearCeremonyCookie deletes the cookie: the ceremony is used up.
func (s *Service) clearCeremonyCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, s.cookie(name, "", s.ceremonyCookiePath(), -1))
}

// ceremonyCookiePath is the /v1/passkey/ path under the handler's mount,
// so the cookie goes to the ceremony endpoints only.
func (s *Service) ceremonyCookiePath() string {
	return strings.TrimSuffix(s.cookiePath(), "/") + "/v1/passkey/"
}
