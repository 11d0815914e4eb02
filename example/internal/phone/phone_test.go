package phone_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/example/internal/phone"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// server is a deviceauth Service behind its Handler at /deviceauth, as an
// app mounts it; the tests play the app's backend through the Service.
type server struct {
	svc    *deviceauth.Service
	store  *memstore.Store // to remove a credential behind the phone's back
	public string
	dir    string
}

func newServer(t *testing.T) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String() + "/deviceauth"
	st := memstore.New()
	svc, err := deviceauth.New(deviceauth.Config{Store: st, Keys: [][]byte{bytes.Repeat([]byte{7}, 32)},
		PublicURL: public, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		svc.Close(context.Background())
		st.Close()
	})
	return &server{svc: svc, store: st, public: public, dir: t.TempDir()}
}

type result struct {
	code           int
	stdout, stderr string
}

func run(stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	code := phone.Run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func (r result) want(t *testing.T, code int, texts ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range texts {
		if !strings.Contains(r.stdout+r.stderr, s) {
			t.Fatalf("output does not contain %q\nstdout:\n%s\nstderr:\n%s", s, r.stdout, r.stderr)
		}
	}
}

// enrol enrols a phone for user into a new state file and returns its path.
func (s *server) enrol(t *testing.T, user string) string {
	t.Helper()
	g, err := s.svc.MintRegistrationToken(context.Background(), user, "")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(s.dir, user+".json")
	run("", "enrol", "-server", s.public, "-token", g.Token, "-key", file).want(t, 0, "Enrolled")
	return file
}

var transferDetails = deviceauth.Details{Message: "Send 1 000,00 € to Zoë",
	Fields: []deviceauth.Field{{Label: "Amount", Value: "1 000,00 €"}, {Label: "IBAN", Value: "DE89 3704 0044 0532 0130 00"}}}

func (s *server) track(t *testing.T, user string, code bool) deviceauth.TrackResult {
	t.Helper()
	res, err := s.svc.Track(context.Background(), deviceauth.TrackRequest{UserID: user, Action: "transfer",
		Details: transferDetails, VerificationCode: code, UserAgent: "Firefox/140"})
	if err != nil || res.ChallengeID == "" {
		t.Fatalf("Track: %+v, %v", res, err)
	}
	return res
}

// valid reports whether the app's token validates now (consuming it).
func (s *server) valid(t *testing.T, user, token string) bool {
	t.Helper()
	v, err := s.svc.Validate(context.Background(), deviceauth.ValidateRequest{Token: token, UserID: user,
		Action: "transfer", Details: transferDetails})
	if err != nil {
		t.Fatal(err)
	}
	return v.Valid
}

func TestEnrol_SavesKeyCredentialAndServerInAPrivateFile(t *testing.T) {
	s := newServer(t)
	g, err := s.svc.MintRegistrationToken(context.Background(), "ada", "")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(s.dir, "phone.json")
	run("", "enrol", "-server", s.public, "-token", g.Token, "-name", "Ada's terminal", "-key", file).
		want(t, 0, `Enrolled "Ada's terminal"`)
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(file)
	var st struct{ Server, CredentialID, Name, Key string }
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	creds, err := s.svc.Credentials(context.Background(), "ada")
	if err != nil || len(creds) != 1 {
		t.Fatalf("Credentials: %v, %v; want one", creds, err)
	}
	c := creds[0]
	if st.Server != s.public || st.CredentialID != c.ID || st.Name != "Ada's terminal" || c.Name != "Ada's terminal" ||
		c.Algorithm != "ES256" || c.Platform != "terminal" || !strings.HasPrefix(st.Key, "-----BEGIN PRIVATE KEY-----\n") {
		t.Fatalf("state %+v, credential %+v", st, c)
	}
}

func TestEnrol_RefusesToOverwriteAnEnrolledPhone(t *testing.T) {
	s := newServer(t)
	file := s.enrol(t, "ada")
	before, _ := os.ReadFile(file)
	g, _ := s.svc.MintRegistrationToken(context.Background(), "bob", "")
	run("", "enrol", "-server", s.public, "-token", g.Token, "-key", file).want(t, 1, "already holds an enrolled phone")
	after, _ := os.ReadFile(file)
	if !bytes.Equal(before, after) {
		t.Fatal("the state file changed")
	}
	if creds, _ := s.svc.Credentials(context.Background(), "bob"); len(creds) != 0 {
		t.Fatalf("bob got %d credentials, want none", len(creds))
	}
}

func TestEnrol_BadTokenLeavesNoFile(t *testing.T) {
	s := newServer(t)
	file := filepath.Join(s.dir, "phone.json")
	run("", "enrol", "-server", s.public, "-token", "drt_bogus", "-key", file).want(t, 1, "registration_failed", "get a new one")
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("state file after a failed enrol: %v, want none", err)
	}
}

