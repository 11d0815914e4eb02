package javaclient_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/httpsig"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/testenv"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// TestJavaClient_AgainstARealServer compiles the Java reference client and
// drives it, as one JVM reading steps, against a Service behind an HTTP
// server: register, the pending list, a signed fetch, a wrong then the right
// verification code, an approval that validates exactly once, and a denial
// that never validates. Every signature the server accepts here was made by
// the JDK's SHA256withECDSA, the API Android Keystore offers.
func TestJavaClient_AgainstARealServer(t *testing.T) {
	javac, java := jdk(t)
	classes := compile(t, javac)
	svc, baseURL := newServer(t)
	ctx := context.Background()
	const user = "ada"
	state := filepath.Join(t.TempDir(), "device-state.json")
	dev := startScript(t, java, classes, state)

	// Registration, with a name that is not ASCII: the proof covers its UTF-8.
	g, err := svc.MintRegistrationToken(ctx, user, "")
	if err != nil {
		t.Fatal(err)
	}
	const name = "Ada’s Pixel — Müller"
	var cred struct{ ID, Kind, Algorithm, Name, Platform string }
	dev.ok(&cred, "register", baseURL, g.Token, name, "android")
	if !strings.HasPrefix(cred.ID, "cr_") || cred.Kind != "device" || cred.Algorithm != "ES256" || cred.Name != name || cred.Platform != "android" {
		t.Fatalf("register answered %+v, want a cr_ device credential ES256 %q android", cred, name)
	}
	creds, err := svc.Credentials(ctx, user)
	if err != nil || len(creds) != 1 || creds[0].ID != cred.ID {
		t.Fatalf("Credentials(%s) = %+v, %v; want only %s", user, creds, err, cred.ID)
	}
	if st, err := os.Stat(state); err != nil {
		t.Fatal(err)
	} else if st.Mode().Perm() != 0o600 {
		t.Fatalf("state file (it holds the private key) has mode %v, want 0600", st.Mode().Perm())
	}
	dev.fails("registration_failed", 403, "", "register", baseURL, g.Token, name, "android") // single use

	// What the live server cannot show: the default port dropped from
	// @authority, a query, a body with its Content-Digest.
	verifySignedOffline(t, dev, state, cred.ID)

	// Two challenges: the first asks for the verification code.
	details1 := deviceauth.Details{Message: "Send 25.00 EUR to Bob", Fields: []deviceauth.Field{
		{Label: "Amount", Value: "25.00 EUR"}, {Label: "Payee", Value: "Bob Müller"}}}
	details2 := deviceauth.Details{Message: "Send 900.00 EUR to Mallory"}
	tr1 := track(t, svc, user, details1, true)
	tr2 := track(t, svc, user, details2, false)
	if len(tr1.VerificationCode) < 2 || tr2.VerificationCode != "" {
		t.Fatalf("verification codes %q and %q, want one for the first challenge only", tr1.VerificationCode, tr2.VerificationCode)
	}

	var pending struct{ Challenges []javaChallenge }
	dev.ok(&pending, "pending")
	if len(pending.Challenges) != 2 {
		t.Fatalf("pending lists %d challenges, want 2", len(pending.Challenges))
	}
	pending.Challenges[0].check(t, tr1.ChallengeID, "PENDING", details1, true)
	pending.Challenges[1].check(t, tr2.ChallengeID, "PENDING", details2, false)

	var ch1 javaChallenge
	dev.ok(&ch1, "fetch", tr1.ChallengeID)
	ch1.check(t, tr1.ChallengeID, "PENDING", details1, true)

	// Number matching: no code is caught by the client, a wrong one by the
	// server, and the challenge stays pending for the right one.
	dev.fails("verification_code_required", 0, "", "approve", tr1.ChallengeID)
	dev.fails("wrong_code", 403, "PENDING", "approve", tr1.ChallengeID, otherCode(tr1.VerificationCode))
	var res struct{ ChallengeID, State string }
	dev.ok(&res, "approve", tr1.ChallengeID, tr1.VerificationCode)
	if res.ChallengeID != tr1.ChallengeID || res.State != "APPROVED" {
		t.Fatalf("approve answered %+v, want %s APPROVED", res, tr1.ChallengeID)
	}
	dev.fails("challenge_closed", 409, "APPROVED", "approve", tr1.ChallengeID, tr1.VerificationCode) // replay

	v := validate(t, svc, tr1.Token, user, details1)
	if !v.Valid || v.State != deviceauth.StateChallengeSucceeded || v.CredentialID != cred.ID || v.Method != deviceauth.MethodDevice {
		t.Fatalf("Validate after approval = %+v, want valid, by %s with DEVICE", v, cred.ID)
	}
	if v := validate(t, svc, tr1.Token, user, details1); v.Valid || v.State != deviceauth.StateChallengeFailed {
		t.Fatalf("second Validate = %+v, want invalid: a token validates once", v)
	}

	// Denial.
	dev.ok(&res, "deny", tr2.ChallengeID, "not_me")
	if res.ChallengeID != tr2.ChallengeID || res.State != "DENIED" {
		t.Fatalf("deny answered %+v, want %s DENIED", res, tr2.ChallengeID)
	}
	if st, err := svc.ChallengeState(ctx, tr2.Token, user); err != nil || st != "DENIED" {
		t.Fatalf("Status after deny = %q, %v; want DENIED", st, err)
	}
	if v := validate(t, svc, tr2.Token, user, details2); v.Valid || v.State != deviceauth.StateChallengeFailed {
		t.Fatalf("Validate after deny = %+v, want invalid with %s", v, deviceauth.StateChallengeFailed)
	}
	var ch2 javaChallenge
	dev.ok(&ch2, "fetch", tr2.ChallengeID)
	ch2.check(t, tr2.ChallengeID, "DENIED", details2, false)
	dev.fails("not_found", 404, "", "fetch", "ch_NoSuchChallenge")

	dev.close(t)

	// The one-command form a person types, in a JVM of its own.
	out, err := exec.Command(java, "-cp", classes, mainClass, "--state", state, "pending").Output()
	if err != nil {
		t.Fatalf("java … pending: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), `{"ok":true,"result":{"challenges":[]}}`; got != want {
		t.Fatalf("java … pending printed %s, want %s", got, want)
	}
}

// verifySignedOffline has the client sign requests to URLs with a default
// port, a query and a body, and checks them with the server's own verifier.
func verifySignedOffline(t *testing.T, dev *javaDevice, state, credentialID string) {
	t.Helper()
	pub := statePublicKey(t, state)
	keys := func(_ context.Context, keyID string) (string, crypto.PublicKey, error) {
		if keyID != credentialID {
			return "", nil, fmt.Errorf("unknown keyid %q", keyID)
		}
		return httpsig.AlgECDSAP256SHA256, pub, nil
	}
	for _, c := range []struct{ method, url, body string }{
		{"POST", "https://App.Example.com:443/deviceauth/v1/qr/ch_VectorChallenge01/claim?x=1&y=%2F", `{"claimSecret":"Q2xhaW1TZWNyZXRDbGFpbVNlY3JldENsYWltU2VjcmV0"}`},
		{"GET", "http://app.example.com:80/deviceauth/v1/challenges", ""},
	} {
		args := []string{"sign", c.method, c.url}
		if c.body != "" {
			args = append(args, c.body)
		}
		var headers map[string]string
		dev.ok(&headers, args...)
		req := httptest.NewRequest(c.method, c.url, strings.NewReader(c.body))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		v, err := httpsig.Profile{Authority: "app.example.com"}.Verify(context.Background(), req, []byte(c.body), time.Now(), keys)
		if err != nil || v.KeyID != credentialID {
			t.Fatalf("%s %s signed by the Java client: Verify = %+v, %v; want valid for %s (headers %v)", c.method, c.url, v, err, credentialID, headers)
		}
		if _, digest := headers["Content-Digest"]; digest != (c.body != "") {
			t.Fatalf("%s %s: headers %v, want a Content-Digest exactly when there is a body", c.method, c.url, headers)
		}
	}
}

// statePublicKey reads the device's public key from the client's state file.
func statePublicKey(t *testing.T, state string) crypto.PublicKey {
	t.Helper()
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	var s struct{ PublicKey string }
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	der, err := protocol.DecodeBase64(s.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

const mainClass = "com.github.deviceauth.client.Main"

// jdk returns the javac and java of one JDK, skipping (failing under
// DEVICEAUTH_REQUIRE_ALL=1) when javac is not installed.
func jdk(t *testing.T) (javac, java string) {
	t.Helper()
	var candidates []string
	if p, err := exec.LookPath("javac"); err == nil {
		candidates = append(candidates, p)
	}
	if home := os.Getenv("JAVA_HOME"); home != "" {
		candidates = append(candidates, filepath.Join(home, "bin", "javac"))
	}
	javac = testenv.NeedBinary(t, append(candidates, "/usr/bin/javac")...)
	// /usr/bin/javac is a link into the JDK; its java is beside the real one.
	real, err := filepath.EvalSymlinks(javac)
	if err != nil {
		t.Fatal(err)
	}
	return javac, testenv.NeedBinary(t, filepath.Join(filepath.Dir(real), "java"), "/usr/bin/java")
}

// compile compiles the client's sources, warnings as errors, and returns
// the class folder.
func compile(t *testing.T, javac string) string {
	t.Helper()
	sources, err := filepath.Glob("src/com/github/deviceauth/client/*.java")
	if err != nil || len(sources) == 0 {
		t.Fatalf("no Java sources found: %v", err)
	}
	classes := filepath.Join(t.TempDir(), "classes")
	args := append([]string{"--release", "17", "-Xlint:all", "-Werror", "-encoding", "UTF-8", "-d", classes}, sources...)
	if out, err := exec.Command(javac, args...).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	return classes
}

// newServer serves a Service over memstore at <server>/deviceauth, the
// mount prefix included in what the client signs.
func newServer(t *testing.T) (*deviceauth.Service, string) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	svc, err := deviceauth.New(deviceauth.Config{
		Store:     memstore.New(),
		Keys:      [][]byte{bytes.Repeat([]byte{7}, 32)},
		PublicURL: srv.URL + "/deviceauth",
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))
	return svc, srv.URL + "/deviceauth"
}

func track(t *testing.T, svc *deviceauth.Service, user string, d deviceauth.Details, code bool) deviceauth.TrackResult {
	t.Helper()
	res, err := svc.Track(context.Background(), deviceauth.TrackRequest{UserID: user, Action: "transfer", Details: d, VerificationCode: code})
	if err != nil || res.State != deviceauth.StateChallengeRequired || res.ChallengeID == "" {
		t.Fatalf("Track = %+v, %v; want a challenge", res, err)
	}
	return res
}

func validate(t *testing.T, svc *deviceauth.Service, token, user string, d deviceauth.Details) deviceauth.Validation {
	t.Helper()
	v, err := svc.Validate(context.Background(), deviceauth.ValidateRequest{Token: token, UserID: user, Action: "transfer", Details: d})
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return v
}

// otherCode returns a code of the same length that differs from code.
func otherCode(code string) string {
	last := code[len(code)-1]
	return code[:len(code)-1] + string('0'+(last-'0'+1)%10)
}

// javaChallenge is a challenge as the Java client prints it: the server's
// answer plus the details digest the client computed and signs.
type javaChallenge struct {
	ChallengeID              string
	Action                   string
	State                    string
	Nonce                    string
	Details                  deviceauth.Details
	VerificationCodeRequired bool
	DetailsDigest            string
}

func (c javaChallenge) check(t *testing.T, id, state string, d deviceauth.Details, codeRequired bool) {
	t.Helper()
	if c.ChallengeID != id || c.Action != "transfer" || c.State != state || c.VerificationCodeRequired != codeRequired {
		t.Fatalf("challenge %+v, want %s transfer %s with verificationCodeRequired %v", c, id, state, codeRequired)
	}
	if nonce, err := protocol.DecodeBase64(c.Nonce); err != nil || len(nonce) != 32 {
		t.Fatalf("challenge nonce %q: %v, want 32 bytes of base64url", c.Nonce, err)
	}
	if c.Details.Message != d.Message || len(c.Details.Fields) != len(d.Fields) {
		t.Fatalf("challenge details %+v, want %+v", c.Details, d)
	}
	for i := range d.Fields {
		if c.Details.Fields[i] != d.Fields[i] {
			t.Fatalf("challenge details %+v, want %+v", c.Details, d)
		}
	}
	if want := protocol.DetailsDigest(d); c.DetailsDigest != hex.EncodeToString(want[:]) {
		t.Fatalf("Java details digest %s, want %x", c.DetailsDigest, want)
	}
}

// javaDevice is the Java client in script mode: one JVM, one JSON array of
// arguments per line in, one JSON answer per line out.
type javaDevice struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr string // a file: the JVM writes it directly, the test reads it on failure
	done   bool
}

type javaAnswer struct {
	OK      bool
	Status  int
	Error   string
	Message string
	State   string
	Result  json.RawMessage
}

func startScript(t *testing.T, java, classes, state string) *javaDevice {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a hung JVM fails, not hangs
	t.Cleanup(cancel)
	d := &javaDevice{t: t, stderr: filepath.Join(t.TempDir(), "stderr")}
	errFile, err := os.Create(d.stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { errFile.Close() })
	d.cmd = exec.CommandContext(ctx, java, "-cp", classes, mainClass, "--state", state, "script")
	d.cmd.Stderr = errFile
	if d.stdin, err = d.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.stdout = bufio.NewReader(out)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !d.done {
			d.cmd.Process.Kill() // the JVM this test started
			d.cmd.Wait()
		}
	})
	return d
}

