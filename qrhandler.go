package deviceauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/deviceauth/deviceauth/event"
)

type createQRBody struct {
	Action   string `json:"action,omitempty"`
	Replaces string `json:"replaces,omitempty"`
}

func (s *Service) handleCreateQR(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var b createQRBody
	if len(body) > 0 {
		if err := decodeJSON(body, &b); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	q, err := s.CreateQR(r.Context(), QRRequest{
		Action: b.Action, Replaces: b.Replaces, ReplacesBinding: s.bindingCookie(r, b.Replaces), ClientIP: s.ClientIP(r),
		UserAgent: r.UserAgent(), Origin: r.Header.Get("Origin"),
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The challenge's own cookie, for as long as the challenge lives and a
	// long-poll more, so that the page still learns that it expired.
	maxAge := int((q.ExpiresAt.Sub(s.now()) + MaxLongPoll + time.Second - 1) / time.Second)
	http.SetCookie(w, s.bindingCookieFor(q.ChallengeID, q.Binding, maxAge))
	writeJSON(w, http.StatusCreated, q)
}

// bindingCookie returns the binding secret of QR challenge id that the
// browser sent (its binding cookie), "" when there is none.
func (s *Service) bindingCookie(r *http.Request, id string) string {
	if id == "" {
		return ""
	}
	if c, err := r.Cookie(s.cookieName(qrBindingCookie(id))); err == nil {
		return c.Value
	}
	return ""
}

// bindingCookieFor is the binding cookie of challenge id with value for
// maxAge seconds (negative: delete it now), scoped to the handler's mount.
func (s *Service) bindingCookieFor(id, value string, maxAge int) *http.Cookie {
	return s.cookie(qrBindingCookie(id), value, s.cookiePath(), maxAge)
}

// cookiePath is the path of the handler's mount (Config.PublicURL's).
func (s *Service) cookiePath() string {
	if p := s.publicURL.Path; p != "" {
		return p
	}
	return "/"
}

// cookie is every cookie the Service sets: HttpOnly, SameSite=Strict,
// and, when Config.PublicURL is https, Secure with the __Secure- prefix
// (so only a secure page can set it). maxAge < 0 deletes it.
func (s *Service) cookie(name, value, path string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: s.cookieName(name), Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteStrictMode}
}

// cookieName is the name cookie name is set under: __Secure- prefixed
// when the Service's cookies are Secure.
func (s *Service) cookieName(name string) string {
	if s.secureCookies() {
		return "__Secure-" + name
	}
	return name
}

// secureCookies reports whether the Service's cookies are Secure: its
// public URL is https.
func (s *Service) secureCookies() bool { return s.publicURL.Scheme == "https" }

func (s *Service) handleQRStatus(w http.ResponseWriter, r *http.Request) {
	wait, err := waitParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	st, err := s.WaitQR(r.Context(), id, s.bindingCookie(r, id), r.URL.Query().Get("since"), wait)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handleQREvents streams the state as server-sent events: one "state"
// event now and one at every change, until a final state, the challenge's
// expiry, the client leaving or the Service closing.
func (s *Service) handleQREvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	binding := s.bindingCookie(r, id)
	ch, err := s.boundQR(ctx, id, binding)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.fail(w, r, ErrInvalidRequest.withMessage("streaming is not supported here; use ?wait="))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	state := ch.State
	for {
		b, _ := json.Marshal(QRStatus{ChallengeID: id, State: string(state)})
		if _, err := fmt.Fprintf(w, "event: state\ndata: %s\n\n", b); err != nil {
			return
		}
		flusher.Flush()
		if state.Final() || ctx.Err() != nil {
			return
		}
		next, err := s.waitChange(ctx, id, state, MaxLongPoll)
		if err != nil {
			fmt.Fprintf(w, "event: error\ndata: {\"error\":\"unavailable\"}\n\n")
			flusher.Flush()
			return
		}
		select {
		case <-s.done:
			return
		default:
		}
		state = next.State
	}
}

func (s *Service) handleCompleteQR(w http.ResponseWriter, r *http.Request) {
	if s.cfg.SignIn == nil {
		s.fail(w, r, ErrNotFound.withMessage("QR sign-in is not configured (Config.SignIn)"))
		return
	}
	id := r.PathValue("id")
	// Only a sign-in challenge signs in; another action is not consumed.
	v, err := s.completeQR(r.Context(), id, s.bindingCookie(r, id), ActionSignIn)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !v.Valid {
		s.writeDenial(w, r, &Denial{Status: http.StatusForbidden, Body: DenialBody{Error: "challenge_failed",
			Message: "the QR challenge is not approved for this browser", State: StateChallengeFailed}})
		return
	}
	if err := s.cfg.SignIn(w, r, v.UserID); err != nil {
		s.fail(w, r, ErrUnavailable.with(err))
		return
	}
	// The challenge is used up: so is its binding cookie.
	http.SetCookie(w, s.bindingCookieFor(id, "", -1))
	s.emit(r.Context(), event.Event{Type: event.SignedIn, UserID: v.UserID, CredentialID: v.CredentialID, ChallengeID: v.ChallengeID, ClientIP: ipString(s.ClientIP(r))})
	writeJSON(w, http.StatusOK, QRStatus{ChallengeID: v.ChallengeID, State: "CONSUMED"})
}

type claimBody struct {
	ClaimSecret string `json:"claimSecret"`
}

func (s *Service) handleClaimQR(w http.ResponseWriter, r *http.Request) {
	dev, body, err := s.authenticateDeviceBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var b claimBody
	if err := decodeJSON(body, &b); err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.claimQR(r.Context(), dev, r.PathValue("id"), b.ClaimSecret)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
