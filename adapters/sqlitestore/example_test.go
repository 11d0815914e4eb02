package sqlitestore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/deviceauth/deviceauth/adapters/sqlitestore"
	"github.com/deviceauth/deviceauth/store"
)

// Open a file, migrate it once at start-up, and hand the Store to
// deviceauth.New as Config.Store.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "sqlitestore-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	st, err := sqlitestore.Open(filepath.Join(dir, "deviceauth.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		fmt.Println(err)
		return
	}

	now := time.Now()
	err = st.CreateCredential(ctx, store.Credential{ID: "cred1", UserID: "alice", Kind: store.KindDevice, CreatedAt: now}, 10)
	if err != nil {
		fmt.Println(err)
		return
	}
	creds, err := st.ListCredentials(ctx, "alice")
	fmt.Println(len(creds), err)
	// Output: 1 <nil>
}
