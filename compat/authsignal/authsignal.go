package authsignal

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/protocol"
)

// Config configures a Handler. Zero fields take the default their comment
// gives; New validates every field and says which one is wrong.
type Config struct {
	// Service is the deviceauth Service (and so the store) the Handler
	// serves. Required.
	Service *deviceauth.Service
	// TenantID is the tenant ID the client SDKs are configured with; their
	// Basic header must name it. Required.
	TenantID string
	// SecretKeys are the server API's secret keys (the backend SDK's
	// apiSecretKey); any one authenticates. Required, each at least 16
	// bytes: a new one can be added before the old one is dropped.
	SecretKeys []string
	// WeakActions are the actions whose validation (the server API's
	// /validate, and the step-up of adding a device) admits an approval by
	// a compat device, which signs the challenge ID alone
	// (docs/compat-authsignal.md#what-is-weaker). Default none: such an
	// approval validates nowhere until the application lists its actions.
	WeakActions []string
	// AllowUnsignedPushFetch lets a device fetch its pending push
	// challenge without signing a server message, as the SDKs before iOS
	// 2.9.0 and Android 3.10.0 (React Native 2.11.0 included) do. Default
	// false: anyone who knows a device's public key could then read its
	// pending challenge.
	AllowUnsignedPushFetch bool
	// ClientTokenTTL is how long the token a track hands the client SDKs
	// works. Default 10 minutes; at most 10 minutes.
	ClientTokenTTL time.Duration
	// MaxBodyBytes caps request bodies and WebSocket messages. Default 16
	// KiB.
	MaxBodyBytes int64
	// BaseURL, when set, is the base URL the client SDKs are configured
	// with (".../v1"); New then refuses it when the browser SDK's rewrite
	// of it for the QR WebSocket would leave this Handler — a host or path
	// holding "v1" or "api" before the mount, as api.shop.com does
	// (docs/compat-authsignal.md#qr-over-websocket).
	BaseURL string
}

// Handler serves the subset of Authsignal's server and client APIs that
// docs/compat-authsignal.md lists, at the paths the SDKs call relative to
// their base URL ("/v1/…"). Mount it at the base URL's parent, beside
// the Service's own Handler:
//
//	h, err := authsignal.New(authsignal.Config{Service: svc, TenantID: …, SecretKeys: …})
//	mux.Handle("/as/", http.StripPrefix("/as", h)) // SDK base URL: https://app.example.com/as/v1
type Handler struct {
	cfg Config
	svc *deviceauth.Service
	mux *http.ServeMux
}

// New validates cfg, fills in its defaults and returns a Handler.
func New(cfg Config) (*Handler, error) {
	bad := func(field, why string) error { return errors.New("authsignal: Config." + field + " " + why) }
	switch {
	case cfg.Service == nil:
		return nil, bad("Service", "is required")
	case cfg.TenantID == "" || len(cfg.TenantID) > 128:
		return nil, bad("TenantID", "must be 1 to 128 bytes")
	case len(cfg.SecretKeys) == 0:
		return nil, bad("SecretKeys", "needs at least one key")
	}
	for _, k := range cfg.SecretKeys {
		if len(k) < 16 || strings.ContainsAny(k, ":") {
			return nil, bad("SecretKeys", "must each be at least 16 bytes, without a colon")
		}
	}
	for _, a := range cfg.WeakActions {
		if !protocol.ValidAction(a) {
			return nil, bad("WeakActions", "must be actions of 1 to 64 characters of [A-Za-z0-9_.:-]")
		}
	}
	switch {
	case cfg.ClientTokenTTL == 0:
		cfg.ClientTokenTTL = 10 * time.Minute
	case cfg.ClientTokenTTL < time.Second || cfg.ClientTokenTTL > 10*time.Minute:
		return nil, bad("ClientTokenTTL", "must be between one second and 10 minutes")
	}
	switch {
	case cfg.MaxBodyBytes == 0:
		cfg.MaxBodyBytes = 16 << 10
	case cfg.MaxBodyBytes < 1<<10:
		return nil, bad("MaxBodyBytes", "must be at least 1 KiB")
	}
	if cfg.BaseURL != "" {
		if err := checkBaseURL(cfg.BaseURL); err != nil {
			return nil, bad("BaseURL", err.Error())
		}
	}
	cfg.SecretKeys = slices.Clone(cfg.SecretKeys)
	cfg.WeakActions = slices.Clone(cfg.WeakActions)
	h := &Handler{cfg: cfg, svc: cfg.Service, mux: http.NewServeMux()}
	h.routes()
	return h, nil
}

