package instancetest

import (
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/store"
)

// UpgradedCredential checks, over st after its upgrade, the device
// credential "cr_old" named "Old phone" that a release before attestation
// existed wrote for "alice" at created: the store returns it unchanged and
// without an attestation, and a Service over st reports it as not attested.
// Adapter upgrade tests write that row their own way, then migrate.
func UpgradedCredential(t *testing.T, st store.Store, created time.Time) {
	t.Helper()
	ctx := t.Context()
	c, err := st.GetCredential(ctx, "cr_old")
	if err != nil {
		t.Fatalf("GetCredential after the upgrade: %v", err)
	}
	if c.Name != "Old phone" || !c.CreatedAt.Equal(created) || c.Attestation != nil {
		t.Fatalf("old credential after the upgrade: %+v", c)
	}
	svc, err := deviceauth.New(deviceauth.Config{Store: st, Keys: [][]byte{[]byte(strings.Repeat("k", 32))},
		PublicURL: "https://app.example/deviceauth", SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := svc.Credentials(ctx, "alice")
	if err != nil || len(creds) != 1 {
		t.Fatalf("Credentials: %v, %v", creds, err)
	}
	if a := creds[0].Attestation; a.Kind != "none" || a.HardwareBacked || a.UserAuthRequired || a.SecurityLevel != "unknown" {
		t.Fatalf("old credential's attestation = %+v, want not attested", a)
	}
}
