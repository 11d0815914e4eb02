package roottest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestNames_OneRuleForDevicesAndPasskeys: a credential's name is shown
// text by one rule, whatever the credential: a line separator, a bidi
// control or a zero-width character is refused for a device key, for a
// passkey and in a rename alike.
func TestNames_OneRuleForDevicesAndPasskeys(t *testing.T) {
	e := newEnv(t, headerUsers, noRateLimits, withPasskeys)
	ctx := context.Background()
	phone := e.enrol("alice", "ES256")
	for _, name := range []string{"a\u2028b", "a\u2029b", "pay \u202e", "a\u200bb", "a\x00b"} {
		g, err := e.svc.MintRegistrationToken(ctx, "bob", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.device("ES256").Register(ctx, g.Token, name, "test"); apiCode(err) != "invalid_request" {
			t.Errorf("device named %q: %v, want invalid_request", name, err)
		}
		if st, body := postWeb(t, e, "/v1/passkey/registration/options", "alice", `{"name":"`+jsonEscape(name)+`"}`); st != 400 {
			t.Errorf("passkey named %q: %d %s, want 400", name, st, body)
		}
		if _, err := e.svc.RenameCredential(ctx, "alice", phone.CredentialID, name); !isCode(err, "invalid_request") {
			t.Errorf("rename to %q: %v, want invalid_request", name, err)
		}
	}
}

// jsonEscape escapes s for a JSON string, every rune outside printable
// ASCII as \uXXXX.
func jsonEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
