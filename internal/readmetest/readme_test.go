package readmetest

// This test keeps every Go snippet of README.md compiled and gofmt-clean.
//
// Each ```go block of README.md must be byte-identical to one region of
// snippets_test.go marked
//
//	// README:begin name
//	...the snippet, indented one tab as a function body...
//	// README:end
//
// (the region loses one leading tab per line before comparison), and every
// region must appear in README.md. The regions sit inside ordinary functions
// whose parameters stand for the snippet's free names (ctx, key, mux, ...),
// so `go vet` and the compiler check them; tests below run those that can run.
//
// To add a README snippet: write it as a region in a new function of
// snippets_test.go (its free names as parameters), run gofmt, and paste the
// region, one tab less, into README.md between ```go and ```. The test
// prints the README block it cannot match.

import (
	"bytes"
	"go/format"
	"os"
	"regexp"
	"strings"
	"testing"
)

// goBlocks returns the contents of README.md's ```go fenced blocks.
func goBlocks(t *testing.T, readme string) []string {
	t.Helper()
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(readme, "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```go":
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, line)
		}
	}
	if in {
		t.Fatal("README.md: a ```go block is not closed")
	}
	return blocks
}

var regionRE = regexp.MustCompile(`(?s)\n[ \t]*// README:begin (\S+)\n(.*?)\n[ \t]*// README:end\n`)

// regions returns the marked regions of src by name, one tab of indentation
// removed from each line.
func regions(t *testing.T, src string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range regionRE.FindAllStringSubmatch(src, -1) {
		lines := strings.Split(m[2], "\n")
		for i, l := range lines {
			if l != "" && !strings.HasPrefix(l, "\t") {
				t.Fatalf("region %s: line %q is not indented by a tab", m[1], l)
			}
			lines[i] = strings.TrimPrefix(l, "\t")
		}
		if _, dup := out[m[1]]; dup {
			t.Fatalf("region %s is marked twice", m[1])
		}
		out[m[1]] = strings.Join(lines, "\n") + "\n"
	}
	return out
}

func TestREADMESnippets(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("snippets_test.go")
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlocks(t, string(readme))
	regs := regions(t, string(src))
	if len(blocks) == 0 || len(regs) == 0 {
		t.Fatalf("found %d README blocks and %d regions; both must be non-empty", len(blocks), len(regs))
	}
	used := map[string]bool{}
	for i, b := range blocks {
		formatted, err := format.Source([]byte(b))
		if err != nil {
			t.Errorf("README ```go block %d does not parse: %v\n%s", i+1, err, b)
		} else if !bytes.Equal(formatted, []byte(b)) {
			t.Errorf("README ```go block %d is not gofmt-clean; gofmt gives:\n%s", i+1, formatted)
		}
		found := ""
		for name, r := range regs {
			if r == b {
				found = name
			}
		}
		if found == "" {
			t.Errorf("README ```go block %d matches no README:begin region of snippets_test.go:\n%s", i+1, b)
			continue
		}
		used[found] = true
	}
	for name := range regs {
		if !used[name] {
			t.Errorf("region %s of snippets_test.go is not in README.md", name)
		}
	}
}
