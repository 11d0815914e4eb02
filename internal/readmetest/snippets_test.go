package readmetest

// The README's Go snippets, each between README:begin and README:end inside a
// function whose parameters are the snippet's free names (see readme_test.go).

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/sessions"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/adapters/gorillasession"
	"github.com/deviceauth/deviceauth/adapters/sqlitestore"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/passkey"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// log stands in for the standard package in the snippets: Fatal panics with
// its message, so a test can see what the snippet would have logged.
var log fatalLogger

type fatalLogger struct{}

func (fatalLogger) Fatal(v ...any) { panic(fatal(fmt.Sprint(v...))) }

type fatal string

func existingApp(ctx context.Context, key []byte, cookieStore sessions.Store, mux *http.ServeMux, transferHandler http.Handler) {
	// README:begin existing-app
	st, err := sqlitestore.Open("deviceauth.db") // or memstore, redisstore, pgxstore
	if err != nil {
		log.Fatal("deviceauth store: ", err)
	}
	if err := st.Migrate(ctx); err != nil {
		log.Fatal("deviceauth schema: ", err)
	}
	svc, err := deviceauth.New(deviceauth.Config{
		Store:     st,
		Keys:      [][]byte{key},                              // ≥32 random bytes; first signs, all verify
		PublicURL: "https://app.example.com/deviceauth",       // where phones reach the handler
		Users:     gorillasession.New(cookieStore, "session"), // who is logged in: your gorilla/sessions store
	})
	if err != nil {
		log.Fatal(err) // names what is wrong, e.g. a key that is too short
	}
	defer svc.Close(context.Background())
	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))

	// The handler runs only once the user's phone approved this amount and payee.
	amountAndPayee := deviceauth.WithDetails(func(r *http.Request, body []byte) (deviceauth.Details, error) {
		return deviceauth.Details{Message: "Send " + r.FormValue("amount") + " to " + r.FormValue("payee")}, nil
	})
	mux.Handle("POST /transfer", svc.Require("transfer", amountAndPayee)(transferHandler))
	// README:end
}

func howItWorks(ctx context.Context, key []byte, mux *http.ServeMux, userID string) error {
	// README:begin how-it-works
	svc, err := deviceauth.New(deviceauth.Config{
		Store:     memstore.New(),                       // or an adapter: SQLite, Redis, PostgreSQL
		Keys:      [][]byte{key},                        // ≥32 random bytes; first signs, all verify
		PublicURL: "https://app.example.com/deviceauth", // where phones reach the handler
	})
	if err != nil {
		return err // a configuration error, worded
	}
	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))

	// Before a sensitive action:
	details := deviceauth.Details{Message: "Send 25.00 EUR to Bob",
		Fields: []deviceauth.Field{{Label: "Amount", Value: "25.00 EUR"}, {Label: "Payee", Value: "Bob"}}}
	res, err := svc.Track(ctx, deviceauth.TrackRequest{UserID: userID, Action: "transfer", Details: details})
	if err != nil {
		return err
	}
	// res.State == deviceauth.StateChallengeRequired: send res.ChallengeID to the phone,
	// keep res.Token; when the phone has approved:
	v, err := svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: userID,
		Action: "transfer", Details: details})
	if err != nil {
		return err // the store failed: fail closed
	}
	if v.Valid {
		// proceed, once
	}
	// README:end
	return nil
}

func phoneSide(ctx context.Context, signer crypto.Signer, registrationToken, challengeID, codeTheUserTyped string) {
	// README:begin phone-side
	phone, _ := device.New("https://app.example.com/deviceauth", signer)
	phone.Register(ctx, registrationToken, "Ada's phone", "ios")
	ch, _ := phone.Challenge(ctx, challengeID) // or phone.Pending(ctx)
	phone.Approve(ctx, ch, codeTheUserTyped)
	// README:end
}

func inApp(ctx context.Context, svc *deviceauth.Service, phone *device.Client, userID string, details deviceauth.Details) error {
	// README:begin in-app
	res, err := svc.Track(ctx, deviceauth.TrackRequest{UserID: userID, Action: "transfer", Details: details, InApp: true})
	if err != nil {
		return err
	}
	payload, err := json.Marshal(res.InApp) // to the user's phone, over your own API; keep res.Token
	if err != nil {
		return err
	}
	// On the phone:
	ch, err := phone.InAppChallenge(payload) // show ch.Action and ch.Details, then
	_, err = phone.Approve(ctx, ch, "")
	// README:end
	return err
}