func TestPending_ShowsTheDetailsExactlyAsReceived(t *testing.T) {
	s := newServer(t)
	file := s.enrol(t, "ada")
	run("", "pending", "-key", file).want(t, 0, "No pending challenges.")

	res := s.track(t, "ada", true)
	r := run("", "pending", "-key", file)
	r.want(t, 0)
	for _, line := range []string{
		"challenge " + res.ChallengeID + "\n  action:   transfer\n  details:\n",
		"    Send 1 000,00 € to Zoë\n    Amount: 1 000,00 €\n    IBAN: DE89 3704 0044 0532 0130 00\n",
		"  code:     required",
		"  browser:  Firefox/140\n",
		"  expires:  ",
	} {
		if !strings.Contains(r.stdout, line) {
			t.Fatalf("pending output lacks %q:\n%s", line, r.stdout)
		}
	}
}

// A step-up to add a device tracked without details still says what it
// does, and asks for the code.
func TestPending_StepUpShowsTheAddition(t *testing.T) {
	s := newServer(t)
	file := s.enrol(t, "ada")
	res, err := s.svc.Track(context.Background(), deviceauth.TrackRequest{UserID: "ada", Action: deviceauth.ActionAddAuthenticator})
	if err != nil {
		t.Fatal(err)
	}
	run("", "pending", "-key", file).want(t, 0, "challenge "+res.ChallengeID+"\n  action:   addAuthenticator\n  details:\n"+
		"    Add a new device to your account\n  code:     required")
}

func TestApprove_AsksForTheCodeAndAConfirmation(t *testing.T) {
	s := newServer(t)
	file := s.enrol(t, "ada")
	res := s.track(t, "ada", true)
	run(res.VerificationCode+"\ny\n", "approve", res.ChallengeID, "-key", file).
		want(t, 0, "Send 1 000,00 € to Zoë", "Type the code shown on the other screen: ", "Approve? [y/N] ", "Approved (APPROVED)")
	if !s.valid(t, "ada", res.Token) {
		t.Fatal("the app's token does not validate after approval")
	}
}

func TestApprove_AnythingButYesLeavesItPending(t *testing.T) {
	for _, answer := range []string{"n\n", "\n", "", "maybe\n"} {
		t.Run(strings.TrimSpace(answer), func(t *testing.T) {
			s := newServer(t)
			file := s.enrol(t, "ada")
			res := s.track(t, "ada", false)
			run(answer, "approve", res.ChallengeID, "-key", file).want(t, 1, "Approve? [y/N] ", "not approved")
			if s.valid(t, "ada", res.Token) {
				t.Fatal("the token validates although the user did not approve")
			}
			// Nothing was answered: the challenge can still be approved.
			run("", "approve", res.ChallengeID, "-yes", "-key", file).want(t, 0, "Approved")
			if !s.valid(t, "ada", res.Token) {
				t.Fatal("the token does not validate after approval")
			}
		})
	}
}

func TestApprove_FlagsBeforeOrAfterTheID(t *testing.T) {
	s := newServer(t)
	file := s.enrol(t, "ada")
	res := s.track(t, "ada", true)
	run("", "approve", "-yes", "-key", file, res.ChallengeID, "-code", res.VerificationCode).want(t, 0, "Approved")
	res = s.track(t, "ada", true)
	run("", "approve", res.ChallengeID, "-code", res.VerificationCode, "-yes", "-key", file).want(t, 0, "Approved")
}

func TestApprove_IDsThatLookLikeFlags(t *testing.T) {
	// Challenge IDs are base64url: some start with "-".
	s := newServer(t)
	file := s.enrol(t, "ada")
	r := run("", "approve", "-yes", "-key", file, "-AAAAAAAAAAAAAAAAAAAAA")
	r.want(t, 1, "not_found")
	run("", "deny", "-key", file, "--", "-AAAAAAAAAAAAAAAAAAAAA").want(t, 1, "not_found")
}

func TestApprove_WrongCodeIsRefused(t *testing.T) {
	s := newServer(t)
	file := s.enrol(t, "ada")
	res := s.track(t, "ada", true)
	wrong := "00"
	if res.VerificationCode == wrong {
		wrong = "11"
	}
	run("", "approve", res.ChallengeID, "-code", wrong, "-yes", "-key", file).want(t, 1, "wrong_code", "now PENDING")
	if s.valid(t, "ada", res.Token) {
		t.Fatal("a wrong code approved the challenge")
	}
}

