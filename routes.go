package deviceauth

import (
	"maps"
	"net/http"
	"slices"
	"strings"
)

// Handler returns every endpoint of the Service (docs/protocol.md), passkey
// ceremonies included when Config.Passkeys is set. Mount it under any
// prefix, e.g.
//
//	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))
//
// and set Config.PublicURL to the URL of that prefix. Device-signed
// requests cover the path as the client sent it, so prefixes and proxies
// that keep the request URI do not break signatures. The routes are the
// table below; "browser" routes act for the logged-in user's session
// (Config.Users) and refuse cross-origin requests
// (http.CrossOriginProtection), "signed" ones are RFC 9421 signed by a
// device key, "body-signed" ones carry a signature in their body.
func (s *Service) Handler() http.Handler {
	type route struct {
		method, pattern string
		browser         bool
		handle          http.HandlerFunc
	}
	routes := []route{
		// The device (devicehandler.go; the RFC 9421 check in signedrequest.go).
		{"POST", "/v1/credentials", false, s.handleRegister},                    // register a device key (body-signed)
		{"DELETE", "/v1/credentials/{id}", false, s.handleRemoveSelf},           // a device removes itself (signed)
		{"PUT", "/v1/credentials/{id}/push-token", false, s.handleSetPushToken}, // a device sets its push token (signed)
		{"GET", "/v1/challenges", false, s.handlePending},                       // the user's pending challenges (signed)
		{"GET", "/v1/challenges/{id}", false, s.handleFetch},                    // one challenge (signed)
		{"POST", "/v1/challenges/{id}/response", false, s.handleRespond},        // approve or deny (body-signed)
		{"POST", "/v1/qr/{id}/claim", false, s.handleClaimQR},                   // claim a QR challenge with its code's secret (signed)

		// The logged-in user's pages (web.go, rename.go, webstate.go). A
		// step-up works as on a gated route: without a Deviceauth-Token the
		// answer is 401 challenge_required for addAuthenticator or
		// removeAuthenticator; retry with the token once approved.
		{"POST", "/v1/web/registration-tokens", true, s.handleMint},            // mint a registration token (step-up when enrolled)
		{"GET", "/v1/web/credentials", true, s.handleListCredentials},          // list the user's credentials
		{"DELETE", "/v1/web/credentials/{id}", true, s.handleRemoveCredential}, // remove one (step-up)
		{"PATCH", "/v1/web/credentials/{id}", true, s.handleRenameCredential},  // rename one ({"name": …})
		{"GET", "/v1/web/challenges/{id}", true, s.handleChallengeState},       // a challenge's state, long-polling with ?since=S&wait=D

		// QR sign-in, the browser's side (qrhandler.go); the GETs only
		// report state.
		{"POST", "/v1/qr", true, s.handleCreateQR},                 // create (or refresh) a QR challenge; sets its binding cookie
		{"GET", "/v1/qr/{id}", false, s.handleQRStatus},            // the state, long-polling with ?since=S&wait=D
		{"GET", "/v1/qr/{id}/events", false, s.handleQREvents},     // the state as server-sent events
		{"POST", "/v1/qr/{id}/complete", true, s.handleCompleteQR}, // sign in (Config.SignIn) once approved

		{"GET", "/v1/deviceauth.js", false, s.handleScript}, // the browser script (script.go)
	}
	if s.cfg.Passkeys != nil {
		// Passkeys (passkeyhandler.go).
		routes = append(routes,
			route{"POST", "/v1/passkey/registration/options", true, s.handlePasskeyRegistrationOptions}, // begin adding a passkey (step-up when enrolled)
			route{"POST", "/v1/passkey/registration", true, s.handlePasskeyRegistration},                // finish: → 201 the credential
			route{"POST", "/v1/passkey/login/options", true, s.handlePasskeyLoginOptions},               // begin a sign-in: {} or {"username": …}
			route{"POST", "/v1/passkey/login", true, s.handlePasskeyLogin},                              // finish: → signed in
			route{"GET", "/v1/passkey/passkey.js", false, s.handlePasskeyScript},                        // the passkey browser script
			route{"POST", "/v1/web/challenges/{id}/passkey/options", true, s.handlePasskeyOptions},      // step-up: request options
			route{"POST", "/v1/web/challenges/{id}/passkey", true, s.handlePasskeyRespond},              // step-up: the assertion → APPROVED
		)
	}

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.fail(w, r, ErrCrossOrigin) }))
	// A path may serve several methods (DELETE and PATCH of a credential):
	// each pattern is registered once, answering 405 with Allow for others.
	byPath := map[string]map[string]http.Handler{}
	mux := http.NewServeMux()
	for _, rt := range routes {
		var h http.Handler = rt.handle
		if rt.browser {
			h = cop.Handler(h)
		}
		methods, ok := byPath[rt.pattern]
		if !ok {
			methods = map[string]http.Handler{}
			byPath[rt.pattern] = methods
			mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
				h, ok := methods[r.Method]
				if !ok {
					w.Header().Set("Allow", strings.Join(slices.Sorted(maps.Keys(methods)), ", "))
					s.fail(w, r, ErrMethodNotAllowed)
					return
				}
				h.ServeHTTP(w, r)
			})
		}
		methods[rt.method] = h
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.fail(w, r, ErrNotFound) })
	return mux
}
