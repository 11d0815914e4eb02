package gorillasession_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/sessions"

	"github.com/deviceauth/deviceauth/adapters/gorillasession"
)

// appCookie is the cookie of a session that the application itself filled
// with values, as its own sign-in would.
func appCookie(t *testing.T, store sessions.Store, values map[any]any) *http.Cookie {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	s, err := store.Get(req, "app")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range values {
		s.Values[k] = v
	}
	rec := httptest.NewRecorder()
	if err := s.Save(req, rec); err != nil {
		t.Fatal(err)
	}
	return rec.Result().Cookies()[0]
}

type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// A session that holds the user ID in a way the Resolver cannot read gives
// nobody, and the Resolver says why once — naming WithUserKey or the string
// rule, never the value.
func TestResolveUser_LogsOnceWhenTheUserIDIsElsewhere(t *testing.T) {
	store := sessions.NewCookieStore(hashKey)
	cases := []struct {
		name   string
		values map[any]any
		want   []string // in the one log line
	}{
		{"an int user ID", map[any]any{"userId": 4217}, []string{"not a string", "key=userId", "type=int", "strconv.Itoa"}},
		{"another key", map[any]any{"user_id": "alice-4217", "theme": "dark"}, []string{"WithUserKey", "key=userId", "sessionKeys=[user_id]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log := &lockedLog{}
			r := gorillasession.New(store, "app", gorillasession.WithLogger(slog.New(slog.NewTextHandler(log, nil))))
			cookie := appCookie(t, store, c.values)
			for range 3 {
				req := httptest.NewRequest("GET", "/", nil)
				req.AddCookie(cookie)
				if got, err := r.ResolveUser(req); got != "" || err != nil {
					t.Fatalf("ResolveUser = %q, %v; want nobody", got, err)
				}
			}
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("logged %d lines, want 1:\n%s", len(lines), log.String())
			}
			for _, w := range c.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("the log line lacks %q: %s", w, lines[0])
				}
			}
			if strings.Contains(lines[0], "4217") {
				t.Errorf("the log line carries the session's value: %s", lines[0])
			}
		})
	}

	// With the right key, or a session of unrelated values, nothing is said.
	log := &lockedLog{}
	r := gorillasession.New(store, "app", gorillasession.WithUserKey("user_id"), gorillasession.WithLogger(slog.New(slog.NewTextHandler(log, nil))))
	for _, values := range []map[any]any{{"user_id": "alice"}, {"theme": "dark"}} {
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(appCookie(t, store, values))
		r.ResolveUser(req)
	}
	if log.String() != "" {
		t.Fatalf("logged for a readable or unrelated session:\n%s", log.String())
	}
}