func TestDeny_TheAppsTokenFails(t *testing.T) {
	s := newServer(t)
	file := s.enrol(t, "ada")
	res := s.track(t, "ada", false)
	run("", "deny", res.ChallengeID, "-reason", "not_me", "-key", file).want(t, 0, "Denied (DENIED)")
	if s.valid(t, "ada", res.Token) {
		t.Fatal("a denied challenge's token validates")
	}
	run("", "approve", res.ChallengeID, "-yes", "-key", file).want(t, 1, "  state:    DENIED", "nothing to answer")
}

func TestRemove_UnbindsTheKeyAndDeletesTheFile(t *testing.T) {
	s := newServer(t)
	file := s.enrol(t, "ada")
	run("", "remove", "-key", file).want(t, 0, "Removed credential")
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("state file after remove: %v, want none", err)
	}
	if creds, _ := s.svc.Credentials(context.Background(), "ada"); len(creds) != 0 {
		t.Fatalf("ada still has %d credentials", len(creds))
	}
}

func TestRemove_KeepsTheKeyWhenTheServerRefusesUnlessForced(t *testing.T) {
	s := newServer(t)
	file := s.enrol(t, "ada")
	creds, _ := s.svc.Credentials(context.Background(), "ada")
	// Removed elsewhere (from the web, with a step-up).
	if err := s.store.DeleteCredential(context.Background(), "ada", creds[0].ID); err != nil {
		t.Fatal(err)
	}
	run("", "remove", "-key", file).want(t, 1, "unauthorized", "-force")
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("the state file is gone after a refused remove: %v", err)
	}
	run("", "remove", "-force", "-key", file).want(t, 0, "anyway")
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("state file after remove -force: %v, want none", err)
	}
}

func TestLoad_RefusesAStateFileOthersCanRead(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	s := newServer(t)
	file := s.enrol(t, "ada")
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	run("", "pending", "-key", file).want(t, 1, "chmod 600")
}

func TestRun_Usage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.json")
	cases := []struct {
		args []string
		code int
		text string
	}{
		{nil, 2, "usage:"},
		{[]string{"help"}, 0, "usage:"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"approve"}, 2, "want ID"},
		{[]string{"approve", "a", "b"}, 2, "want ID"},
		{[]string{"pending", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"enrol", "-token", "drt_x"}, 2, "-server and -token are required"},
		{[]string{"deny", "x", "-nope"}, 2, `want ID, got ["x" "-nope"]`},
		{[]string{"approve", "x", "-code"}, 2, "flag needs an argument: -code"},
		{[]string{"pending", "-h"}, 0, "usage:"},
		{[]string{"pending", "-key", missing}, 1, "enrol first"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			run("", c.args...).want(t, c.code, c.text)
		})
	}
}

// TestInApp_OneSignatureFromThePayload: the phone answers the in-app
// challenge its app handed over, from the JSON alone, and the app's token
// validates; a phone the payload does not name refuses it.
func TestInApp_OneSignatureFromThePayload(t *testing.T) {
	s := newServer(t)
	file := s.enrol(t, "ada")
	res, err := s.svc.Track(context.Background(), deviceauth.TrackRequest{UserID: "ada", Action: "transfer",
		Details: transferDetails, InApp: true})
	if err != nil || res.InApp == nil {
		t.Fatalf("Track: %+v, %v", res, err)
	}
	payload, _ := json.Marshal(res.InApp)
	run(string(payload), "inapp", "-key", file).want(t, 1, "give -yes")
	run(string(payload), "inapp", "-yes", "-key", file).want(t, 0, "Send 1 000,00 € to Zoë", "Approved (APPROVED), with one signature")
	if !s.valid(t, "ada", res.Token) {
		t.Fatal("the app's token does not validate after the in-app approval")
	}

	other := s.enrol(t, "bob")
	named, err := s.svc.Track(context.Background(), deviceauth.TrackRequest{UserID: "ada", Action: "transfer",
		Details: transferDetails, InApp: true, CredentialID: "cr_AnotherPhone"})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ = json.Marshal(named.InApp)
	pf := filepath.Join(s.dir, "payload.json")
	if err := os.WriteFile(pf, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	run("y\n", "inapp", "-payload", pf, "-key", other).want(t, 1, "names another credential")
}
