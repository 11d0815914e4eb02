//go:build !postgres

package main

import (
	"context"
	"strings"
	"testing"
)

// The default build leaves the Postgres store out, and says how to build it
// in, without echoing the URL (it may hold a password).
func TestOpenStore_PostgresNeedsItsBuildTag(t *testing.T) {
	for _, url := range []string{"postgres://u:secret@127.0.0.1/db", "postgresql://u:secret@127.0.0.1/db"} {
		_, _, err := openStore(context.Background(), url)
		if err == nil || !strings.Contains(err.Error(), "-tags postgres") || strings.Contains(err.Error(), "secret") {
			t.Errorf("openStore(%q) = %v, want an error naming -tags postgres without the URL", url, err)
		}
	}
}
