// Package gorillasession tells deviceauth who is logged in from an
// application's github.com/gorilla/sessions store, and can remember recent
// step-ups in the same session.
//
//	users := gorillasession.New(cookieStore, "app-session")
//	svc, _ := deviceauth.New(deviceauth.Config{…, Users: users})
//	mux.Handle("POST /transfer", svc.Require("transfer",
//		deviceauth.WithStepUpMemory(users.StepUpMemory(5*time.Minute)))(transfer))
//
// The session holds the user ID as a string under a key (default
// "userId", or WithUserKey). A session that holds it as another type (an
// int), or under another key, gives nobody — and the Resolver logs that
// once, naming the key and type. A missing, stale or undecodable cookie means nobody is logged
// in — never an error, so a rotated key or an old cookie is a 401, not a
// 500. Errors of the session store itself (a backend that fails) are
// returned, and gated routes fail closed.
package gorillasession

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/deviceauth/deviceauth"
)

// DefaultUserKey is the session value that holds the user ID.
const DefaultUserKey = "userId"

// stepUpKey is the session value that holds remembered step-ups (JSON).
const stepUpKey = "deviceauth.stepUps"

// maxRemembered bounds how many step-ups one session remembers.
const maxRemembered = 8

// Resolver resolves the logged-in user from a gorilla/sessions store. It
// implements deviceauth.UserResolver.
type Resolver struct {
	store   sessions.Store
	name    string
	userKey string
	log     *slog.Logger
	warned  atomic.Bool // the user-key warning is logged once
}

// Option configures a Resolver.
type Option func(*Resolver)

// WithUserKey sets the session value that holds the user ID (default
// DefaultUserKey).
func WithUserKey(key string) Option { return func(r *Resolver) { r.userKey = key } }

// WithLogger sets where the Resolver says, once, that sessions hold the
// user ID in a way it cannot read (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(r *Resolver) { r.log = l } }

// New returns a Resolver for the session called name in store.
func New(store sessions.Store, name string, opts ...Option) *Resolver {
	r := &Resolver{store: store, name: name, userKey: DefaultUserKey, log: slog.Default()}
	for _, o := range opts {
		o(r)
	}
	return r
}

// session returns the request's session; ok is false when its cookie is
// stale or undecodable (a new, empty session is returned then).
func (r *Resolver) session(req *http.Request) (s *sessions.Session, fresh bool, err error) {
	s, err = r.store.Get(req, r.name)
	if err == nil {
		return s, false, nil
	}
	if stale(err) {
		if s == nil {
			s = sessions.NewSession(r.store, r.name)
		}
		return s, true, nil
	}
	return nil, false, err
}

// stale reports whether a session error only means "no valid session".
func stale(err error) bool {
	var sc securecookie.Error
	if errors.As(err, &sc) && (sc.IsDecode() || sc.IsUsage()) {
		return true
	}
	return errors.Is(err, fs.ErrNotExist)
}

// ResolveUser implements deviceauth.UserResolver.
func (r *Resolver) ResolveUser(req *http.Request) (string, error) {
	s, fresh, err := r.session(req)
	if err != nil || fresh {
		return "", err
	}
	v, ok := s.Values[r.userKey]
	user, isString := v.(string)
	if (ok && !isString) || (!ok && len(s.Values) > 0) {
		r.warnUserKey(s, v, ok)
	}
	return user, nil
}

// warnUserKey says, once per Resolver, why a session that holds values
// gives no user: the user ID is not a string, or it sits under another key
// than the Resolver's. Values are never logged, only keys and types.
func (r *Resolver) warnUserKey(s *sessions.Session, v any, found bool) {
	if found {
		if r.warned.CompareAndSwap(false, true) {
			r.log.Warn("gorillasession: the session's user ID is not a string, so nobody is logged in for deviceauth; store it as a string (e.g. strconv.Itoa)",
				"key", r.userKey, "type", fmt.Sprintf("%T", v))
		}
		return
	}
	var others []string
	for k := range s.Values {
		if name, ok := k.(string); ok && name != stepUpKey && looksLikeUserKey(name) {
			others = append(others, name)
		}
	}
	if len(others) > 0 && r.warned.CompareAndSwap(false, true) {
		slices.Sort(others)
		r.log.Warn("gorillasession: the session has no user ID under the Resolver's key, so nobody is logged in for deviceauth; name the key your app uses with gorillasession.WithUserKey",
			"key", r.userKey, "sessionKeys", others)
	}
}

