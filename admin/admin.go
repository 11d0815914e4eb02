// Package admin is the operator's side of adaptive MFA: the queue of
// actions the rules held for review, each user's action history, and the
// approve and reject decisions, as JSON endpoints and a small page. An
// application mounts Handler behind its own admin authentication, which
// Options.Operator reads to name who decides (docs/admin.md).
//
// The page shows what requests carried — user agents, details, custom
// data — which attackers choose: it is rendered by html/template, served
// with a Content-Security-Policy that allows no inline script or style,
// and every decision goes through cross-origin protection.
package admin

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/protocol"
)

// Options configure Handler.
type Options struct {
	// Operator names who makes a request (the application's admin
	// identity, 1 to 128 bytes), recorded with every decision. Required.
	// An error or "" answers 403.
	Operator func(r *http.Request) (string, error)
}

// ContentSecurityPolicy is the policy every answer of Handler carries.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxBodyBytes caps a decision's body.
const maxBodyBytes = 4096

// queueLimit is the most reviews the queue shows, the Service's largest
// page; the queue has no cursor, oldest first, so a decision makes room.
const queueLimit = 200

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"json": func(v any) string {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return ""
		}
		return string(b)
	},
	"seg":  url.PathEscape,
	"item": func(v view, a deviceauth.Action) item { return item{Root: v.Root, Action: a} },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
}).ParseFS(templateFiles, "templates/*.html"))

// Handler serves the review queue and user histories of svc: mount it
// under a prefix with http.StripPrefix, behind the application's admin
// authentication. It panics when opts.Operator is nil, as a mux panics on
// a bad pattern.
//
//	GET  /                             the page: pending reviews
//	GET  /users/{user}                 the page: a user's history
//	GET  /api/reviews                  {"actions": […]}: pending reviews, oldest first
//	GET  /api/users/{user}/actions     {"actions": […], "next": cursor}: ?cursor=&limit=
//	POST /api/reviews/{user}/{action}  {"decision": "approve"|"reject", "note": "…"} → {"action": …}
//	POST /reviews/{user}/{action}      the page's form (decision, note) → 303 to /
func Handler(svc *deviceauth.Service, opts Options) http.Handler {
	if opts.Operator == nil {
		panic("admin: Options.Operator is required")
	}
	h := &handler{svc: svc, opts: opts}
	static, _ := fs.Sub(staticFiles, "static")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.queuePage)
	mux.HandleFunc("GET /users/{user}", h.userPage)
	// One file per name, no directory listing.
	mux.HandleFunc("GET /static/{file}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, r.PathValue("file"))
	})
	mux.HandleFunc("GET /api/reviews", h.apiReviews)
	mux.HandleFunc("GET /api/users/{user}/actions", h.apiActions)
	mux.HandleFunc("POST /api/reviews/{user}/{action}", h.apiDecide)
	mux.HandleFunc("POST /reviews/{user}/{action}", h.formDecide)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross_origin", "cross-origin requests decide nothing")
	}))
	return headers(h.authenticated(cop.Handler(mux)))
}

type handler struct {
	svc  *deviceauth.Service
	opts Options
}

// headers sets what every answer carries: the policy, no sniffing, no
// referrer, no caching, no framing.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

type operatorKey struct{}

// authenticated answers 403 unless Options.Operator names the requester.
func (h *handler) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, err := h.opts.Operator(r)
		if err != nil || op == "" || len(op) > 128 {
			writeError(w, http.StatusForbidden, "forbidden", "no operator for this request")
			return
		}
		next.ServeHTTP(w, r.WithContext(contextWith(r, op)))
	})
}

// writeError writes the root's error shape. The root exports the shape
// (deviceauth.DenialBody) and its errors (deviceauth.Error), not its
// writer: this is a small copy of it.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, deviceauth.DenialBody{Error: code, Message: msg})
}

