// Package migrate reads the numbered SQL migrations that the SQL stores
// embed (migrations/NNNN_name.sql, applied as schema version NNNN) and
// tells a store which of them a database at some version still lacks. How a
// migration runs — the transaction, the lock, the schema_version table — is
// each store's own business.
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migration is one file of a store's migrations.
type Migration struct {
	// Version is the schema version the file brings the database to: the
	// number before the first '_' of its name.
	Version int
	// Name is the file's base name, for errors.
	Name string
	// SQL is the file's text, a script of one or more statements.
	SQL string
}

// List is a store's migrations in order, numbered 1, 2, … without gaps.
type List []Migration

// Load reads the *.sql files of dir in fsys. Their names must be
// NNNN_name.sql, and their numbers 1, 2, … without gaps or repeats; the
// error names the first file that is not.
func Load(fsys fs.FS, dir string) (List, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	list := make(List, 0, len(names))
	for _, name := range names {
		base := path.Base(name)
		prefix, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s is not named NNNN_name.sql", base)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		list = append(list, Migration{Version: version, Name: base, SQL: string(body)})
	}
	slices.SortStableFunc(list, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range list {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: want the number %04d as its prefix", m.Name, i+1)
		}
	}
	return list, nil
}

// MustLoad is Load for the files a package embeds, run when it
// initialises: it panics, naming pkg, when Load fails or when the files are
// not want in number (want 0 takes any number but none).
func MustLoad(fsys fs.FS, dir, pkg string, want int) List {
	list, err := Load(fsys, dir)
	switch {
	case err != nil:
	case len(list) == 0:
		err = fmt.Errorf("no migrations in %s", dir)
	case want > 0 && len(list) != want:
		err = fmt.Errorf("%d migrations embedded, but SchemaVersion is %d", len(list), want)
	}
	if err != nil {
		panic(pkg + ": " + err.Error())
	}
	return list
}

// Newest is the version of the last migration: the version a migrated
// database is at.
func (l List) Newest() int { return len(l) }

// After returns the migrations a database at version current still lacks,
// in order: none when it is at Newest. ok is false when current is newer
// than Newest — a newer release migrated the database, and this one must
// not touch it.
func (l List) After(current int) (pending List, ok bool) {
	if current > l.Newest() {
		return nil, false
	}
	return l[max(current, 0):], true
}
