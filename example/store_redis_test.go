//go:build redis

package main

import (
	"testing"

	"github.com/deviceauth/deviceauth/internal/testenv"
)

// Built with -tags redis (as CI builds it too), the demo opens the store.
func TestOpenStore_Redis(t *testing.T) { wantStoreOpens(t, testenv.RedisURL(t)) }