func (d *javaDevice) step(args ...string) javaAnswer {
	d.t.Helper()
	line, _ := json.Marshal(args)
	if _, err := d.stdin.Write(append(line, '\n')); err != nil {
		d.t.Fatalf("writing step %s: %v%s", line, err, d.errors())
	}
	out, err := d.stdout.ReadBytes('\n')
	if err != nil {
		d.t.Fatalf("step %s: no answer: %v%s", line, err, d.errors())
	}
	var a javaAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		d.t.Fatalf("step %s answered %q, not JSON: %v", line, out, err)
	}
	return a
}

// ok runs a step that must succeed and decodes its result into v.
func (d *javaDevice) ok(v any, args ...string) {
	d.t.Helper()
	a := d.step(args...)
	if !a.OK {
		d.t.Fatalf("%v failed: %d %s: %s%s", args, a.Status, a.Error, a.Message, d.errors())
	}
	if err := json.Unmarshal(a.Result, v); err != nil {
		d.t.Fatalf("%v result %s: %v", args, a.Result, err)
	}
}

// fails runs a step that must fail with code, the HTTP status (0 for a
// refusal of the client itself) and the challenge state ("" for none).
func (d *javaDevice) fails(code string, status int, state string, args ...string) {
	d.t.Helper()
	a := d.step(args...)
	if a.OK || a.Error != code || a.Status != status || a.State != state {
		d.t.Fatalf("%v answered %+v, want error %s, status %d, state %q", args, a, code, status, state)
	}
}

// close ends the script and checks the JVM exits cleanly.
func (d *javaDevice) close(t *testing.T) {
	t.Helper()
	d.stdin.Close()
	err := d.cmd.Wait()
	d.done = true
	if err != nil {
		t.Fatalf("the Java client exited with %v%s", err, d.errors())
	}
}

func (d *javaDevice) errors() string {
	b, _ := os.ReadFile(d.stderr)
	if len(b) == 0 {
		return ""
	}
	return "\nJava stderr:\n" + string(b)
}
