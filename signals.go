package deviceauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"time"

	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/risk"
	"github.com/deviceauth/deviceauth/store"
)

// Signals: what the Service tells its rules about an action
// (docs/rules.md#signals), computed from the user's credentials, the
// wrong-code counter and the user's recent action records.

// readSignals reads what the signals of req are computed from: the
// user's credentials, counter counter and the tallies of the user's
// action records (when the store keeps them) — in one store call over a
// store.SignalStore, else tallied here from the records.
func (s *Service) readSignals(ctx context.Context, req TrackRequest, counter string, now time.Time) (store.SignalRead, error) {
	q := store.SignalQuery{UserID: req.UserID, Action: req.Action, Prefix: ipPrefix(req.ClientIP), Browser: browserDigest(req.Browser),
		Counter: counter, Now: now, KnownSince: now.Add(-s.cfg.KnownFor), ReviewSince: now.Add(-s.cfg.ReviewFor)}
	as := s.actionStore()
	if ss, ok := s.store.(store.SignalStore); ok && as != nil {
		r, err := ss.ReadSignals(ctx, q)
		if err != nil {
			return store.SignalRead{}, s.storeFailed(ctx, err)
		}
		return r, nil
	}
	var (
		r   store.SignalRead
		err error
	)
	if counter != "" {
		if r.Counter, err = s.store.Counter(ctx, counter, now); err != nil {
			return store.SignalRead{}, s.storeFailed(ctx, err)
		}
	}
	if r.Credentials, err = s.store.ListCredentials(ctx, req.UserID); err != nil {
		return store.SignalRead{}, s.storeFailed(ctx, err)
	}
	if as == nil {
		return r, nil
	}
	recs, err := as.Actions(ctx, store.ActionQuery{UserID: req.UserID, Since: q.Since(), PassedSince: q.KnownSince,
		Limit: signalRecords, Brief: true}, now)
	if err != nil {
		return store.SignalRead{}, s.storeFailed(ctx, err)
	}
	for i := range recs {
		q.Tally(&r, &recs[i])
	}
	return r, nil
}

// signals computes the signals of req for the policy from what
// readSignals read. Without history (store.ActionStore) the known,
// velocity, failure and recency signals say "nothing known".
func (s *Service) signals(ctx context.Context, req TrackRequest, r store.SignalRead, now time.Time) risk.Signals {
	creds := r.Credentials
	sig := risk.NewSignals(req.Action)
	sig.User.Enrolled = len(creds) > 0
	sig.User.Credentials = len(creds)
	var newest time.Time
	for _, c := range creds {
		if k := string(c.Kind); !slices.Contains(sig.User.Kinds, k) {
			sig.User.Kinds = append(sig.User.Kinds, k)
		}
		if c.CreatedAt.After(newest) {
			newest = c.CreatedAt
		}
	}
	slices.Sort(sig.User.Kinds)
	if !newest.IsZero() {
		sig.User.NewestCredentialAge = max(now.Sub(newest), 0)
	}
	if req.ClientIP.IsValid() {
		sig.Request.IP = req.ClientIP.Unmap().String()
	}
	sig.Request.UserAgent = req.UserAgent
	sig.Amount = req.Amount
	sig.Custom = req.Custom
	sig.Failures.WrongCodes = int(r.Counter)
	if s.cfg.Geo != nil && req.ClientIP.IsValid() {
		g, err := s.cfg.Geo.Resolve(ctx, req.ClientIP)
		if err != nil {
			s.log.WarnContext(ctx, "deviceauth: geo resolver failed", "error", err.Error())
		} else {
			sig.Geo = g
		}
	}
	if s.actionStore() == nil {
		return sig
	}
	// This action counts itself.
	sig.Velocity = risk.VelocitySignals{Minute: r.Minute + 1, Hour: r.Hour + 1, Day: r.Day + 1}
	sig.Failures.Denies, sig.Failures.Validations = r.Denies, r.Failures
	sig.Known = risk.KnownSignals{Prefix: r.KnownPrefix, Browser: r.KnownBrowser}
	if !r.PassedAny.IsZero() {
		sig.Recency.Any = max(now.Sub(r.PassedAny), 0)
	}
	if !r.PassedAction.IsZero() {
		sig.Recency.Action = max(now.Sub(r.PassedAction), 0)
	}
	return sig
}

// The browser cookie: a random ID the Service sets, HttpOnly, so that
// rules can tell a browser seen before (known.browser, recency.*). Only
// its digest is stored.
const (
	browserCookie       = "deviceauth-browser"
	browserCookieSecure = "__Host-deviceauth-browser"
	browserCookieAge    = 400 * 24 * time.Hour // the most browsers keep
)

// BrowserID returns the ID of the browser r comes from, from the cookie
// the Service sets, setting it on w when r has none (HttpOnly, SameSite
// Lax; Secure with the __Host- prefix over https). Pass it as
// TrackRequest.Browser when the application tracks from its own handler;
// Require does so itself. It is an identifier, not a secret: a browser
// that clears its cookies is a new browser.
func BrowserID(w http.ResponseWriter, r *http.Request) string {
	name := browserCookie
	if r.TLS != nil {
		name = browserCookieSecure
	}
	if c, err := r.Cookie(name); err == nil && validBrowserID(c.Value) {
		return c.Value
	}
	var b [16]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{Name: name, Value: id, Path: "/", MaxAge: int(browserCookieAge / time.Second),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	return id
}

// validBrowserID reports whether id is of the form BrowserID mints.
func validBrowserID(id string) bool {
	return len(id) == 22 && protocol.ValidID(id)
}

// browserDigest is what records keep of a browser ID: "" for none.
func browserDigest(id string) string {
	if !validBrowserID(id) {
		return ""
	}
	h := sha256.Sum256([]byte("deviceauth browser v1\x00" + id))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}
