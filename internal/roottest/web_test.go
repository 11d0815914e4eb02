package roottest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
)

// webCall sends a web-endpoint request as user (X-User) and decodes the
// JSON answer into out when given.
func (e *env) webCall(t *testing.T, method, path, user, token string, header map[string]string, out any) (int, deviceauth.DenialBody, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+"/deviceauth"+path, nil)
	if user != "" {
		req.Header.Set("X-User", user)
	}
	if token != "" {
		req.Header.Set(deviceauth.TokenHeader, token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d deviceauth.DenialBody
	if resp.StatusCode >= 300 {
		json.NewDecoder(resp.Body).Decode(&d)
	} else if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("decoding %s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode, d, resp.Header
}

func headerUsers(c *deviceauth.Config) {
	c.Users = deviceauth.UserResolverFunc(func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil })
}

func TestWeb_MintListRemoveWithStepUp(t *testing.T) {
	e := newEnv(t, headerUsers)
	ctx := t.Context()

	// The first device needs no step-up.
	var g deviceauth.RegistrationGrant
	if st, d, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", "", nil, &g); st != 201 || !strings.HasPrefix(g.Token, "drt_") {
		t.Fatalf("first mint: %d %+v %+v", st, d, g)
	}
	first := e.device("ES256")
	if _, err := first.Register(ctx, g.Token, "phone", "ios"); err != nil {
		t.Fatal(err)
	}
	// The second needs an approved addAuthenticator.
	st, d, h := e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", "", nil, nil)
	if st != 401 || d.Error != "challenge_required" || !strings.Contains(h.Get("WWW-Authenticate"), `action="addAuthenticator"`) {
		t.Fatalf("second mint without step-up: %d %+v %q", st, d, h.Get("WWW-Authenticate"))
	}
	if st, d, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", d.Token, nil, nil); st != 403 || d.Error != "challenge_failed" {
		t.Fatalf("mint with an unapproved token: %d %+v", st, d)
	}
	st, d, _ = e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", "", nil, nil)
	approve(t, first, d.ChallengeID, d.VerificationCode)
	if st, _, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", d.Token, nil, &g); st != 201 {
		t.Fatalf("mint with step-up: %d", st)
	}
	e.clock.Advance(time.Second) // listing is oldest first
	second := e.device("EdDSA")
	if _, err := second.Register(ctx, g.Token, "tablet", "android"); err != nil {
		t.Fatal(err)
	}

	var list deviceauth.CredentialList
	if st, _, _ := e.webCall(t, "GET", "/v1/web/credentials", "alice", "", nil, &list); st != 200 || len(list.Credentials) != 2 ||
		list.Credentials[0].ID != first.CredentialID || list.Credentials[1].Name != "tablet" {
		t.Fatalf("list: %d %+v", st, list)
	}
	if st, _, _ := e.webCall(t, "GET", "/v1/web/credentials", "bob", "", nil, &list); st != 200 || len(list.Credentials) != 0 {
		t.Fatalf("bob's list: %d %+v", st, list)
	}

	// Removal while another remains needs removeAuthenticator.
	path := "/v1/web/credentials/" + second.CredentialID
	st, d, h = e.webCall(t, "DELETE", path, "alice", "", nil, nil)
	if st != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `action="removeAuthenticator"`) {
		t.Fatalf("remove without step-up: %d %+v", st, d)
	}
	approve(t, first, d.ChallengeID, d.VerificationCode)
	if st, d2, _ := e.webCall(t, "DELETE", path, "bob", d.Token, nil, nil); st != 404 || d2.Error != "not_found" {
		t.Fatalf("bob removing alice's credential: %d %+v", st, d2)
	}
	if st, _, _ := e.webCall(t, "DELETE", path, "alice", d.Token, nil, nil); st != 204 {
		t.Fatalf("remove with step-up: %d", st)
	}
	// The last one needs removeAuthenticator too.
	last := "/v1/web/credentials/" + first.CredentialID
	st, d, h = e.webCall(t, "DELETE", last, "alice", "", nil, nil)
	if st != 401 || !strings.Contains(h.Get("WWW-Authenticate"), `action="removeAuthenticator"`) {
		t.Fatalf("remove the last without step-up: %d %+v", st, d)
	}
	approve(t, first, d.ChallengeID, d.VerificationCode)
	if st, _, _ := e.webCall(t, "DELETE", last, "alice", d.Token, nil, nil); st != 204 {
		t.Fatalf("remove the last with step-up: %d", st)
	}
}

func TestWeb_RefusesNobodyAndCrossOrigin(t *testing.T) {
	e := newEnv(t, headerUsers)
	if st, d, _ := e.webCall(t, "GET", "/v1/web/credentials", "", "", nil, nil); st != 401 || d.Error != "unauthenticated" {
		t.Fatalf("nobody: %d %+v", st, d)
	}
	cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	if st, d, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", "", cross, nil); st != 403 || d.Error != "cross_origin" {
		t.Fatalf("cross-origin mint: %d %+v", st, d)
	}
	if n := e.store.Writes.Load(); n != 0 {
		t.Fatalf("the store was written %d times", n)
	}
	same := map[string]string{"Sec-Fetch-Site": "same-origin"}
	if st, _, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", "", same, nil); st != 201 {
		t.Fatalf("same-origin mint: %d", st)
	}
}

func TestWeb_WithoutUsersIs401(t *testing.T) {
	e := newEnv(t)
	if st, d, _ := e.webCall(t, "GET", "/v1/web/credentials", "alice", "", nil, nil); st != 401 || d.Error != "unauthenticated" {
		t.Fatalf("got %d %+v", st, d)
	}
}
