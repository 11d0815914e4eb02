package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// sameRecord fails t unless got and want, records of one struct type, agree
// in every field. Times compare with Equal (stores may change the location)
// and slices by content (stores need not tell nil from empty). Walking the
// fields by reflection keeps the check whole when a record gains a field.
func sameRecord[T any](t testing.TB, got, want T, what string) {
	t.Helper()
	if diffs := recordDiff(got, want); len(diffs) > 0 {
		t.Fatalf("%s: record differs from the one expected:\n\t%s", what, strings.Join(diffs, "\n\t"))
	}
}

// allFieldsSet fails t when a field of record is its zero value, so that a
// round trip of record proves every field is kept.
func allFieldsSet[T any](t testing.TB, record T) {
	t.Helper()
	v := reflect.ValueOf(record)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("storetest's fixture leaves %T.%s unset; set it so the round trip covers it",
				record, v.Type().Field(i).Name)
		}
	}
}

func recordDiff[T any](got, want T) []string {
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	var diffs []string
	for i := range g.NumField() {
		gf, wf := g.Field(i).Interface(), w.Field(i).Interface()
		if !sameValue(gf, wf) {
			diffs = append(diffs, fmt.Sprintf("%s: got %s, want %s",
				g.Type().Field(i).Name, format(gf), format(wf)))
		}
	}
	return diffs
}

func sameValue(got, want any) bool {
	switch g := got.(type) {
	case time.Time:
		return g.Equal(want.(time.Time))
	case []byte:
		return bytes.Equal(g, want.([]byte))
	case []string:
		return slices.Equal(g, want.([]string))
	}
	return reflect.DeepEqual(got, want)
}

func format(v any) string {
	switch v := v.(type) {
	case []byte:
		return fmt.Sprintf("%x", v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}
