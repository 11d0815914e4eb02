package ids

import (
	"regexp"
	"strings"
	"testing"
)

func TestNewUserID_CarriesTheUsersTag(t *testing.T) {
	form := regexp.MustCompile(`^ch_[A-Za-z0-9_-]{25}$`) // the "ch" prefix of the IDs below
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

func TestUserCounterKey_NamesItsUser(t *testing.T) {
	for _, user := range []string{"alice", "a:b", "9:x:", "", "Zoë"} {
		key := UserCounterKey("wrongcode", user, "transfer")
		got, ok := CounterUser(key)
		if !ok || got != user {
			t.Fatalf("CounterUser(%q) = %q, %v; want %q, true", key, got, ok, user)
		}
	}
	if got := UserCounterKey("wrongcode", "a:b", "transfer"); got != "wrongcode:3:a:b:transfer" {
		t.Fatalf("UserCounterKey = %q, want wrongcode:3:a:b:transfer", got)
	}
	for _, key := range []string{
		"", "wrongcode", "wrongcode:user1:transfer", "rate:challenges:alice", "x:5:abc", // too short
		"x:5:alice", "x:05:alice:y", "x:-1:a:", "x:3:abcd:", "x:1234567890:a:",
	} {
		if user, ok := CounterUser(key); ok {
			t.Errorf("CounterUser(%q) = %q, true; want no user", key, user)
		}
	}
}

// Counter keys and IDs come from requests (IDs in paths) and from the
// Service: whatever their bytes, CounterUser finds the user UserCounterKey
// put in, and IDTag never panics and finds a tag only in the minted form.
func FuzzUserCounterKeyAndIDTag(f *testing.F) {
	f.Add("wrongcode", "alice", "transfer", "ch_abcdefghijklmnopqrstuvwxy")
	f.Add("x", "a:b:3:", "", "ch_")
	f.Fuzz(func(t *testing.T, name, user, rest, id string) {
		if !strings.Contains(name, ":") {
			key := UserCounterKey(name, user, rest)
			if got, ok := CounterUser(key); !ok || got != user {
				t.Fatalf("CounterUser(%q) = %q, %v; want %q", key, got, ok, user)
			}
		}
		if tag, ok := IDTag(id); ok && (len(id) != 28 || id[3:6] != tag || !mintedForm.MatchString(id)) {
			t.Fatalf("IDTag(%q) = %q, true for an ID not of the minted form", id, tag)
		}
	})
}

var mintedForm = regexp.MustCompile(`^[a-z]{2}_[A-Za-z0-9_-]{25}$`)
