//go:build !postgres

package main

import (
	"context"

	"github.com/deviceauth/deviceauth/store"
)

// openPostgres: this build has no PostgreSQL client (see store_postgres.go).
func openPostgres(context.Context, string) (store.Store, func(), error) {
	return notBuiltIn("PostgreSQL", "postgres")
}
