package authsignal_test

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth/compat/authsignal"
	"github.com/deviceauth/deviceauth/internal/testenv"
)

// TestNodeSDK runs the published @authsignal/node SDK (pinned, fetched and
// integrity-checked by npmPackage) under node --test against a server with
// the adapter: track, validateChallenge once and bound to its user,
// getAuthenticators, and its error mapping. A compat phone (the Go
// simulator of env_test.go) approves the pushes.
func TestNodeSDK(t *testing.T) {
	node := testenv.NeedBinary(t, "/usr/bin/node", "/usr/local/bin/node")
	sdk := nodeSDK.installed(t)
	e := newEnv(t, authsignal.Config{WeakActions: []string{"transfer"}})
	p := e.phone("android", "push")
	p.enrol("alice")
	// /test/approve: the browser asks for the push, the phone fetches and
	// approves it, the browser gets the access token.
	e.mux.HandleFunc("POST /test/approve", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ Token string }
		if json.NewDecoder(r.Body).Decode(&b) != nil {
			http.Error(w, "bad body", 400)
			return
		}
		push := e.do("POST", "/as/v1/client/challenge/push", "Bearer "+b.Token, map[string]any{"action": "transfer"})
		f := p.fetch()
		u := p.update("push", f.str("challengeId"), true)
		v := e.do("POST", "/as/v1/client/verify/push", "Bearer "+b.Token, map[string]any{"challengeId": push.str("challengeId")})
		if push.Status != 200 || f.str("challengeId") != push.str("challengeId") || u.Status != 200 || v.str("accessToken") == "" {
			http.Error(w, "approval failed: "+string(push.Raw)+string(f.Raw)+string(u.Raw)+string(v.Raw), 500)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"accessToken": v.str("accessToken")})
	})
	script, _ := filepath.Abs("testdata/node_sdk.test.mjs")
	cmd := exec.Command(node, "--test", "--test-reporter=tap", script)
	cmd.Env = append(cmd.Environ(), "AS_SDK_DIR="+sdk, "AS_BASE="+e.srv.URL, "AS_SECRET="+secretKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# pass 4") || !strings.Contains(string(out), "# fail 0") {
		t.Fatalf("node --test did not pass its 4 tests:\n%s", out)
	}
}
