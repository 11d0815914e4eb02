package passkey

import (
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/event"
)

// SignInFunc signs userID in through the application's session, starting
// a new one (so a session planted before sign-in is not reused). It is
// called before the response body is written.
// gorillasession.Resolver.SignIn fits.
type SignInFunc func(w http.ResponseWriter, r *http.Request, userID string) error

// Handler returns the passkey ceremony endpoints. Mount it under the same
// prefix as the Service's Handler, for the /v1/passkey/ subtree:
//
//	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))
//	mux.Handle("/deviceauth/v1/passkey/", http.StripPrefix("/deviceauth", pk.Handler(svc, users.SignIn, users)))
//
//	POST /v1/passkey/registration/options  begin adding a passkey (signed-in user; step-up when enrolled)
//	POST /v1/passkey/registration          finish: the PublicKeyCredential JSON → 201 the credential
//	POST /v1/passkey/login/options         begin a sign-in: {} discoverable, {"username": …} username-first
//	POST /v1/passkey/login                 finish: the PublicKeyCredential JSON → signed in, 200
//	GET  /v1/passkey/passkey.js            the browser script (DeviceAuth.passkey)
//
// users says who is signed in (for registration); signIn signs a user in
// after a passkey sign-in. The ceremony in progress is named by an HttpOnly,
// SameSite=Strict cookie scoped to the /v1/passkey/ path (Secure, and
// __Secure- prefixed, on https), cleared when the ceremony is used up —
// kept after a malformed body or a failure of the store, so the browser
// can send a good one or retry. Every
// POST is behind http.CrossOriginProtection, bodies are capped at
// Config.MaxBodyBytes and decoded strictly. Answers are JSON with
// Cache-Control: no-store; errors are {"error": code, "message": …} with
// the codes of package deviceauth. Passkey step-up is served by the
// Service itself (POST /v1/web/challenges/{id}/passkey/options and
// …/passkey). Handler panics when an argument is nil, as a mux panics on a
// bad pattern.
func (p *Passkeys) Handler(svc *deviceauth.Service, signIn SignInFunc, users deviceauth.UserResolver) http.Handler {
	if svc == nil || signIn == nil || users == nil {
		panic("passkey: Handler needs a Service, a SignInFunc and a UserResolver")
	}
	h := &handler{c: p.Ceremonies(svc), svc: svc, signIn: signIn, users: users, log: p.cfg.Logger, maxBody: p.cfg.MaxBodyBytes,
		httpsOnly: !slices.ContainsFunc(p.cfg.Origins, func(o string) bool { return strings.HasPrefix(o, "http://") })}
	mux := http.NewServeMux()
	route := func(pattern, method string, f http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != method {
				w.Header().Set("Allow", method)
				writeError(w, deviceauth.ErrMethodNotAllowed)
				return
			}
			f(w, r)
		})
	}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeError(w, deviceauth.ErrCrossOrigin) }))
	browser := func(f http.HandlerFunc) http.HandlerFunc { return cop.Handler(f).ServeHTTP }
	route("/v1/passkey/registration/options", http.MethodPost, browser(h.beginRegistration))
	route("/v1/passkey/registration", http.MethodPost, browser(h.finishRegistration))
	route("/v1/passkey/login/options", http.MethodPost, browser(h.beginLogin))
	route("/v1/passkey/login", http.MethodPost, browser(h.finishLogin))
	route("/v1/passkey/passkey.js", http.MethodGet, serveScript)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeError(w, deviceauth.ErrNotFound) })
	return mux
}

type handler struct {
	c         *Ceremonies
	svc       *deviceauth.Service
	signIn    SignInFunc
	users     deviceauth.UserResolver
	log       *slog.Logger
	maxBody   int64
	httpsOnly bool // every configured origin is https
}

// Cookies that name the ceremony in progress, one per kind so a sign-in in
// one tab does not end a registration in another.
const (
	registrationCookie = "deviceauth-passkey-registration"
	loginCookie        = "deviceauth-passkey-login"
)