// The snippets that only compile are referenced here so that nothing calls
// them by accident and no tool calls them unused.
var _ = []any{howItWorks, phoneSide, inApp}

// runExistingApp runs the "In an existing app" snippet in a temporary
// directory and returns what it logged fatally ("" if it ran through).
func runExistingApp(t *testing.T, key []byte) (logged string) {
	t.Helper()
	t.Chdir(t.TempDir())
	defer func() {
		if r := recover(); r != nil {
			msg, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			logged = string(msg)
		}
	}()
	mux := http.NewServeMux()
	existingApp(t.Context(), key, sessions.NewCookieStore(make([]byte, 32)), mux, http.NotFoundHandler())
	return ""
}

// A key that is too short reaches the library's own message through the
// snippet's error check, not a nil-pointer panic in Close.
func TestExistingAppShortKey(t *testing.T) {
	got := runExistingApp(t, make([]byte, 16))
	want := "deviceauth: Config.Keys[0] is 16 bytes; at least 32 random bytes are required"
	if got != want {
		t.Fatalf("logged %q, want %q", got, want)
	}
}

// A store that cannot be opened is logged with its real error.
func TestExistingAppStoreError(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	// A directory where the database file should be: Open or Migrate must fail.
	if err := os.Mkdir(filepath.Join(dir, "deviceauth.db"), 0o700); err != nil {
		t.Fatal(err)
	}
	defer func() {
		r := recover()
		msg, ok := r.(fatal)
		if !ok {
			t.Fatalf("snippet did not log fatally: %v", r)
		}
		if !strings.HasPrefix(string(msg), "deviceauth st") || strings.HasSuffix(string(msg), "<nil>") {
			t.Fatalf("logged %q, want the store's real error", msg)
		}
	}()
	existingApp(t.Context(), make([]byte, 32), sessions.NewCookieStore(make([]byte, 32)), http.NewServeMux(), http.NotFoundHandler())
}

// With a good configuration the snippet runs through and mounts the handler
// and the gated route.
func TestExistingAppRuns(t *testing.T) {
	t.Chdir(t.TempDir())
	mux := http.NewServeMux()
	existingApp(t.Context(), make([]byte, 32), sessions.NewCookieStore(make([]byte, 32)), mux, http.NotFoundHandler())
	for _, target := range []string{"/deviceauth/v1/deviceauth.js", "/transfer"} {
		_, pattern := mux.Handler(httptest.NewRequest(http.MethodPost, target, nil))
		if pattern == "" {
			t.Errorf("no route for POST %s", target)
		}
	}
}

func passkeys(passkeyKey, key []byte, st store.Store, publicURL string, users *gorillasession.Resolver,
	mux *http.ServeMux, amountAndPayee deviceauth.RequireOption, transferHandler http.Handler) *deviceauth.Service {
	// README:begin passkeys
	pk, err := passkey.New(passkey.Config{
		RPID:        "app.example.com",                   // the site's domain (localhost for plain-http development)
		Origins:     []string{"https://app.example.com"}, // the exact origins of your pages
		DisplayName: "Example",
		Key:         passkeyKey, // ≥32 random bytes, the same on every instance, not the token key
	})
	if err != nil {
		log.Fatal(err)
	}
	svc, err := deviceauth.New(deviceauth.Config{Store: st, Keys: [][]byte{key}, PublicURL: publicURL,
		Users: users, SignIn: users.SignIn, Passkeys: pk})
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))

	// A transfer may be approved on a phone or with a passkey in this browser.
	mux.Handle("POST /transfer", svc.Require("transfer", amountAndPayee,
		deviceauth.WithMethods(deviceauth.MethodDevice, deviceauth.MethodPasskey))(transferHandler))
	// README:end
	return svc
}

func endOtherSessions(cfg *deviceauth.Config, appSessions interface{ EndAllBut(userID, keep string) }, currentSession func(context.Context) string) {
	// README:begin end-other-sessions
	cfg.OnEvent = func(ctx context.Context, e event.Event) {
		if e.Type == event.EndOtherSessions {
			appSessions.EndAllBut(e.UserID, currentSession(ctx)) // your session store
		}
	}
	// README:end
}
