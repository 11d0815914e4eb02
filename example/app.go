package main

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/adapters/gorillasession"
	"github.com/deviceauth/deviceauth/admin"
	"github.com/deviceauth/deviceauth/passkey"
	"github.com/deviceauth/deviceauth/qrcode"
	"github.com/deviceauth/deviceauth/store"
)

// AppConfig configures the demo app.
type AppConfig struct {
	// BaseURL is where browsers and phones reach the app, e.g.
	// "http://localhost:8080". Required. The device endpoints are served,
	// and advertised to phones, at BaseURL + "/deviceauth".
	BaseURL string
	// Store keeps deviceauth's state. Required. The App does not close it:
	// whoever opened it does.
	Store store.Store
	// Key signs challenge tokens; the session cookie key is derived from
	// it. Required: at least deviceauth.MinKeyBytes random bytes.
	Key []byte
	// Logger receives the Service's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is deviceauth's clock (Config.Now), for tests that let a
	// challenge expire. Default time.Now.
	Now func() time.Time
}

// App is the demo web application: username-only sign-in, a device list,
// and a transfer form gated by deviceauth. Build it with NewApp, serve
// Handler, stop it with Close.
type App struct {
	publicURL string // BaseURL + "/deviceauth": what phones are told
	svc       *deviceauth.Service
	users     *gorillasession.Resolver
	pages     map[string]*template.Template
	log       *slog.Logger
	handler   http.Handler
	passkeys  *passkey.Passkeys // nil when BaseURL cannot have passkeys (passkey.go)
	sessions  *sessionEnds      // ends the user's other sessions (recovery.go)
	inApp     *inAppInbox       // in-app challenges for the app's own channel (inapp.go)
	now       func() time.Time  // AppConfig.Now
}

const (
	// sessionName is the gorilla/sessions cookie of the app.
	sessionName = "deviceauth-example"
	// sessionMaxAge is how long a sign-in lasts.
	sessionMaxAge = 8 * time.Hour
	// tokenField is the hidden form field that carries a challenge token
	// when the user presses Continue (see tokenFromForm, and the step-ups
	// in devices.go).
	tokenField = "deviceauth_token"
	// operatorUser is the user who may use the admin page (/admin/).
	operatorUser = "operator"
	// deviceCommand is how the README and the pages run the terminal phone.
	deviceCommand = "go run ./example/device"
)

