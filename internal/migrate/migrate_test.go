package migrate

import (
	"strings"
	"testing"
	"testing/fstest"
)

func files(names ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, n := range names {
		fsys["migrations/"+n] = &fstest.MapFile{Data: []byte("-- " + n)}
	}
	return fsys
}

func TestLoad_InOrderOfNumber(t *testing.T) {
	list, err := Load(files("0002_b.sql", "0001_a.sql", "0003_c.sql", "README"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, m := range list {
		if m.Version != i+1 || m.SQL != "-- "+m.Name {
			t.Errorf("migration %d = %+v", i, m)
		}
		got = append(got, m.Name)
	}
	if strings.Join(got, " ") != "0001_a.sql 0002_b.sql 0003_c.sql" {
		t.Fatalf("Load order: %v", got)
	}
	if list.Newest() != 3 {
		t.Fatalf("Newest = %d, want 3", list.Newest())
	}
}

func TestLoad_RefusesBadNames(t *testing.T) {
	for _, tt := range []struct {
		files []string
		want  string
	}{
		{[]string{"0001_a.sql", "0003_c.sql"}, "migration 0003_c.sql: want the number 0002 as its prefix"},
		{[]string{"0001_a.sql", "0001_b.sql"}, "migration 0001_b.sql: want the number 0002 as its prefix"},
		{[]string{"0002_b.sql"}, "migration 0002_b.sql: want the number 0001 as its prefix"},
		{[]string{"0001_a.sql", "init.sql"}, "migration init.sql is not named NNNN_name.sql"},
		{[]string{"x_a.sql"}, "migration x_a.sql is not named NNNN_name.sql"},
	} {
		_, err := Load(files(tt.files...), "migrations")
		if err == nil || err.Error() != tt.want {
			t.Errorf("Load(%v): got %v, want %q", tt.files, err, tt.want)
		}
	}
}

func TestMustLoad_PanicsNamingThePackage(t *testing.T) {
	for _, tt := range []struct {
		fsys fstest.MapFS
		want int
		msg  string
	}{
		{files("0001_a.sql", "0002_b.sql"), 3, "somestore: 2 migrations embedded, but SchemaVersion is 3"},
		{files(), 0, "somestore: no migrations in migrations"},
		{files("0002_b.sql"), 0, "somestore: migration 0002_b.sql: want the number 0001 as its prefix"},
	} {
		func() {
			defer func() {
				if got := recover(); got != tt.msg {
					t.Errorf("MustLoad panicked with %v, want %q", got, tt.msg)
				}
			}()
			MustLoad(tt.fsys, "migrations", "somestore", tt.want)
		}()
	}
	if list := MustLoad(files("0001_a.sql", "0002_b.sql"), "migrations", "somestore", 2); len(list) != 2 {
		t.Fatalf("MustLoad = %v", list)
	}
}

func TestAfter(t *testing.T) {
	list, err := Load(files("0001_a.sql", "0002_b.sql", "0003_c.sql"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for current, want := range []int{3, 2, 1, 0} {
		pending, ok := list.After(current)
		if !ok || len(pending) != want || (want > 0 && pending[0].Version != current+1) {
			t.Errorf("After(%d) = %v, %v; want %d from version %d", current, pending, ok, want, current+1)
		}
	}
	if pending, ok := list.After(4); ok || pending != nil {
		t.Fatalf("After(4) = %v, %v; want refused", pending, ok)
	}
}
