package store

import (
	"regexp"
	"testing"
)

func TestNewUserID_CarriesTheUsersTag(t *testing.T) {
	form := regexp.MustCompile(`^ch_[A-Za-z0-9_-]{25}$`)
	seen := map[string]bool{}
	for _, user := range []string{"alice", "bob", "", "Zoë", "a\x00b"} {
		id := NewUserID("ch", user)
		if !form.MatchString(id) {
			t.Fatalf("NewUserID(ch, %q) = %q, want ch_ and 25 base64url characters", user, id)
		}
		tag, ok := IDTag(id)
		if !ok || tag != UserTag(user) {
			t.Fatalf("IDTag(%q) = %q, %v; want UserTag(%q) = %q, true", id, tag, ok, user, UserTag(user))
		}
		if seen[id] {
			t.Fatalf("NewUserID repeated %q", id)
		}
		seen[id] = true
	}
	if a, b := NewUserID("cr", "alice"), NewUserID("cr", "alice"); a == b || a[3:6] != b[3:6] {
		t.Fatalf("two IDs of one user: %q and %q; want one tag, different IDs", a, b)
	}
}

func TestUserTag_IsStable(t *testing.T) {
	// The tag places records in a store: it must never change for a user,
	// so it is pinned to the value the first release computed.
	if got := UserTag("alice"); got != "hCJ" {
		t.Fatalf(`UserTag("alice") = %q; the tag of a stored user changed`, got)
	}
}

func TestIDTag_RefusesOtherForms(t *testing.T) {
	for _, id := range []string{
		"", "ch1", "ch_", "ch_abcdefghijklmnopqrstuv", // the old 25-character form
		"ch_abcdefghijklmnopqrstuvwxy" + "z", // one too many
		"Ch_abcdefghijklmnopqrstuvwxy", "c1_abcdefghijklmnopqrstuvwxy", "chXabcdefghijklmnopqrstuvwxy",
		"ch_abc{efghijklmnopqrstuvwxy", "ch_abcdefghijklmnopqrstuvwx.",
	} {
		if tag, ok := IDTag(id); ok {
			t.Errorf("IDTag(%q) = %q, true; want no tag", id, tag)
		}
	}
	if tag, ok := IDTag("ch_abcdefghijklmnopqrstuvwxy"); !ok || tag != "abc" {
		t.Fatalf("IDTag of a well-formed ID = %q, %v; want abc, true", tag, ok)
	}
}

func TestNewUserID_RefusesBadPrefix(t *testing.T) {
	for _, p := range []string{"", "c", "chx", "Ch", "c_"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewUserID(%q, …) did not panic", p)
				}
			}()
			NewUserID(p, "alice")
		}()
	}
}
