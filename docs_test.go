package deviceauth_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// designRef is how comments once cited the first design note, which the
// repository does not carry (spelled in two parts so this file does not
// cite it either).
const designRef = "DESIGN" + " §"

// TestDocs_StandAlone keeps the repository's docs self-contained: nothing
// cites a design note the repository does not carry, and every relative
// link in README.md and docs/*.md names a file that exists.
func TestDocs_StandAlone(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		ext := filepath.Ext(path)
		if d.IsDir() || (ext != ".go" && ext != ".md" && ext != ".yaml" && ext != ".js" && ext != ".sql" && ext != ".html") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), designRef) {
			t.Errorf("%s cites a design note the repository does not carry; point to docs/architecture.md", path)
		}
		if ext != ".md" {
			return nil
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", path, target)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