// ServeHTTP serves the SDKs' requests.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// routes registers every endpoint; anything else is 404 in the SDKs'
// error shape.
func (h *Handler) routes() {
	m := h.mux
	// Server API (secret key).
	m.HandleFunc("POST /v1/users/{userId}/actions/{action}", h.server(h.track))
	m.HandleFunc("POST /v1/validate", h.server(h.validate))
	m.HandleFunc("GET /v1/users/{userId}/authenticators", h.server(h.authenticators))

	// Mobile devices (tenant Basic, or the client token to add a key).
	for _, ns := range namespaces {
		m.HandleFunc("GET /v1/client/user-authenticators/"+ns, h.getCredential)
		m.HandleFunc("POST /v1/client/user-authenticators/"+ns, h.addCredential(ns))
		m.HandleFunc("POST /v1/client/user-authenticators/"+ns+"/remove", h.removeCredential)
	}
	m.HandleFunc("POST /v1/client/user-authenticators/push/challenge/sign", h.pushSign)
	m.HandleFunc("GET /v1/client/user-authenticators/push/challenge", h.pushChallenge)
	m.HandleFunc("POST /v1/client/user-authenticators/push/challenge", h.updateChallenge)
	m.HandleFunc("POST /v1/client/user-authenticators/qr-code/challenge/claim", h.claimChallenge)
	m.HandleFunc("POST /v1/client/user-authenticators/qr-code/challenge", h.updateChallenge)
	m.HandleFunc("POST /v1/client/challenge", h.challenge)
	m.HandleFunc("POST /v1/client/verify/in-app", h.verifyInApp)

	// Passkeys (browser and mobile), when the Service has Config.Passkeys.
	m.HandleFunc("POST /v1/client/user-authenticators/passkey/registration-options", h.passkeyRegistrationOptions)
	m.HandleFunc("POST /v1/client/user-authenticators/passkey", h.addPasskey)
	m.HandleFunc("POST /v1/client/user-authenticators/passkey/authentication-options", h.passkeyAuthenticationOptions)
	m.HandleFunc("POST /v1/client/verify/passkey", h.verifyPasskey)
	m.HandleFunc("GET /v1/client/user-authenticators/passkey", h.getPasskey)

	// Browser.
	m.HandleFunc("POST /v1/client/challenge/push", h.browserPush)
	m.HandleFunc("POST /v1/client/verify/push", h.browserVerifyPush)
	m.HandleFunc("POST /v1/client/challenge/qr-code", h.browserQR)
	m.HandleFunc("POST /v1/client/verify/qr-code", h.browserVerifyQR)
	m.HandleFunc("GET /ws-v1-challenge", h.socket) // the SDK's rewrite of its base URL

	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errNotFound.describe("API endpoint not found"))
	})
}

// namespaces are the mobile SDKs' credential namespaces (one key each).
var namespaces = []string{"push", "qr-code", "in-app"}

// weak reports whether validations for action admit compat approvals.
func (h *Handler) weak(action string) bool { return slices.Contains(h.cfg.WeakActions, action) }

// socketURL is where the browser SDK opens its QR WebSocket for base URL
// base: four first-occurrence replacements, in its order.
func socketURL(base string) string {
	for _, r := range [][2]string{{"https://", "wss://"}, {"http://", "ws://"}, {"v1", "ws-v1-challenge"}, {"api", "api-ws"}} {
		base = strings.Replace(base, r[0], r[1], 1)
	}
	return base
}

// checkBaseURL says why base is not an SDK base URL whose socket URL is
// this Handler's: it must be http(s), end in /v1, and rewrite to the same
// host and the mount's /ws-v1-challenge.
func checkBaseURL(base string) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must be an http(s) URL without user, query or fragment")
	}
	mount, ok := strings.CutSuffix(base, "/v1")
	if !ok {
		return errors.New("must end in /v1, as the SDKs' paths follow it")
	}
	want := "ws" + strings.TrimPrefix(mount, "http") + "/ws-v1-challenge"
	if got := socketURL(base); got != want {
		return errors.New("is rewritten by the browser SDK to " + got + " for its QR WebSocket, not " + want + ": serve the adapter under a host and path without \"v1\" or \"api\" before /v1")
	}
	return nil
}
