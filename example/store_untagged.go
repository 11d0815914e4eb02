//go:build !redis || !postgres

package main

import (
	"fmt"

	"github.com/deviceauth/deviceauth/store"
)

// notBuiltIn is the error of a -store whose adapter this build left out.
// It does not repeat the URL, which may hold a password.
func notBuiltIn(kind, tag string) (store.Store, func(), error) {
	return nil, nil, fmt.Errorf("-store %s: this build of the example has no %s store; build it with -tags %s: go run -tags %s ./example -store %s://…", tag, kind, tag, tag, tag)
}
