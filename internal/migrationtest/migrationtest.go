// Package migrationtest reads the numbered migrations of the SQL adapters
// for their upgrade tests, which build a database as an earlier release
// left it and then migrate it.
package migrationtest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Before returns the SQL of the files in dir (NNNN_name.sql, in order of
// their numbers) that come before the first whose name contains name:
// the schema of the release before that migration. It fails t when that
// migration is the first or is not there, so a test never builds the
// newest schema by mistake.
func Before(t testing.TB, dir, name string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files) // the numbers have four digits: the names sort by them
	var bodies []string
	for _, file := range files {
		if strings.Contains(filepath.Base(file), name) {
			if len(bodies) == 0 {
				t.Fatalf("the migration named %q is the first in %s: no release came before it", name, dir)
			}
			return bodies
		}
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(body))
	}
	t.Fatalf("no migration in %s is named %q", dir, name)
	return nil
}
