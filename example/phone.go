package main

import (
	"embed"
	"io/fs"
	"net/http"
)

// The browser side of the demo: the "Sign in with your phone" script of
// the sign-in page and the phone simulator (/phone), a page that plays the
// phone with a non-extractable WebCrypto key kept in IndexedDB, so that
// every flow can be tried with one browser and no phone. They are plain
// JavaScript files, embedded: no build step.
//
//	static/qr-signin.js  the sign-in page's use of DeviceAuth.qrSignIn
//	                     (the script deviceauth serves at /deviceauth/v1/deviceauth.js)
//	static/phone.js      the device side of docs/protocol.md: framing,
//	                     signatures, RFC 9421, the endpoints, IndexedDB
//	static/phone-ui.js   the simulator page's buttons

//go:embed static
var staticFS embed.FS

// staticFiles serves static/ at /static/.
func staticFiles() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	files := http.StripPrefix("/static", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

type phoneView struct {
	frame
	// Server is Config.PublicURL: what the simulator registers with and
	// signs for.
	Server string
}

// phone serves the phone simulator. It needs no sign-in: it is the phone,
// not the app; it only uses the app's session to fetch a registration
// token when asked, and, standing for the app's own sign-in, to get the
// user's in-app challenges (GET /phone/in-app, inapp.go).
func (a *App) phone(w http.ResponseWriter, r *http.Request) {
	user, err := a.users.ResolveUser(r)
	if err != nil {
		a.serviceProblem(w, r, err)
		return
	}
	a.render(w, http.StatusOK, "phone", phoneView{frame: frame{Title: "Phone simulator", User: user}, Server: a.publicURL})
}
