package deviceauth

import (
	_ "embed"
	"net/http"
)

// browserScript is the browser side of QR sign-in (and, with package
// passkey, of passkeys): plain JavaScript, no build step.
//
//go:embed static/deviceauth.js
var browserScript []byte

// handleScript serves the browser script at /v1/deviceauth.js.
func (s *Service) handleScript(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(browserScript)
}
