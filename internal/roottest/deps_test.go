package roottest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth/internal/testenv"
)

// What an application pays for when it imports the root package and
// store/memstore, the store it starts with: the modules its build
// compiles, and the modules go mod tidy records in its go.sum and
// downloads, which also include those imported by the tests of every
// package it builds. docs/architecture.md ("What an adopter pays for")
// gives the figures that .ci/depfigures.sh measures; these tests keep them
// true.

const modulePath = "github.com/deviceauth/deviceauth"

// adopterPackages are what the application imports.
var adopterPackages = []string{modulePath, modulePath + "/store/memstore"}

// adopterModules are the modules, besides deviceauth, that the
// application compiles. A change here is a change of what every
// application pays for: say so in docs/architecture.md.
var adopterModules = []string{
	"github.com/dunglas/httpsfv",         // RFC 8941 structured fields, for RFC 9421 signatures
	"github.com/go-json-experiment/json", // strict request bodies: exact names, no duplicate members
	"golang.org/x/text",                  // Unicode normalisation of the details a device shows
}

// adopterTestModules are the modules that tests of those packages import
// besides adopterModules: go mod tidy records them in the application's
// go.sum (and downloads them) although nothing compiles them.
var adopterTestModules = map[string]string{
	"go.uber.org/goleak": "store/memstore's TestMain checks that no goroutine outlives the tests",
}

// separateModules must never reach such an application, in its build or
// its go.sum: each stays behind the package (or the tests) that needs it.
var separateModules = map[string]string{
	"github.com/go-webauthn/webauthn":     "passkey/",
	"github.com/chromedp/chromedp":        "the browser tests of example/ and passkey/",
	"cel.dev/cel-go":                      "rules/",
	"github.com/prometheus/client_golang": "metrics/",
	"github.com/jackc/pgx/v5":             "adapters/pgxstore",
	"github.com/redis/go-redis/v9":        "adapters/redisstore",
	"modernc.org/sqlite":                  "adapters/sqlitestore",
	"github.com/gorilla/sessions":         "adapters/gorillasession",
	"github.com/fxamacker/cbor/v2":        "attest/",
	"github.com/yeqown/go-qrcode/v2":      "qrcode/",
	"github.com/getkin/kin-openapi":       "internal/openapitest, for tests",
	"github.com/alicebob/miniredis/v2":    "tests that no application imports",
	"github.com/go-chi/chi/v5":            "tests that no application imports",
}

// TestImports_AnApplicationCompilesOnlyTheRootsModules checks, with go
// list -deps, that an application importing the root package and
// store/memstore compiles exactly deviceauth and adopterModules.
func TestImports_AnApplicationCompilesOnlyTheRootsModules(t *testing.T) {
	g := listDeps(t, adopterPackages...)
	checkModules(t, g, adopterModules, nil, "compiled into every application that imports deviceauth")
	for _, m := range adopterModules {
		if !g.has(m) {
			t.Errorf("%s is no longer compiled into an application that imports deviceauth: take it out of adopterModules and docs/architecture.md", m)
		}
	}
}

// TestImports_TheRootsTestsAddNothingToAnApplicationsGoSum checks, with go
// list -test -deps, that the tests of every package such an application
// compiles import no module beyond adopterModules and adopterTestModules:
// go mod tidy in the application loads those tests, and would record and
// download whatever they import. A test that needs more belongs in a
// package no application imports, such as this one.
func TestImports_TheRootsTestsAddNothingToAnApplicationsGoSum(t *testing.T) {
	var ours []string
	for _, p := range listDeps(t, adopterPackages...).pkgs {
		if p.Module != nil && p.Module.Path == modulePath {
			ours = append(ours, p.ImportPath)
		}
	}
	g := listDeps(t, append([]string{"-test"}, ours...)...)
	checkModules(t, g, adopterModules, adopterTestModules, "recorded in the go.sum of every application that imports deviceauth, by go mod tidy")
	for m := range adopterTestModules {
		if !g.has(m) {
			t.Errorf("no test of the packages an application compiles imports %s any more: take it out of adopterTestModules and docs/architecture.md", m)
		}
	}
}

// depGraph is what go list -deps printed: packages with their module and
// imports.
type depGraph struct {
	pkgs []listedPackage
}

type listedPackage struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Module     *struct{ Path string }
}

// listDeps runs go list -deps on args from the module's root.
func listDeps(t *testing.T, args ...string) depGraph {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		if testenv.RequireAll() {
			t.Fatalf("no go command on PATH and %s=1", testenv.RequireAllVar)
		}
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command(goTool, append([]string{"list", "-deps", "-json=ImportPath,Standard,Imports,Module"}, args...)...)
	cmd.Dir = "../.." // this test runs in internal/roottest
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	var g depGraph
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list -deps %s: decoding its output: %v", strings.Join(args, " "), err)
		}
		g.pkgs = append(g.pkgs, p)
	}
	if len(g.pkgs) == 0 {
		t.Fatalf("go list -deps %s listed no package", strings.Join(args, " "))
	}
	return g
}

// moduleOf returns the module of each listed package, by import path.
func (g depGraph) moduleOf() map[string]string {
	m := map[string]string{}
	for _, p := range g.pkgs {
		if p.Module != nil {
			m[p.ImportPath] = p.Module.Path
		}
	}
	return m
}

// has reports whether a package of module m is listed.
func (g depGraph) has(m string) bool {
	return slices.ContainsFunc(g.pkgs, func(p listedPackage) bool { return p.Module != nil && p.Module.Path == m })
}

// checkModules fails t for each module of g other than deviceauth that is
// neither in allowed nor in also, naming the imports that bring it in.
func checkModules(t *testing.T, g depGraph, allowed []string, also map[string]string, what string) {
	t.Helper()
	mod := g.moduleOf()
	brought := map[string][]string{} // module → "importer imports package"
	for _, p := range g.pkgs {
		for _, imp := range p.Imports {
			m, ok := mod[imp]
			if !ok || m == modulePath || slices.Contains(allowed, m) || also[m] != "" || m == mod[p.ImportPath] {
				continue
			}
			brought[m] = append(brought[m], p.ImportPath+" imports "+imp)
		}
	}
	for _, m := range slices.Sorted(maps.Keys(brought)) {
		how := strings.Join(brought[m], "; ")
		if where, ok := separateModules[m]; ok {
			t.Errorf("%s is %s (%s); it must stay behind %s", m, what, how, where)
			continue
		}
		t.Errorf("%s is %s (%s): if that is meant, list it and update \"What an adopter pays for\" in docs/architecture.md (.ci/depfigures.sh)", m, what, how)
	}
}
