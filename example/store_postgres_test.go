//go:build postgres

package main

import (
	"testing"

	"github.com/deviceauth/deviceauth/internal/testenv"
)

// Built with -tags postgres (as CI builds it too), the demo opens the store.
func TestOpenStore_Postgres(t *testing.T) { wantStoreOpens(t, testenv.PostgresURL(t)) }