// NewApp builds the app and its deviceauth Service.
func NewApp(cfg AppConfig) (*App, error) {
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
		return nil, fmt.Errorf("example: BaseURL %q must be an absolute http(s) URL without a path", cfg.BaseURL)
	}
	if len(cfg.Key) < deviceauth.MinKeyBytes {
		return nil, fmt.Errorf("example: Key must be at least %d bytes", deviceauth.MinKeyBytes)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// One secret on disk; the cookie key is derived from it so that the two
	// uses never share a key.
	cookieKey, err := hkdf.Key(sha256.New, cfg.Key, nil, "deviceauth example: session cookie", 32)
	if err != nil {
		return nil, err
	}
	cookies := sessions.NewCookieStore(cookieKey)
	cookies.Options = &sessions.Options{Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: u.Scheme == "https"}
	cookies.MaxAge(int(sessionMaxAge / time.Second))
	users := gorillasession.New(cookies, sessionName, gorillasession.WithLogger(cfg.Logger))
	ends := newSessionEnds(cookies)

	publicURL := base + "/deviceauth"
	pk, err := newPasskeys(u, cfg.Key, cfg.Logger)
	if err != nil {
		return nil, err
	}
	ruleSet, err := loadRules()
	if err != nil {
		return nil, err
	}
	svc, err := deviceauth.New(deviceauth.Config{
		Store: cfg.Store,
		// Adaptive MFA (rules.go): the rules decide when to challenge.
		Rules:     ruleSet.Policy(),
		Keys:      [][]byte{cfg.Key},
		PublicURL: publicURL,
		Users:     users,
		Logger:    cfg.Logger,
		// Sign in with your phone (qr-signin.js): QR codes rendered as
		// PNGs, and a completed QR sign-in starts a new session.
		QRCode: qrcode.PNG,
		SignIn: func(w http.ResponseWriter, r *http.Request, user string) error {
			return ends.signIn(users, w, r, user)
		},
		// Recovery codes for a lost phone (recovery.go), and the user's
		// other sessions ended when a device is removed or a code used.
		RecoveryCodes: 8,
		OnEvent:       ends.onEvent,
		// Pushes are logged (push.go): IDs only.
		Notifier: logNotifier(cfg.Logger),
		// A phone that denies with reason not_me mutes pushes to the user
		// (the log then says "deviceauth: push.muted"); an hour by
		// default, two minutes here so that the walkthrough goes on.
		PushMute: 2 * time.Minute,
		// Passkeys (passkey.go): a credential kind and a step-up method.
		Passkeys: passkeyVerifier(pk),
		Now:      cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &App{publicURL: publicURL, svc: svc, users: users, pages: pages, log: cfg.Logger, passkeys: pk, sessions: ends,
		inApp: newInAppInbox(), now: cfg.Now}
	a.handler = a.routes()
	return a, nil
}

// Handler serves the app's pages and, under /deviceauth/, the device
// endpoints.
func (a *App) Handler() http.Handler { return a.handler }

// Close stops the deviceauth Service. It does not close the store.
func (a *App) Close(ctx context.Context) error { return a.svc.Close(ctx) }

func (a *App) routes() http.Handler {
	app := http.NewServeMux()
	app.HandleFunc("GET /{$}", a.home)
	app.HandleFunc("POST /signin", a.signIn)
	app.HandleFunc("POST /signout", a.signOut)
	app.HandleFunc("GET /devices", a.devices)
	app.HandleFunc("POST /devices/add", a.addDevice)
	app.HandleFunc("POST /devices/recovery-codes", a.recoveryCodes)
	app.HandleFunc("POST /devices/{id}/remove", a.removeDevice)
	app.HandleFunc("POST /devices/{id}/rename", a.renameDevice)
	app.HandleFunc("GET /transfer", a.transferForm)
	app.Handle("POST /transfer", a.svc.Require("transfer",
		deviceauth.WithDetails(transferDetails),
		deviceauth.WithCustomData(transferAmount),
		deviceauth.WithTokenFrom(tokenFromForm),
		// The phone that approves may be another device of the user,
		// told by a push; number matching ties it to this screen.
		// Or a passkey on this device (passkey.go).
		deviceauth.WithMethods(deviceauth.MethodDevice, deviceauth.MethodPush, deviceauth.MethodPasskey),
		deviceauth.WithVerificationCode(),
		deviceauth.WithErrorHandler(a.transferDenied("/transfer")),
	)(http.HandlerFunc(a.transfer)))
	// The transfer approved in the app (inapp.go): one signature.
	app.Handle("POST "+inAppTransferPath, a.inAppTransfer())
	app.HandleFunc("GET /phone", a.phone)
	app.HandleFunc("GET /phone/in-app", a.inAppChallenges)
	app.Handle("GET /static/", staticFiles())

	// Every POST of the app acts for the signed-in browser: cross-origin
	// ones are refused (with the SameSite=Lax cookie, a second line).
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.problem(w, r, http.StatusForbidden, "cross_origin", "")
	}))

	root := http.NewServeMux()
	// The device endpoints verify signatures over the path as the phone
	// sent it (with the prefix), so StripPrefix does not break them.
	root.Handle("/deviceauth/", http.StripPrefix("/deviceauth", a.svc.Handler()))
	// The operator's review page (package admin), for the user signed in
	// as "operator": a demo's stand-in for the application's own admin
	// authentication. It has its own cross-origin protection.
	root.Handle("/admin/", http.StripPrefix("/admin", admin.Handler(a.svc, admin.Options{
		Operator: func(r *http.Request) (string, error) {
			user, err := a.users.ResolveUser(r)
			if err != nil || user != operatorUser {
				return "", errors.New("example: the admin page is for the user operator")
			}
			return user, nil
		},
	})))
	root.Handle("/", cop.Handler(app))
	return root
}

// frame is what every page's layout needs.
type frame struct {
	Title string
	User  string
}

type signInView struct {
	frame
	Username string
	Error    string
}

type homeView struct {
	frame
	Devices  int
	Passkeys int
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	user, err := a.users.ResolveUser(r)
	if err != nil {
		a.serviceProblem(w, r, err)
		return
	}
	if user == "" {
		a.render(w, http.StatusOK, "signin", signInView{frame: frame{Title: "Sign in"}})
		return
	}
	creds, err := a.svc.Credentials(r.Context(), user)
	if err != nil {
		a.serviceProblem(w, r, err)
		return
	}
	devices, passkeys := splitCredentials(creds)
	a.render(w, http.StatusOK, "home", homeView{frame: frame{Title: "Home", User: user}, Devices: len(devices), Passkeys: len(passkeys)})
}

// validUsername keeps the demo's user IDs boring: there are no passwords,
// so anything typed is an account.
var validUsername = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