func (h *handler) beginRegistration(w http.ResponseWriter, r *http.Request) {
	userID, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	var b registrationBeginJSON
	if !h.readJSON(w, r, &b, true) {
		return
	}
	o, err := h.c.BeginRegistration(r.Context(), userID, b.Name, r.Header.Get(deviceauth.TokenHeader))
	if errors.Is(err, deviceauth.ErrStepUpRequired) {
		h.stepUp(w, r, userID)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.setCeremony(w, r, registrationCookie, o, h.c.p.cfg.RegistrationTimeout)
	writeRaw(w, http.StatusOK, o.JSON)
}

func (h *handler) finishRegistration(w http.ResponseWriter, r *http.Request) {
	userID, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	id := h.ceremony(r, registrationCookie)
	cred, err := h.c.FinishRegistration(r.Context(), id, userID, body, h.svc.ClientIP(r).String())
	if keepsCeremony(err) {
		h.fail(w, r, err)
		return
	}
	h.clearCeremony(w, r, registrationCookie)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, cred)
}

func (h *handler) beginLogin(w http.ResponseWriter, r *http.Request) {
	var b loginBeginJSON
	if !h.readJSON(w, r, &b, true) {
		return
	}
	// Anyone may begin a sign-in, and each one is written to the store.
	if err := h.svc.LimitCeremonies(r.Context(), h.svc.ClientIP(r)); err != nil {
		h.fail(w, r, err)
		return
	}
	o, err := h.c.BeginLogin(r.Context(), b.Username)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.setCeremony(w, r, loginCookie, o, h.c.p.cfg.LoginTimeout)
	writeRaw(w, http.StatusOK, o.JSON)
}

func (h *handler) finishLogin(w http.ResponseWriter, r *http.Request) {
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	id := h.ceremony(r, loginCookie)
	res, err := h.c.FinishLogin(r.Context(), id, body)
	if keepsCeremony(err) {
		h.fail(w, r, err)
		return
	}
	h.clearCeremony(w, r, loginCookie)
	ip := h.svc.ClientIP(r).String()
	if err != nil {
		if errors.Is(err, deviceauth.ErrPasskeyAssertion) {
			h.svc.Emit(r.Context(), event.Event{Type: event.SignatureRejected, ClientIP: ip, Reason: "passkey_sign_in"})
		}
		h.fail(w, r, err)
		return
	}
	if err := h.signIn(w, r, res.UserID); err != nil {
		h.fail(w, r, unavailable(err))
		return
	}
	h.svc.Emit(r.Context(), event.Event{Type: event.SignedIn, UserID: res.UserID, CredentialID: res.CredentialID, ClientIP: ip, Reason: "passkey"})
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
	var e *deviceauth.Error
	return !errors.As(err, &e) || e.Status == http.StatusBadRequest || e.Status >= 500
}

// stepUp answers a registration that needs an approved addAuthenticator
// challenge first: 401 challenge_required with a new challenge that any of
// the user's kinds of credential can answer (a passkey-only user steps up
// with a passkey), or 403 challenge_failed when the request carried a token
// that did not validate — never a new challenge then.
func (h *handler) stepUp(w http.ResponseWriter, r *http.Request, userID string) {
	if r.Header.Get(deviceauth.TokenHeader) != "" {
		writeJSON(w, http.StatusForbidden, deviceauth.DenialBody{Error: "challenge_failed",
			Message: "the token is not valid for this user and action", State: deviceauth.StateChallengeFailed})
		return
	}
	d := h.svc.StepUp(r, userID, deviceauth.ActionAddAuthenticator, deviceauth.Details{})
	if d.Header != "" {
		w.Header().Set("WWW-Authenticate", d.Header)
	}
	writeJSON(w, d.Status, d.Body)
}

// signedIn resolves the signed-in user, answering 401 unauthenticated when
// there is none and 503 when the session store fails.
func (h *handler) signedIn(w http.ResponseWriter, r *http.Request) (string, bool) {
	userID, err := h.users.ResolveUser(r)
	if err != nil {
		h.fail(w, r, unavailable(err))
		return "", false
	}
	if userID == "" {
		writeJSON(w, http.StatusUnauthorized, deviceauth.ErrorBody{Error: "unauthenticated", Message: "sign in first"})
		return "", false
	}
	return userID, true
}

