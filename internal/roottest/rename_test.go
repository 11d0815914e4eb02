package roottest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth"
)

func TestRenameCredential_OnlyTheUsersOwnWithARegistrationName(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.enrol("alice", "ES256")
	bob := e.enrol("bob", "EdDSA")

	c, err := e.svc.RenameCredential(ctx, "alice", alice.CredentialID, "Ada’s work phone")
	if err != nil || c.ID != alice.CredentialID || c.Name != "Ada’s work phone" {
		t.Fatalf("RenameCredential = %+v, %v; want the credential named Ada’s work phone", c, err)
	}
	for _, tc := range []struct {
		name, user, id, newName string
		want                    error
	}{
		{"another user's credential", "alice", bob.CredentialID, "mine now", deviceauth.ErrNotFound},
		{"unknown credential", "alice", "cr_unknown", "x", deviceauth.ErrNotFound},
		{"empty name", "alice", alice.CredentialID, "", deviceauth.ErrInvalidRequest},
		{"name over 64 bytes", "alice", alice.CredentialID, strings.Repeat("é", 33), deviceauth.ErrInvalidRequest},
		{"control character", "alice", alice.CredentialID, "a\nb", deviceauth.ErrInvalidRequest},
		{"invalid UTF-8", "alice", alice.CredentialID, "a\xffb", deviceauth.ErrInvalidRequest},
	} {
		if _, err := e.svc.RenameCredential(ctx, tc.user, tc.id, tc.newName); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Nothing else changed: bob's name, alice's new name.
	for user, want := range map[string]string{"alice": "Ada’s work phone", "bob": "phone of bob"} {
		cs, err := e.svc.Credentials(ctx, user)
		if err != nil || len(cs) != 1 || cs[0].Name != want {
			t.Errorf("%s's credentials %+v (%v), want one named %q", user, cs, err, want)
		}
	}
}

func TestHandler_APathWithSeveralMethodsAllowsThemAll(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("PUT", e.srv.URL+"/deviceauth/v1/web/credentials/cr_x", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "DELETE, PATCH" {
		t.Fatalf("PUT: %d, Allow %q; want 405 with Allow DELETE, PATCH", resp.StatusCode, resp.Header.Get("Allow"))
	}
}
