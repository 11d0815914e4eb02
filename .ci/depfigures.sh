#!/usr/bin/env bash
# What an application pays for when it imports deviceauth: the figures in
# docs/architecture.md ("What an adopter pays for") come from this script.
#
# It makes a fresh application in a temporary folder, outside this
# repository, as a module of its own whose go.mod requires only
# github.com/deviceauth/deviceauth, replaced by this checkout. Its main
# imports the root package and store/memstore and serves the handler. With
# an empty module cache of its own it runs, in order, go build, go list
# -deps, go mod tidy and go list -m all, and prints what each pulled in:
# packages built, modules they come from, go.sum lines, module zips and
# go.mod files downloaded, why tidy keeps each module's code (go mod why
# -m), and the size of the binary next to a net/http-only one.
#
#	.ci/depfigures.sh
#
# Needs the Go module proxy (GOPROXY as configured; -mod=mod, GOWORK=off).
# Nothing in the repository changes; the temporary folder is removed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
# The selected toolchain's own go command: run directly, it does not look
# for (and download) itself in the fresh module cache below.
go=$(go env GOROOT)/bin/go
work=$(mktemp -d)
export GOMODCACHE=$work/modcache GOFLAGS=-mod=mod GOWORK=off
trap '"$go" clean -modcache >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

heavy='go-webauthn|chromedp|cdproto|cel-go|cel\.dev|prometheus|pgx|go-redis|miniredis|sqlite|modernc|kin-openapi|go-chi|go-qrcode|fxamacker|goleak'

mkdir "$work/app" "$work/plain"
cd "$work/app"
cat >go.mod <<EOF
module example.com/adopter

go 1.26.0

require github.com/deviceauth/deviceauth v0.0.0-00010101000000-000000000000

replace github.com/deviceauth/deviceauth => $repo
EOF
cat >main.go <<'EOF'
// A memstore-only application: the smallest real use of deviceauth.
package main

import (
	"crypto/rand"
	"log"
	"net/http"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/store/memstore"
)

func main() {
	key := make([]byte, 32)
	rand.Read(key)
	svc, err := deviceauth.New(deviceauth.Config{
		Store:     memstore.New(),
		Keys:      [][]byte{key},
		PublicURL: "https://app.example.com/deviceauth",
	})
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
}
EOF

downloads() { # module zips and go.mod files in the module cache so far
	local d=$GOMODCACHE/cache/download
	printf '%s module zips, %s go.mod files' \
		"$(find "$d" -name '*.zip' 2>/dev/null | wc -l)" "$(find "$d" -name '*.mod' 2>/dev/null | wc -l)"
}
gosum() { # lines of go.sum: all, code (h1 of a zip), go.mod only; modules named
	printf '%s lines (%s for module code, %s for go.mod files only), %s modules' \
		"$(wc -l <go.sum)" "$(grep -vc '/go.mod ' go.sum || true)" "$(grep -c '/go.mod ' go.sum || true)" \
		"$(cut -d' ' -f1 go.sum | sort -u | wc -l)"
}
requires() { # go.mod's require lines
	grep -E '^(require )?[[:space:]]*[a-z][^ ]* v[0-9]' go.mod | sed 's/^require //; s/^[[:space:]]*/  /'
}

echo "$("$go" version); GOPROXY=$("$go" env GOPROXY); app: $work/app (go.mod requires only deviceauth)"

echo
echo "== go build"
"$go" build -o app . 2>/dev/null
echo "go.mod requires:"
requires
echo "go.sum: $(gosum)"
echo "downloaded: $(downloads)"

echo
echo "== go list -deps (the packages that build compiles)"
pkgs=$("$go" list -deps -f '{{if not .Standard}}{{.ImportPath}} {{.Module.Path}}{{end}}' . | grep -v '^example.com/adopter ')
echo "packages outside the standard library: $(wc -l <<<"$pkgs") ($(grep -c ' github.com/deviceauth/deviceauth$' <<<"$pkgs") of deviceauth)"
echo "modules they come from:"
cut -d' ' -f2 <<<"$pkgs" | sort | uniq -c | awk '{printf "  %s (%d packages)\n", $2, $1}'

echo
echo "== go mod tidy"
"$go" mod tidy 2>/dev/null
echo "go.mod requires:"
requires
echo "go.sum: $(gosum)"
echo "downloaded: $(downloads)"
echo "modules whose code go.sum records, and why (go mod why -m):"
for m in $(grep -v '/go.mod ' go.sum | cut -d' ' -f1 | sort -u); do
	echo "  $m: $("$go" mod why -m "$m" | sed 1d | paste -sd' ' | sed 's/ / → /g')"
done
echo "test-only or heavy modules whose code go.sum records: $(grep -v '/go.mod ' go.sum | cut -d' ' -f1 | sort -u | grep -E "$heavy" | paste -sd' ' || echo none)"

echo
echo "== go list -m all (the module graph, from go.mod files: no code)"
mods=$("$go" list -m all)
echo "modules: $(wc -l <<<"$mods") (with example.com/adopter and deviceauth)"
echo "of them test-only or heavy: $(grep -cE "$heavy" <<<"$mods" || true)"
echo "go.sum after it (-mod=mod records the graph's go.mod files; tidy drops them again): $(gosum)"
echo "downloaded: $(downloads)"

echo
echo "== binary (go build, default flags)"
cd "$work/plain"
cat >go.mod <<'EOF'
module example.com/plain

go 1.26.0
EOF
cat >main.go <<'EOF'
// The same server with net/http alone, to compare sizes.
package main

import (
	"log"
	"net/http"
)

func main() {
	http.Handle("/deviceauth/", http.NotFoundHandler())
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
}
EOF
"$go" build -o plain .
app=$(stat -c %s "$work/app/app") plain=$(stat -c %s plain)
echo "memstore app: $app bytes; net/http alone: $plain bytes; deviceauth adds $((app - plain)) bytes"