// readBody reads the body, capped at Config.MaxBodyBytes.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Body == nil {
		return nil, true
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeError(w, deviceauth.ErrBodyTooLarge)
		return nil, false
	}
	if err != nil {
		writeError(w, invalidRequest("the body could not be read"))
		return nil, false
	}
	return b, true
}

// readJSON reads the body strictly into v; an empty body is {} when
// allowEmpty.
func (h *handler) readJSON(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) bool {
	body, ok := h.readBody(w, r)
	if !ok {
		return false
	}
	if len(body) == 0 && allowEmpty {
		return true
	}
	if err := decodeStrict(body, v); err != nil {
		writeError(w, invalidRequest(err.Error()))
		return false
	}
	return true
}

// fail writes err; failures of the store, the session or the
// configuration are logged (without their causes' secrets: there are none
// in store errors).
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *deviceauth.Error
	if !errors.As(err, &e) || e.Status >= 500 {
		h.log.ErrorContext(r.Context(), "passkey: request failed", "path", r.URL.Path, "error", err.Error())
	}
	writeError(w, err)
}

// setCeremony sets the cookie that names o's ceremony for as long as the
// browser may take (the store enforces the ceremony's own expiry).
func (h *handler) setCeremony(w http.ResponseWriter, r *http.Request, name string, o Options, timeout time.Duration) {
	secure := h.secure(r)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(name, secure), Value: o.CeremonyID, Path: cookiePath(r), MaxAge: int(timeout / time.Second),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
	})
}

// ceremony returns the ceremony ID of cookie name, "" when there is none.
func (h *handler) ceremony(r *http.Request, name string) string {
	c, err := r.Cookie(cookieName(name, h.secure(r)))
	if err != nil {
		return ""
	}
	return c.Value
}

// clearCeremony deletes the cookie: the ceremony is used up.
func (h *handler) clearCeremony(w http.ResponseWriter, r *http.Request, name string) {
	secure := h.secure(r)
	http.SetCookie(w, &http.Cookie{Name: cookieName(name, secure), Value: "", Path: cookiePath(r), MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
}

// secure reports whether the page that calls is on https: TLS here, an
// https Origin header (behind a TLS-terminating proxy), or only https
// origins configured.
func (h *handler) secure(r *http.Request) bool {
	if r.TLS != nil || strings.HasPrefix(r.Header.Get("Origin"), "https://") {
		return true
	}
	return h.httpsOnly
}

// cookieName prefixes name with __Secure- on https, so only a secure page
// can set it.
func cookieName(name string, secure bool) string {
	if secure {
		return "__Secure-" + name
	}
	return name
}

// cookiePath is the /v1/passkey/ path under the mount the request came
// through (the request URI keeps the prefix that StripPrefix removed from
// r.URL.Path), so the cookie goes to the ceremony endpoints only.
func cookiePath(r *http.Request) string {
	const tail = "/v1/passkey/"
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil || !strings.HasSuffix(u.Path, r.URL.Path) {
		return tail
	}
	return strings.TrimSuffix(u.Path, r.URL.Path) + tail
}

// writeJSON writes v with status; every answer is Cache-Control: no-store.
// (v is always one of the package's own JSON types, which marshal.)
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	writeRaw(w, status, append(b, '\n'))
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError writes err as its status and deviceauth.ErrorBody; anything
// that is not a *deviceauth.Error is 503 unavailable, its cause unsent.
func writeError(w http.ResponseWriter, err error) {
	var e *deviceauth.Error
	if !errors.As(err, &e) {
		e = deviceauth.ErrUnavailable
	}
	writeJSON(w, e.Status, deviceauth.ErrorBody{Error: e.Code, Message: e.Message})
}

// browserScript is passkey.js: the browser side of the ceremonies and of
// passkey step-up.
//
//go:embed passkey.js
var browserScript []byte

func serveScript(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(browserScript)
}
