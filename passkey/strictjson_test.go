package passkey_test

import (
	"bytes"
	"net/http"
	"testing"
)

// TestJSON_NamesCaseSensitiveAndDuplicatesRefused: a body that names a
// member in another case, or names one twice (nested too), is 400
// invalid_request on every passkey endpoint; encoding/json would match the
// case and let the last duplicate win.
func TestJSON_NamesCaseSensitiveAndDuplicatesRefused(t *testing.T) {
	e := newEnv(t)
	alice := e.browser().signInAs("alice")
	cred, _ := alice.register(e.auth, "")
	step := track(t, e, details25)
	stepOpts := alice.post(stepUpOptionsPath(step.ChallengeID), nil)
	if stepOpts.status != http.StatusOK {
		t.Fatalf("step-up options: %v", stepOpts)
	}
	stepGood := e.auth.Get(t, cred, stepOpts.body)
	loginGood := e.auth.Get(t, cred, alice.loginOptions("").body)
	// The first signature is garbage, the last the real one.
	dupSignature := func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"signature":`), []byte(`"signature":"AAAA","signature":`), 1)
	}
	cases := []struct {
		name, path string
		body       []byte
	}{
		{"login options: Username", loginOptionsPath, []byte(`{"Username":"alice"}`)},
		{"login options: duplicate username", loginOptionsPath, []byte(`{"username":"bob","username":"alice"}`)},
		{"registration options: Name", registrationOptionsPath, []byte(`{"Name":"Key"}`)},
		{"registration options: duplicate name", registrationOptionsPath, []byte(`{"name":"a","name":"b"}`)},
		{"login: nested duplicate", loginPath, dupSignature(loginGood)},
		{"login: ID", loginPath, bytes.Replace(loginGood, []byte(`"id":`), []byte(`"ID":`), 1)},
		{"step-up: nested duplicate", stepUpPath(step.ChallengeID), dupSignature(stepGood)},
		{"step-up: Response", stepUpPath(step.ChallengeID), bytes.Replace(stepGood, []byte(`"response":`), []byte(`"Response":`), 1)},
		{"step-up options: duplicate", stepUpOptionsPath(step.ChallengeID), []byte(`{"x":1,"x":2}`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if bytes.Equal(c.body, loginGood) || bytes.Equal(c.body, stepGood) {
				t.Fatal("the body was not changed")
			}
			if a := alice.post(c.path, c.body); a.status != http.StatusBadRequest || a.code() != "invalid_request" {
				t.Fatalf("%s: %v, want 400 invalid_request", c.path, a)
			}
		})
	}
	// The refusals changed nothing: the untouched assertion still approves.
	if a := alice.post(stepUpPath(step.ChallengeID), stepGood); a.status != http.StatusOK {
		t.Fatalf("step-up after refused bodies: %v", a)
	}
}
