package authsignal_test

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth/internal/testenv"
)

// The SDKs under test come from npm at test time, pinned and checked
// against their published integrity (never vendored), into a cache that
// later runs reuse: DEVICEAUTH_NPM_CACHE, or the user's cache directory.

// npmPackage is a pinned npm package.
type npmPackage struct {
	Name, Version, Integrity string
}

// Pinned SDK versions (docs/compat-authsignal.md#tested-sdks).
var (
	nodeSDK    = npmPackage{"@authsignal/node", "2.21.0", "sha512-Ghv1Z3orafMZi334iD3chfV8rrpRrCGswuCFKHTXzs8TzS+zqmdgGStgVFDbrWd8SNy1z/1maRlY7oNX57T/uw=="}
	browserSDK = npmPackage{"@authsignal/browser", "1.16.0", "sha512-sK6amR7RvDCWVXkDYu32vDZwK8NMLYFyxsRaJR5TAQgUGHs713DmpJo1AgtY0kCRlKisS8AJkFPTywiyyLbQzA=="}
)

// npmCacheVar names the cache directory of fetched packages.
const npmCacheVar = "DEVICEAUTH_NPM_CACHE"

// cacheDir is the folder of p in the cache.
func (p npmPackage) cacheDir(t testing.TB) string {
	root := os.Getenv(npmCacheVar)
	if root == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			d = os.TempDir()
		}
		root = filepath.Join(d, "deviceauth", "npm")
	}
	return filepath.Join(root, strings.ReplaceAll(strings.TrimPrefix(p.Name, "@"), "/", "-")+"-"+p.Version)
}

// tarball returns the path of p's tarball in the cache, fetching it with
// npm pack when absent; its SHA-512 must be the pinned integrity.
func (p npmPackage) tarball(t testing.TB) string {
	t.Helper()
	dir := p.cacheDir(t)
	tgz := filepath.Join(dir, "package.tgz")
	if _, err := os.Stat(tgz); err != nil {
		npm := testenv.NeedBinary(t, "/usr/bin/npm", "/usr/local/bin/npm")
		tmp, err := os.MkdirTemp(filepath.Dir(mkdirAll(t, dir)), "fetch-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		cmd := exec.Command(npm, "pack", p.Name+"@"+p.Version, "--pack-destination", tmp, "--silent")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("npm pack %s@%s: %v\n%s", p.Name, p.Version, err, out)
		}
		got, _ := filepath.Glob(filepath.Join(tmp, "*.tgz"))
		if len(got) != 1 {
			t.Fatalf("npm pack %s@%s made %v", p.Name, p.Version, got)
		}
		p.check(t, got[0])
		if err := os.Rename(got[0], tgz); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	p.check(t, tgz)
	return tgz
}

// check fails unless the file at path has p's integrity.
func (p npmPackage) check(t testing.TB, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(b)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != p.Integrity {
		t.Fatalf("%s@%s has integrity %s, want the published %s", p.Name, p.Version, got, p.Integrity)
	}
}

// unpacked returns the folder of p's unpacked files (its "package/"
// folder), unpacking the checked tarball when needed.
func (p npmPackage) unpacked(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(p.cacheDir(t), "unpacked")
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err == nil {
		return dir
	}
	tgz := p.tarball(t)
	tmp, err := os.MkdirTemp(p.cacheDir(t), "unpack-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	untar(t, tgz, tmp)
	if err := os.Rename(filepath.Join(tmp, "package"), dir); err != nil && !os.IsExist(err) {
		if _, serr := os.Stat(filepath.Join(dir, "package.json")); serr != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// installed returns a folder whose node_modules holds p and its
// dependencies (npm install of the checked tarball).
func (p npmPackage) installed(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(p.cacheDir(t), "installed")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", p.Name, "package.json")); err == nil {
		return dir
	}
	tgz := p.tarball(t)
	npm := testenv.NeedBinary(t, "/usr/bin/npm", "/usr/local/bin/npm")
	tmp, err := os.MkdirTemp(p.cacheDir(t), "install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command(npm, "install", "--prefix", tmp, "--ignore-scripts", "--no-audit", "--no-fund", "--silent", tgz)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s: %v\n%s", tgz, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "node_modules", p.Name, "package.json")); serr != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mkdirAll(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir + "/"
}

// untar unpacks the regular files of a .tgz into dir, refusing paths that
// leave it.
func untar(t testing.TB, tgz, dir string) {
	t.Helper()
	f, err := os.Open(tgz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := filepath.Clean(h.Name)
		if !filepath.IsLocal(name) {
			t.Fatalf("tarball entry %q leaves the folder", h.Name)
		}
		out := filepath.Join(dir, name)
		mkdirAll(t, filepath.Dir(out))
		w, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, io.LimitReader(tr, 64<<20)); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
}