func (a *App) signIn(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("username"))
	if !validUsername.MatchString(name) {
		a.render(w, http.StatusBadRequest, "signin", signInView{frame: frame{Title: "Sign in"}, Username: name,
			Error: "A username is 1 to 64 letters, digits or . _ @ -"})
		return
	}
	// SignIn starts a new session, so a session planted before sign-in is
	// not reused.
	if err := a.sessions.signIn(a.users, w, r, name); err != nil {
		a.serviceProblem(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *App) signOut(w http.ResponseWriter, r *http.Request) {
	if err := a.users.SignOut(w, r); err != nil {
		a.serviceProblem(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// signedIn returns the signed-in user, or sends the browser to the sign-in
// page.
func (a *App) signedIn(w http.ResponseWriter, r *http.Request) (string, bool) {
	user, err := a.sessionUser(w, r)
	if err != nil {
		a.serviceProblem(w, r, err)
		return "", false
	}
	if user == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return "", false
	}
	return user, true
}

// sessionUser returns the user of r's session, "" for none. A session
// that a device's removal or a recovery code's use ended since it began
// (deviceauth's EventEndOtherSessions) ends now, and has no user.
func (a *App) sessionUser(w http.ResponseWriter, r *http.Request) (string, error) {
	user, err := a.users.ResolveUser(r)
	if err != nil || user == "" || !a.sessions.endedFor(r, user) {
		return user, err
	}
	return "", a.users.SignOut(w, r)
}

type problemView struct {
	frame
	Status   int
	Code     string // the stable error code, for tests and support: not shown
	Message  string
	Link     string
	LinkText string
}

// problemWords is what an end user reads for an error code: words, not the
// API's code. Codes not listed show the Service's own message (a form's
// mistake, say).
var problemWords = map[string]string{
	"unauthenticated":     "Please sign in first.",
	"enrollment_required": "You have no device to approve this with yet. Add one first: the terminal phone or the phone simulator will do.",
	"blocked":             "This is blocked for your account for now, for example after too many wrong codes. Try again in a few minutes.",
	"review":              "This is held for review: an operator looks at it (as the user \"operator\", at /admin/). Once approved, send it again: it goes through once.",
	"step_up_required":    "This needs an approval on one of your devices.",
	"rate_limited":        "Too many attempts. Wait a minute, then try again.",
	"unavailable":         "Something went wrong on our side. Nothing was done; try again in a moment.",
	"not_found":           "There is no such device on your account.",
	"cross_origin":        "This request came from another site and was refused.",
	"credential_limit":    "You have as many devices as an account may have. Remove one first.",
}

// problem renders an error page. code is the stable deviceauth error code
// (or the app's own): the page says it in words, and keeps the code only
// in an attribute.
func (a *App) problem(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	if words, ok := problemWords[code]; ok {
		message = words
	}
	v := problemView{frame: frame{Title: http.StatusText(status)}, Status: status, Code: code, Message: message,
		Link: "/", LinkText: "Home"}
	v.User, _ = a.users.ResolveUser(r)
	switch code {
	case "unauthenticated":
		v.LinkText = "Sign in"
	case "enrollment_required":
		v.Link, v.LinkText = "/devices", "Add a device"
	}
	a.render(w, status, "problem", v)
}

// serviceProblem renders a Service error with its status and code; any
// other error is the store or the session failing.
func (a *App) serviceProblem(w http.ResponseWriter, r *http.Request, err error) {
	e := &deviceauth.Error{Code: "unavailable", Status: http.StatusServiceUnavailable, Message: "the service is unavailable"}
	errors.As(err, &e)
	if e.Status >= 500 {
		a.log.ErrorContext(r.Context(), "example: request failed", "path", r.URL.Path, "error", err.Error())
	}
	a.problem(w, r, e.Status, e.Code, e.Message)
}

//go:embed templates/*.html
var templateFS embed.FS

// parsePages parses each page together with the shared layout.
func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"device": func() string { return deviceCommand },
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			// The demo's one date format, as the terminal phone prints it
			// and the simulator shows it (static/phone-ui.js).
			return t.Local().Format(time.DateTime)
		},
	}
	pages := map[string]*template.Template{}
	for _, name := range []string{"signin", "home", "devices", "enrol", "challenge", "transfer", "sent", "problem", "phone", "recovery"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("example: page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render writes page with data. Pages can carry tokens, so none is cached.
func (a *App) render(w http.ResponseWriter, status int, page string, data any) {
	var buf bytes.Buffer
	if err := a.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		a.log.Error("example: rendering a page failed", "page", page, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Scripts only from the app's own files (static/, and deviceauth.js
	// under /deviceauth/), never inline; QR codes are data: images.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
