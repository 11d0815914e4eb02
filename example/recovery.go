package main

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/gorilla/sessions"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/adapters/gorillasession"
	"github.com/deviceauth/deviceauth/event"
)

// sessionSinceKey is the session value that orders sign-ins: a number
// from sessionEnds.seq, stamped at sign-in and after the request that
// ended the user's other sessions.
const sessionSinceKey = "since"

// sessionEnds ends a user's other sessions when deviceauth says so
// (EventEndOtherSessions: a device was removed, a recovery code used).
// Cookie sessions cannot be listed, so each session carries the number of
// its sign-in, and a session older than the user's last end is signed out
// at its next request. A real app with a server-side session store deletes
// the sessions instead.
type sessionEnds struct {
	cookies *sessions.CookieStore
	seq     atomic.Int64
	mu      sync.Mutex
	ended   map[string]int64 // user → seq at the last end
}

func newSessionEnds(cookies *sessions.CookieStore) *sessionEnds {
	return &sessionEnds{cookies: cookies, ended: map[string]int64{}}
}

// onEvent is the Service's Config.OnEvent.
func (s *sessionEnds) onEvent(_ context.Context, e event.Event) {
	if e.Type != event.EndOtherSessions {
		return
	}
	s.mu.Lock()
	s.ended[e.UserID] = s.seq.Add(1)
	s.mu.Unlock()
}

// stamp marks the request's session as signed in now, after any end: the
// session that asked for a removal or used a recovery code stays.
func (s *sessionEnds) stamp(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.cookies.Get(r, sessionName)
	if err != nil {
		return err
	}
	sess.Values[sessionSinceKey] = s.seq.Add(1)
	return sess.Save(r, w)
}

// signIn signs user in (gorillasession's SignIn: a new session) and
// stamps the new session. SignIn saved a session the request's registry
// does not hold, so the stamped copy is saved after it (the later cookie
// wins).
func (s *sessionEnds) signIn(users *gorillasession.Resolver, w http.ResponseWriter, r *http.Request, user string) error {
	if err := users.SignIn(w, r, user); err != nil {
		return err
	}
	n := sessions.NewSession(s.cookies, sessionName)
	opts := *s.cookies.Options
	n.Options, n.IsNew = &opts, true
	n.Values[gorillasession.DefaultUserKey] = user
	n.Values[sessionSinceKey] = s.seq.Add(1)
	return n.Save(r, w)
}

// ended reports whether the request's session of user began before the
// user's sessions were last ended.
func (s *sessionEnds) endedFor(r *http.Request, user string) bool {
	s.mu.Lock()
	end, ok := s.ended[user]
	s.mu.Unlock()
	if !ok {
		return false
	}
	sess, err := s.cookies.Get(r, sessionName)
	if err != nil {
		return true
	}
	since, _ := sess.Values[sessionSinceKey].(int64)
	return since < end
}

type recoveryView struct {
	frame
	Codes []string
}

// recoveryCodes shows new recovery codes once, after the user approved
// it on a device with number matching (Service.RecoveryCodes); earlier
// codes stop working.
func (a *App) recoveryCodes(w http.ResponseWriter, r *http.Request) {
	user, ok := a.signedIn(w, r)
	if !ok {
		return
	}
	token := r.PostFormValue(tokenField)
	codes, err := a.svc.RecoveryCodes(r.Context(), user, token)
	if errors.Is(err, deviceauth.ErrStepUpRequired) {
		a.stepUp(w, r, user, stepUpPage{action: deviceauth.ActionRecoveryCodes, formAction: "/devices/recovery-codes",
			title: "Approve new recovery codes", summary: "Create new recovery codes"}, token)
		return
	}
	if err != nil {
		a.serviceProblem(w, r, err)
		return
	}
	a.render(w, http.StatusOK, "recovery", recoveryView{frame: frame{Title: "Recovery codes", User: user}, Codes: codes})
}