// writeServiceError writes err, a Service error, with its status and code.
func writeServiceError(w http.ResponseWriter, err error) {
	var e *deviceauth.Error
	if errors.As(err, &e) {
		writeError(w, e.Status, e.Code, e.Message)
		return
	}
	writeError(w, http.StatusServiceUnavailable, "unavailable", "the service is unavailable")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *handler) apiReviews(w http.ResponseWriter, r *http.Request) {
	list, _, err := h.svc.Actions(r.Context(), deviceauth.ActionQuery{Reviews: true, Limit: queueLimit})
	if err != nil {
		writeServiceError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"actions": list})
}

func (h *handler) apiActions(w http.ResponseWriter, r *http.Request) {
	q := deviceauth.ActionQuery{UserID: r.PathValue("user"), Cursor: r.URL.Query().Get("cursor")}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", "limit must be a number")
			return
		}
		q.Limit = n
	}
	list, next, err := h.svc.Actions(r.Context(), q)
	if err != nil {
		writeServiceError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"actions": list, "next": next})
}

// decisionBody is a decision as the API takes it.
type decisionBody struct {
	Decision string `json:"decision"`
	Note     string `json:"note"`
}

func (h *handler) apiDecide(w http.ResponseWriter, r *http.Request) {
	// Decoded as the root decodes request bodies (protocol.UnmarshalStrict):
	// a duplicate "decision", another case of its name or an unknown
	// member is refused rather than read one way here and another by a
	// proxy in front.
	var body decisionBody
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeServiceError(w, deviceauth.ErrBodyTooLarge)
		return
	} else if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body could not be read")
		return
	}
	if err := protocol.UnmarshalStrict(raw, &body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	a, err := h.decide(r, body)
	if err != nil {
		writeServiceError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"action": a})
}

func (h *handler) formDecide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the form is malformed")
		return
	}
	if _, err := h.decide(r, decisionBody{Decision: r.PostForm.Get("decision"), Note: r.PostForm.Get("note")}); err != nil {
		writeServiceError(w, err)
		return
	}
	// Relative to the request's own URL, as the browser sent it: under
	// any mount prefix, back to the queue (http.Redirect would resolve it
	// against the path StripPrefix left).
	w.Header().Set("Location", "../../")
	w.WriteHeader(http.StatusSeeOther)
}

// decide records the operator's decision on the action the path names.
func (h *handler) decide(r *http.Request, body decisionBody) (deviceauth.Action, error) {
	var approve bool
	switch body.Decision {
	case "approve":
		approve = true
	case "reject":
	default:
		return deviceauth.Action{}, deviceauth.ErrInvalidRequest
	}
	return h.svc.DecideReview(r.Context(), deviceauth.ReviewDecision{UserID: r.PathValue("user"), ActionID: r.PathValue("action"),
		Approve: approve, Operator: operatorOf(r), Note: body.Note})
}

// item is one action as a page renders it.
type item struct {
	Root string
	deviceauth.Action
}

// view is what the pages render. Root is the relative path from the page
// to the handler's root, so that links work under any mount prefix.
type view struct {
	Root     string
	Title    string
	Operator string
	User     string
	Actions  []deviceauth.Action
	Next     string
	Error    string
	// Full says the queue shows its most, queueLimit: more may wait.
	Full bool
}

func (h *handler) queuePage(w http.ResponseWriter, r *http.Request) {
	list, _, err := h.svc.Actions(r.Context(), deviceauth.ActionQuery{Reviews: true, Limit: queueLimit})
	v := view{Root: "./", Title: "Pending reviews", Operator: operatorOf(r), Actions: list, Full: len(list) == queueLimit}
	if err != nil {
		v.Error = "The store failed; try again."
	}
	render(w, "queue.html", v)
}

func (h *handler) userPage(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	list, next, err := h.svc.Actions(r.Context(), deviceauth.ActionQuery{UserID: user, Cursor: r.URL.Query().Get("cursor")})
	v := view{Root: "../", Title: "History", Operator: operatorOf(r), User: user, Actions: list, Next: next}
	if err != nil {
		var e *deviceauth.Error
		if errors.As(err, &e) {
			v.Error = e.Message
		} else {
			v.Error = "The store failed; try again."
		}
	}
	render(w, "user.html", v)
}

func render(w http.ResponseWriter, name string, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, name, v); err != nil {
		// Headers are sent; the page is cut short, which the operator sees.
		return
	}
}
