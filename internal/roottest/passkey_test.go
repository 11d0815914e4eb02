package roottest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// fakePasskeys stands in for package passkey: an "assertion" is the JSON
// {"id": credential ID, "challenge": base64 challenge, "signCount": n}, and
// it verifies when the challenge is the one asked for; a "registration"
// is {"rawId": …, "signCount": n} and always verifies. A body that does not
// decode as one is malformed.
type fakePasskeys struct{}

type fakeAssertion struct {
	ID        string `json:"id"`
	Challenge []byte `json:"challenge"`
	SignCount uint32 `json:"signCount"`
}

type fakeRegistration struct {
	RawID     []byte `json:"rawId"`
	SignCount uint32 `json:"signCount"`
}

func (fakePasskeys) AssertionOptions(_ context.Context, challenge []byte, creds []store.Credential) ([]byte, error) {
	ids := []string{}
	for _, c := range creds {
		ids = append(ids, c.ID)
	}
	return json.Marshal(map[string]any{"publicKey": map[string]any{"challenge": challenge, "allow": ids}})
}

func (fakePasskeys) VerifyAssertion(_ context.Context, challenge []byte, creds []store.Credential, response []byte) (seam.Assertion, error) {
	var a fakeAssertion
	if err := json.Unmarshal(response, &a); err != nil {
		return seam.Assertion{}, fmt.Errorf("%w: %v", seam.ErrMalformed, err)
	}
	if !bytes.Equal(a.Challenge, challenge) {
		return seam.Assertion{}, errors.New("assertion over another challenge")
	}
	return seam.Assertion{CredentialID: a.ID, SignCount: a.SignCount}, nil
}

func (fakePasskeys) BeginRegistration(context.Context, string, []store.Credential) ([]byte, []byte, error) {
	return []byte(`{"publicKey":{}}`), []byte(`"session"`), nil
}

func (fakePasskeys) FinishRegistration(_ context.Context, response []byte, take func() ([]byte, error)) (seam.NewPasskey, error) {
	var r fakeRegistration
	if err := json.Unmarshal(response, &r); err != nil {
		return seam.NewPasskey{}, fmt.Errorf("%w: %v", seam.ErrMalformed, err)
	}
	state, err := take()
	if err != nil {
		return seam.NewPasskey{}, err
	}
	if string(state) != `"session"` {
		return seam.NewPasskey{}, fmt.Errorf("the state came back as %s", state)
	}
	return seam.NewPasskey{RawID: r.RawID, SignCount: r.SignCount, Data: []byte("{}")}, nil
}

func (fakePasskeys) BeginLogin(context.Context, string, func(context.Context, string) ([]store.Credential, error)) ([]byte, []byte, error) {
	return nil, nil, seam.ErrUnavailable
}

func (fakePasskeys) FinishLogin(context.Context, []byte, func() ([]byte, error), func(context.Context, string) (store.Credential, error)) (seam.Assertion, error) {
	return seam.Assertion{}, seam.ErrUnavailable
}

func (fakePasskeys) Timeouts() (time.Duration, time.Duration) { return time.Minute, time.Minute }
func (fakePasskeys) Script() []byte                           { return []byte("// fake") }

// withPasskeys gives the Service the fake verifier.
func withPasskeys(c *deviceauth.Config) { c.Passkeys = fakePasskeys{} }

