//go:build !redis

package main

import (
	"context"
	"strings"
	"testing"
)

// The default build leaves the Redis store out, and says how to build it
// in, without echoing the URL (it may hold a password).
func TestOpenStore_RedisNeedsItsBuildTag(t *testing.T) {
	for _, url := range []string{"redis://:secret@127.0.0.1:6379/0", "rediss://:secret@cache.example.com:6380/0"} {
		_, _, err := openStore(context.Background(), url)
		if err == nil || !strings.Contains(err.Error(), "-tags redis") || strings.Contains(err.Error(), "secret") {
			t.Errorf("openStore(%q) = %v, want an error naming -tags redis without the URL", url, err)
		}
	}
}