// looksLikeUserKey reports whether a session key's name suggests a user ID.
func looksLikeUserKey(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "user") || n == "uid" || n == "sub" || n == "account"
}

// SignIn logs userID in: it starts a new session (a new ID in server-side
// stores, so a session fixed before sign-in is not reused; all old values,
// including remembered step-ups, are dropped) and saves it. Call it before
// writing the response body.
func (r *Resolver) SignIn(w http.ResponseWriter, req *http.Request, userID string) error {
	s, _, err := r.session(req)
	if err != nil {
		return err
	}
	old := *s.Options
	if s.ID != "" && !s.IsNew {
		// Expire the old server-side session before starting a new one.
		s.Options.MaxAge = -1
		if err := s.Save(req, w); err != nil {
			return err
		}
	}
	n := sessions.NewSession(r.store, r.name)
	opts := old
	n.Options = &opts
	if n.Options.MaxAge < 0 {
		n.Options.MaxAge = 0
	}
	n.IsNew = true
	n.Values[r.userKey] = userID
	return n.Save(req, w)
}

// SignOut ends the session.
func (r *Resolver) SignOut(w http.ResponseWriter, req *http.Request) error {
	s, _, err := r.session(req)
	if err != nil {
		return err
	}
	s.Values = map[any]any{}
	s.Options.MaxAge = -1
	return s.Save(req, w)
}

// StepUpMemory returns a deviceauth.StepUpMemory that keeps approvals in
// this session for window. It is off unless asked for: pass it to
// deviceauth.WithStepUpMemory on the routes that may use it.
func (r *Resolver) StepUpMemory(window time.Duration) deviceauth.StepUpMemory {
	return &memory{r: r, window: window}
}

type memory struct {
	r      *Resolver
	window time.Duration
}

// remembered decodes the session's step-ups; garbage is nothing.
func (m *memory) remembered(s *sessions.Session) []deviceauth.StepUp {
	raw, _ := s.Values[stepUpKey].(string)
	var sus []deviceauth.StepUp
	if raw == "" || json.Unmarshal([]byte(raw), &sus) != nil {
		return nil
	}
	return sus
}

// Recall implements deviceauth.StepUpMemory.
func (m *memory) Recall(req *http.Request, userID, action string, digest []byte, now time.Time) (deviceauth.StepUp, bool, error) {
	s, fresh, err := m.r.session(req)
	if err != nil || fresh {
		return deviceauth.StepUp{}, false, err
	}
	for _, su := range m.remembered(s) {
		if su.UserID == userID && su.Action == action && string(su.DetailsDigest) == string(digest) &&
			!su.At.After(now) && now.Sub(su.At) <= m.window {
			return su, true, nil
		}
	}
	return deviceauth.StepUp{}, false, nil
}

// Remember implements deviceauth.StepUpMemory.
func (m *memory) Remember(w http.ResponseWriter, req *http.Request, su deviceauth.StepUp) error {
	s, _, err := m.r.session(req)
	if err != nil {
		return err
	}
	keep := []deviceauth.StepUp{su}
	for _, old := range m.remembered(s) {
		if len(keep) < maxRemembered && old.UserID == su.UserID && su.At.Sub(old.At) <= m.window {
			keep = append(keep, old)
		}
	}
	b, err := json.Marshal(keep)
	if err != nil {
		return err
	}
	s.Values[stepUpKey] = string(b)
	return s.Save(req, w)
}