// addFakePasskey registers a passkey for user through a whole ceremony.
func addFakePasskey(t *testing.T, e *env, user string, rawID []byte, signCount uint32) deviceauth.Credential {
	t.Helper()
	resp, _ := json.Marshal(fakeRegistration{RawID: rawID, SignCount: signCount})
	cred, err := registerPasskey(e.svc, context.Background(), user, "", resp)
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func TestCeremony_SingleUseBoundAndExpiring(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	begin := func() string {
		c, err := seam.Steps.BeginCeremony(e.svc, ctx, seam.CeremonyLogin, "", []byte("state"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Taken as another kind or for another user, a ceremony is not found,
	// and it is used up: its ID is the secret of the browser that began
	// it, which can begin another.
	for _, tt := range []struct{ kind, user string }{{seam.CeremonyRegistration, ""}, {seam.CeremonyLogin, "alice"}} {
		c := begin()
		if _, err := seam.Steps.TakeCeremony(e.svc, ctx, c, tt.kind, tt.user); !errors.Is(err, deviceauth.ErrNotFound) {
			t.Fatalf("taken as %s for %q: %v", tt.kind, tt.user, err)
		}
		if _, err := seam.Steps.TakeCeremony(e.svc, ctx, c, seam.CeremonyLogin, ""); !errors.Is(err, deviceauth.ErrNotFound) {
			t.Fatalf("taken after a mismatched take: %v", err)
		}
	}
	c := begin()
	var won atomic.Int64
	race(64, func(int) {
		if data, err := seam.Steps.TakeCeremony(e.svc, ctx, c, seam.CeremonyLogin, ""); err == nil && string(data) == "state" {
			won.Add(1)
		} else if !errors.Is(err, deviceauth.ErrNotFound) {
			t.Errorf("TakeCeremony: %v", err)
		}
	})
	if won.Load() != 1 {
		t.Fatalf("%d finishes won, want 1", won.Load())
	}
	late, _ := seam.Steps.BeginCeremony(e.svc, ctx, seam.CeremonyLogin, "", nil)
	e.clock.Advance(5*time.Minute + time.Second)
	if _, err := seam.Steps.TakeCeremony(e.svc, ctx, late, seam.CeremonyLogin, ""); !errors.Is(err, deviceauth.ErrNotFound) {
		t.Fatalf("expired ceremony: %v", err)
	}
}

func TestPasskey_RegistrationNeedsAFinishedCeremonyAndStepUp(t *testing.T) {
	e := newEnv(t, withPasskeys)
	ctx := context.Background()
	made, _ := json.Marshal(fakeRegistration{RawID: []byte{1}})
	if _, err := finishPasskeyRegistration(e.svc, ctx, "ce_MadeUpCeremony01", "alice", made); !errors.Is(err, deviceauth.ErrRegistrationFailed) {
		t.Fatalf("a registration without its ceremony: %v", err)
	}
	cred := addFakePasskey(t, e, "alice", []byte{1, 2, 3}, 0)
	if cred.Kind != "passkey" || cred.ID != seam.CredentialID([]byte{1, 2, 3}) {
		t.Fatalf("passkey credential %+v", cred)
	}
	if _, err := registerPasskey(e.svc, ctx, "alice", "", []byte(`{"rawId":"AQ"}`)); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("second passkey without step-up: %v", err)
	}
	creds, _ := e.svc.Credentials(ctx, "alice")
	if len(creds) != 1 || creds[0].Kind != "passkey" {
		t.Fatalf("credentials %+v", creds)
	}
}

func TestPasskey_StepUp(t *testing.T) {
	e := newEnv(t, headerUsers, func(c *deviceauth.Config) { c.Passkeys = fakePasskeys{} })
	ctx := context.Background()
	cred := addFakePasskey(t, e, "alice", []byte("raw-1"), 5)
	track := func(details deviceauth.Details) deviceauth.TrackResult {
		res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: details,
			Methods: []deviceauth.Method{deviceauth.MethodPasskey}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	optionsChallenge := func(id string) []byte {
		opts, err := passkeyOptions(e.svc, ctx, "alice", id)
		if err != nil {
			t.Fatal(err)
		}
		var o struct {
			PublicKey struct {
				Challenge []byte `json:"challenge"`
			} `json:"publicKey"`
		}
		json.Unmarshal(opts, &o)
		return o.PublicKey.Challenge
	}
	req, _ := http.NewRequest("POST", "/", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	respond := func(id string, a fakeAssertion) error {
		b, _ := json.Marshal(a)
		_, err := respondPasskey(e.svc, ctx, req, "alice", id, b)
		return err
	}

	res := track(transferDetails)
	other := track(deviceauth.Details{Message: "Send 1 EUR"})
	// An assertion made for other details does not approve this challenge.
	if err := respond(res.ChallengeID, fakeAssertion{ID: cred.ID, Challenge: optionsChallenge(other.ChallengeID), SignCount: 6}); !isCode(err, "invalid_assertion") {
		t.Fatalf("assertion for other details: %v", err)
	}
	if err := respond(res.ChallengeID, fakeAssertion{ID: cred.ID, Challenge: optionsChallenge(res.ChallengeID), SignCount: 6}); err != nil {
		t.Fatalf("RespondPasskey: %v", err)
	}
	v := e.validate(res.Token, "alice", "transfer", transferDetails)
	if !v.Valid || v.Method != deviceauth.MethodPasskey || v.CredentialID != cred.ID {
		t.Fatalf("Validate = %+v, want valid by PASSKEY", v)
	}
	// A counter that goes backwards is a clone: refused, with an event.
	next := track(deviceauth.Details{})
	if err := respond(next.ChallengeID, fakeAssertion{ID: cred.ID, Challenge: optionsChallenge(next.ChallengeID), SignCount: 3}); !isCode(err, "passkey_clone") {
		t.Fatalf("counter backwards: %v", err)
	}
	if n := e.events.count(event.PasskeyClone); n != 1 {
		t.Fatalf("%d clone events", n)
	}
	if creds, _ := e.svc.Credentials(ctx, "alice"); len(creds) != 1 || !creds[0].CloneWarning {
		t.Fatalf("the clone warning is not kept: %+v", creds)
	}
	// A later good use keeps the warning.
	if err := usePasskey(e.svc, ctx, "alice", cred.ID, 10, 0); err != nil {
		t.Fatal(err)
	}
	if creds, _ := e.svc.Credentials(ctx, "alice"); !creds[0].CloneWarning {
		t.Fatal("a later sign-in cleared the clone warning")
	}
	// The user's only passkey is removed with its own approval, not by
	// the session alone; then it approves nothing.
	if err := e.svc.RemoveCredential(ctx, "alice", cred.ID, ""); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("removing the only passkey without step-up: %v, want step_up_required", err)
	}
	rm := e.track("alice", deviceauth.ActionRemoveAuthenticator, deviceauth.RemovalDetails(cred), false)
	approveByPasskey(t, e, "alice", rm.ChallengeID, cred, 11)
	if err := e.svc.RemoveCredential(ctx, "alice", cred.ID, rm.Token); err != nil {
		t.Fatal(err)
	}
	if err := respond(next.ChallengeID, fakeAssertion{ID: cred.ID, Challenge: optionsChallenge2(t, e, next.ChallengeID), SignCount: 9}); err == nil {
		t.Fatal("a removed passkey approved a challenge")
	}
}

// optionsChallenge2 asks for options after the user's last passkey is
// gone: there is nothing to ask with.
func optionsChallenge2(t *testing.T, e *env, id string) []byte {
	if _, err := passkeyOptions(e.svc, context.Background(), "alice", id); !errors.Is(err, deviceauth.ErrNotFound) {
		t.Fatalf("options without a passkey: %v", err)
	}
	return nil
}

func TestPasskey_ZeroCountersAreNotAClone(t *testing.T) {
	e := newEnv(t, withPasskeys)
	cred := addFakePasskey(t, e, "alice", []byte("synced"), 0)
	for range 2 {
		if err := usePasskey(e.svc, context.Background(), "alice", cred.ID, 0, store.FlagBackupEligible|store.FlagBackupState); err != nil {
			t.Fatalf("0 after 0: %v", err)
		}
	}
}

// TestPasskey_StepUpEndpointsRefuseMalformedBodies: both step-up endpoints
// read their bodies capped and strictly; a malformed body is 400
// invalid_request and changes nothing (no rejected signature is counted),
// unlike an assertion that does not verify.
func TestPasskey_StepUpEndpointsRefuseMalformedBodies(t *testing.T) {
	e := newEnv(t, headerUsers, noRateLimits, func(c *deviceauth.Config) {
		c.Passkeys = fakePasskeys{}
		c.MaxBodyBytes = 1 << 10
	})
	ctx := context.Background()
	cred := addFakePasskey(t, e, "alice", []byte("raw-1"), 5)
	res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails,
		Methods: []deviceauth.Method{deviceauth.MethodPasskey}})
	if err != nil {
		t.Fatal(err)
	}
	options := "/v1/web/challenges/" + res.ChallengeID + "/passkey/options"
	respond := "/v1/web/challenges/" + res.ChallengeID + "/passkey"
	huge := `{"id":"` + strings.Repeat("A", 2<<10) + `"}`
	for _, tt := range []struct {
		path, body string
		status     int
		code       string
	}{
		{options, "", 200, ""},
		{options, `{}`, 200, ""},
		{options, `nope`, 400, "invalid_request"},
		{options, `{"allowCredentials":[]}`, 400, "invalid_request"},
		{options, `{} {}`, 400, "invalid_request"},
		{options, `[]`, 400, "invalid_request"},
		{options, huge, 413, "body_too_large"},
		{respond, "", 400, "invalid_request"},
		{respond, `nope`, 400, "invalid_request"},
		{respond, `{"id":`, 400, "invalid_request"},
		{respond, `null`, 400, "invalid_request"},
		{respond, `["id"]`, 400, "invalid_request"},
		{respond, `{"id":"x"} {}`, 400, "invalid_request"},
		{respond, `{"signCount":"six"}`, 400, "invalid_request"}, // an object the verifier cannot parse
		{respond, huge, 413, "body_too_large"},
	} {
		st, body := postWeb(t, e, tt.path, "alice", tt.body)
		var eb deviceauth.DenialBody
		json.Unmarshal(body, &eb)
		if st != tt.status || eb.Error != tt.code || (tt.code != "" && eb.State != "") {
			t.Errorf("POST %s %.40q: %d %s, want %d %q", tt.path, tt.body, st, body, tt.status, tt.code)
		}
	}
	if n := e.events.count(event.SignatureRejected); n != 0 {
		t.Fatalf("malformed bodies counted as %d rejected signatures", n)
	}
	// A well-formed assertion that does not verify is another matter.
	wrong, _ := json.Marshal(fakeAssertion{ID: cred.ID, Challenge: []byte("another challenge"), SignCount: 6})
	if st, body := postWeb(t, e, respond, "alice", string(wrong)); st != 403 || !strings.Contains(string(body), `"error":"invalid_assertion"`) {
		t.Fatalf("an assertion over another challenge: %d %s", st, body)
	}
	if n := e.events.count(event.SignatureRejected); n != 1 {
		t.Fatalf("%d rejected signatures, want 1", n)
	}
	// Nothing was used up: the good assertion approves.
	opts, err := passkeyOptions(e.svc, ctx, "alice", res.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			Challenge []byte `json:"challenge"`
		} `json:"publicKey"`
	}
	json.Unmarshal(opts, &o)
	good, _ := json.Marshal(fakeAssertion{ID: cred.ID, Challenge: o.PublicKey.Challenge, SignCount: 6})
	if st, body := postWeb(t, e, respond, "alice", string(good)); st != 200 || !strings.Contains(string(body), `"state":"APPROVED"`) {
		t.Fatalf("the good assertion: %d %s", st, body)
	}
}

// TestPasskey_StepUpClosedCarriesState: a challenge that is no longer
// pending is 409 challenge_closed with its state on both step-up
// endpoints, as on the device's response endpoint.
func TestPasskey_StepUpClosedCarriesState(t *testing.T) {
	e := newEnv(t, headerUsers, noRateLimits, func(c *deviceauth.Config) { c.Passkeys = fakePasskeys{} })
	ctx := context.Background()
	cred := addFakePasskey(t, e, "alice", []byte("raw-1"), 5)
	track := func() string {
		res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails,
			Methods: []deviceauth.Method{deviceauth.MethodPasskey}})
		if err != nil {
			t.Fatal(err)
		}
		return res.ChallengeID
	}
	approved, expired := track(), track()
	opts, err := passkeyOptions(e.svc, ctx, "alice", approved)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			Challenge []byte `json:"challenge"`
		} `json:"publicKey"`
	}
	json.Unmarshal(opts, &o)
	good, _ := json.Marshal(fakeAssertion{ID: cred.ID, Challenge: o.PublicKey.Challenge, SignCount: 6})
	if st, body := postWeb(t, e, "/v1/web/challenges/"+approved+"/passkey", "alice", string(good)); st != 200 {
		t.Fatalf("approve: %d %s", st, body)
	}
	closed := func(id, want string) {
		t.Helper()
		for _, req := range []struct{ path, body string }{
			{"/v1/web/challenges/" + id + "/passkey/options", ""},
			{"/v1/web/challenges/" + id + "/passkey", string(good)},
		} {
			st, body := postWeb(t, e, req.path, "alice", req.body)
			var eb deviceauth.DenialBody
			if err := json.Unmarshal(body, &eb); err != nil || st != 409 || eb.Error != "challenge_closed" || string(eb.State) != want {
				t.Errorf("POST %s: %d %s, want 409 challenge_closed with state %s", req.path, st, body, want)
			}
		}
		if _, err := passkeyOptions(e.svc, ctx, "alice", id); !errors.Is(err, deviceauth.ErrChallengeClosed) || asState(err) != want {
			t.Errorf("PasskeyOptions(%s): %v with state %q, want challenge_closed with state %s", id, err, asState(err), want)
		}
	}
	closed(approved, "APPROVED")
	e.clock.Advance(5*time.Minute + time.Second)
	closed(expired, "EXPIRED")
	closed(approved, "EXPIRED") // approved, never validated: expired too
}

// asState is the challenge state that err carries.
func asState(err error) string {
	var e *deviceauth.Error
	if errors.As(err, &e) {
		return e.State
	}
	return ""
}

// postWeb posts body to the web endpoint path as user, same-origin.
func postWeb(t *testing.T, e *env, path, user, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/deviceauth"+path, strings.NewReader(body))
	req.Header.Set("X-User", user)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestPasskey_NewNeedsACeremonyStore: passkeys keep their ceremonies in the
// store, so New refuses Config.Passkeys over a store that cannot.
func TestPasskey_NewNeedsACeremonyStore(t *testing.T) {
	bare := struct{ store.Store }{memstore.New()} // the records only
	_, err := deviceauth.New(deviceauth.Config{Store: bare, Keys: [][]byte{bytes.Repeat([]byte{1}, 32)},
		PublicURL: "https://app.example/deviceauth", Passkeys: fakePasskeys{}})
	if err == nil || !strings.Contains(err.Error(), "Config.Passkeys needs a store that keeps ceremonies") {
		t.Fatalf("New = %v, want Config.Passkeys refused", err)
	}
}
