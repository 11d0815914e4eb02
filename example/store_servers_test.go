//go:build redis || postgres

package main

import (
	"context"
	"testing"
)

// wantStoreOpens fails unless openStore opens url and the store answers.
func wantStoreOpens(t *testing.T, url string) {
	t.Helper()
	s, closeStore, err := openStore(context.Background(), url)
	if err != nil || s == nil {
		t.Fatalf("openStore: %v", err)
	}
	defer closeStore()
	if _, err := s.ListCredentials(context.Background(), "nobody"); err != nil {
		t.Fatalf("ListCredentials: %v", err)
	}
}
