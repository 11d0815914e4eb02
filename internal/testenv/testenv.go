// Package testenv tells tests which real servers they may use. A test that
// needs a server asks for its address; when the variable is not set the
// test is skipped with a message naming it — or, under
// DEVICEAUTH_REQUIRE_ALL=1 (set by .ci/run), fails, so CI never counts a
// skipped test as passing.
package testenv

import (
	"os"
	"strings"
	"testing"
)

// Variables naming the real servers.
const (
	PostgresURLVar       = "DEVICEAUTH_POSTGRES_URL"        // e.g. postgres://postgres@127.0.0.1:5432/test
	RedisURLVar          = "DEVICEAUTH_REDIS_URL"           // e.g. redis://127.0.0.1:6379/0
	RedisClusterAddrsVar = "DEVICEAUTH_REDIS_CLUSTER_ADDRS" // e.g. 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002
	RequireAllVar        = "DEVICEAUTH_REQUIRE_ALL"
	// ArtifactsVar names a folder for screenshots and other evidence of a
	// failed browser test.
	ArtifactsVar = "DEVICEAUTH_ARTIFACTS"
)

// RequireAll reports whether missing servers must fail tests.
func RequireAll() bool { return os.Getenv(RequireAllVar) == "1" }

// Need returns the value of variable, skipping (or under RequireAll
// failing) t when it is empty.
func Need(t testing.TB, variable string) string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(variable))
	if v == "" {
		if RequireAll() {
			t.Fatalf("%s is not set and %s=1: this test needs the server it names", variable, RequireAllVar)
		}
		t.Skipf("set %s to run this test against a real server", variable)
	}
	return v
}

// PostgresURL returns the PostgreSQL URL for tests.
func PostgresURL(t testing.TB) string { return Need(t, PostgresURLVar) }

// RedisURL returns the Redis URL for tests.
func RedisURL(t testing.TB) string { return Need(t, RedisURLVar) }

// RedisClusterAddrs returns the Redis Cluster node addresses for tests.
func RedisClusterAddrs(t testing.TB) []string {
	return strings.Split(Need(t, RedisClusterAddrsVar), ",")
}

// NeedBinary returns the path of an executable the test needs (a browser, a
// server binary), skipping or failing like Need when it is not installed.
func NeedBinary(t testing.TB, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return c
		}
	}
	if RequireAll() {
		t.Fatalf("none of %v is installed and %s=1", candidates, RequireAllVar)
	}
	t.Skipf("none of %v is installed", candidates)
	return ""
}
