package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

func (s suite) credentials(t *testing.T) {
	t.Run("CreateThenGetRoundTripsEveryField", s.credentialRoundTrip)
	t.Run("CreateThenGetKeepsZeroFields", s.credentialZeroFields)
	t.Run("StoreKeepsItsOwnCopy", s.credentialCopies)
	t.Run("GetMissingIsNotFound", s.credentialGetMissing)
	t.Run("CreateDuplicateIDIsConflict", s.credentialDuplicate)
	t.Run("ListOrdersByCreatedAtThenID", s.credentialListOrder)
	t.Run("ListOfUserWithNoneIsEmptyNotNil", s.credentialListNone)
	t.Run("CreateOverMaxIsLimit", s.credentialLimit)
	t.Run("RacingCreatesLeaveExactlyMax", s.credentialRacingLimit)
	t.Run("UpdateWritesGivenFieldsOnly", s.credentialUpdate)
	t.Run("UpdateSignCountMustMoveForward", s.credentialSignCount)
	t.Run("UpdateOfOtherUsersCredentialIsNotFound", s.credentialUpdateOtherUser)
	t.Run("DeleteIsScopedToUser", s.credentialDelete)
	t.Run("DeleteUserCredentialsReturnsCount", s.credentialDeleteUser)
}

// credential returns userID's device credential id, created d after the
// clock's start, with every field set but LastUsedAt, SignCount and Flags.
func (s suite) credential(id, userID string, d time.Duration) store.Credential {
	return store.Credential{
		ID:        id,
		UserID:    userID,
		Kind:      store.KindDevice,
		Algorithm: "ES256",
		PublicKey: []byte("spki-der-of-" + id),
		Name:      "Phone " + id,
		Platform:  "ios",
		PushToken: "push-token-of-" + id,
		CreatedAt: s.at(d),
		Passkey:   []byte("passkey-blob-of-" + id),
		// Attestation is JSON the root package owns; stores keep the bytes.
		Attestation: []byte(`{"kind":"android-key","of":"` + id + `"}`),
	}
}

func (s suite) credentialRoundTrip(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := s.credential("cred1", "user1", 0)
	want.Kind = store.KindPasskey
	want.LastUsedAt = s.at(90 * time.Second)
	want.SignCount = 7
	want.Flags = store.FlagBackupEligible | store.FlagBackupState
	allFieldsSet(t, want)

	must(t, st.CreateCredential(ctx, want, 10), "CreateCredential")
	got, err := st.GetCredential(ctx, want.ID)
	must(t, err, "GetCredential")
	sameRecord(t, got, want, "GetCredential after CreateCredential")

	list, err := st.ListCredentials(ctx, want.UserID)
	must(t, err, "ListCredentials")
	if len(list) != 1 {
		t.Fatalf("ListCredentials: got %d credentials, want 1", len(list))
	}
	sameRecord(t, list[0], want, "ListCredentials after CreateCredential")
}

func (s suite) credentialZeroFields(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	// A passkey before first use: no public key, no push token, no counter,
	// LastUsedAt zero (not the epoch).
	want := store.Credential{ID: "cred1", UserID: "user1", Kind: store.KindPasskey, CreatedAt: s.at(0)}
	must(t, st.CreateCredential(ctx, want, 0), "CreateCredential")
	got, err := st.GetCredential(ctx, want.ID)
	must(t, err, "GetCredential")
	sameRecord(t, got, want, "GetCredential of a credential with zero fields")
	if !got.LastUsedAt.IsZero() {
		t.Fatalf("LastUsedAt: got %v, want the zero time", got.LastUsedAt)
	}
}

func (s suite) credentialCopies(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := s.credential("cred1", "user1", 0)
	in := s.credential("cred1", "user1", 0)
	must(t, st.CreateCredential(ctx, in, 0), "CreateCredential")
	in.PublicKey[0]++
	in.Passkey[0]++
	in.Attestation[0]++

	got, err := st.GetCredential(ctx, want.ID)
	must(t, err, "GetCredential")
	sameRecord(t, got, want, "GetCredential after the caller changed the slices it created with")
	got.PublicKey[0]++
	got.Passkey[0]++
	got.Attestation[0]++

	list, err := st.ListCredentials(ctx, want.UserID)
	must(t, err, "ListCredentials")
	sameRecord(t, list[0], want, "ListCredentials after the caller changed the slices GetCredential returned")
	list[0].PublicKey[0]++
	list[0].Passkey[0]++
	list[0].Attestation[0]++

	got, err = st.GetCredential(ctx, want.ID)
	must(t, err, "GetCredential")
	sameRecord(t, got, want, "GetCredential after the caller changed the slices ListCredentials returned")
}

func (s suite) credentialGetMissing(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	got, err := st.GetCredential(ctx, "cred2")
	mustFail(t, err, store.ErrNotFound, "GetCredential of a missing ID")
	if got.ID != "" {
		t.Fatalf("GetCredential of a missing ID returned a record with ID %q, want the zero record", got.ID)
	}
}

func (s suite) credentialDuplicate(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := s.credential("cred1", "user1", 0)
	must(t, st.CreateCredential(ctx, want, 0), "CreateCredential")
	// The same ID for another user is refused too: IDs are global.
	mustFail(t, st.CreateCredential(ctx, s.credential("cred1", "user2", time.Second), 0),
		store.ErrConflict, "CreateCredential with an existing ID")
	got, err := st.GetCredential(ctx, want.ID)
	must(t, err, "GetCredential")
	sameRecord(t, got, want, "GetCredential after a refused duplicate")
	list, err := st.ListCredentials(ctx, "user2")
	must(t, err, "ListCredentials")
	if len(list) != 0 {
		t.Fatalf("ListCredentials of the refused duplicate's user: got %d credentials, want 0", len(list))
	}
}

func (s suite) credentialListOrder(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	// Created out of order, two with one CreatedAt, and another user's
	// credential that sorts first.
	creds := []store.Credential{
		s.credential("cred4", "user1", 2*time.Second),
		s.credential("cred2", "user1", time.Second),
		s.credential("cred0", "user2", -time.Second),
		s.credential("cred1", "user1", time.Second),
		s.credential("cred3", "user1", 0),
	}
	for _, c := range creds {
		must(t, st.CreateCredential(ctx, c, 0), "CreateCredential "+c.ID)
	}
	list, err := st.ListCredentials(ctx, "user1")
	must(t, err, "ListCredentials")
	want := []store.Credential{creds[4], creds[3], creds[1], creds[0]}
	if got := credentialIDs(list); !slices.Equal(got, credentialIDs(want)) {
		t.Fatalf("ListCredentials: got IDs %v, want %v (by CreatedAt, then ID)", got, credentialIDs(want))
	}
	for i := range want {
		sameRecord(t, list[i], want[i], "ListCredentials")
	}
}

func credentialIDs(list []store.Credential) []string {
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	return ids
}

func (s suite) credentialListNone(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	list, err := st.ListCredentials(ctx, "user2")
	must(t, err, "ListCredentials")
	if list == nil || len(list) != 0 {
		t.Fatalf("ListCredentials of a user with none: got %#v, want an empty, non-nil slice", list)
	}
}

func (s suite) credentialLimit(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	const limit = 3
	for i := range limit {
		c := s.credential(fmt.Sprintf("cred%d", i), "user1", time.Duration(i)*time.Second)
		must(t, st.CreateCredential(ctx, c, limit), "CreateCredential "+c.ID)
	}
	mustFail(t, st.CreateCredential(ctx, s.credential("cred9", "user1", 0), limit),
		store.ErrLimit, "CreateCredential over the limit")
	mustFail(t, getCredentialErr(t, st, "cred9"), store.ErrNotFound, "GetCredential of the refused credential")

	// Other users' credentials do not count.
	must(t, st.CreateCredential(ctx, s.credential("other1", "user2", 0), limit), "CreateCredential for another user")

	// Deleting one makes room for one.
	must(t, st.DeleteCredential(ctx, "user1", "cred0"), "DeleteCredential")
	must(t, st.CreateCredential(ctx, s.credential("cred9", "user1", 0), limit), "CreateCredential after a delete")
	mustFail(t, st.CreateCredential(ctx, s.credential("cred10", "user1", 0), limit),
		store.ErrLimit, "CreateCredential over the limit after a delete")

	// max <= 0 means no limit.
	must(t, st.CreateCredential(ctx, s.credential("cred11", "user1", 0), 0), "CreateCredential with max 0")
	must(t, st.CreateCredential(ctx, s.credential("cred12", "user1", 0), -1), "CreateCredential with max -1")
	list, err := st.ListCredentials(ctx, "user1")
	must(t, err, "ListCredentials")
	if len(list) != limit+2 {
		t.Fatalf("ListCredentials: got %d credentials, want %d", len(list), limit+2)
	}
}

func getCredentialErr(t *testing.T, st store.Store, id string) error {
	_, err := st.GetCredential(t.Context(), id)
	return err
}

func (s suite) credentialRacingLimit(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	limit := max(1, s.racers/8)
	for round := range s.rounds {
		userID := fmt.Sprintf("user%d", round)
		r := race(s.racers, func(i int) error {
			c := s.credential(fmt.Sprintf("cred%d-%d", round, i), userID, 0)
			return st.CreateCredential(ctx, c, limit)
		})
		if !r.won(t, round, limit, store.ErrLimit) {
			return
		}
		list, err := st.ListCredentials(ctx, userID)
		must(t, err, "ListCredentials")
		if len(list) != limit {
			t.Fatalf("round %d: ListCredentials after racing creates: got %d credentials, want the limit %d",
				round, len(list), limit)
		}
	}
}

func (s suite) credentialUpdate(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := s.credential("cred1", "user1", 0)
	must(t, st.CreateCredential(ctx, want, 0), "CreateCredential")
	check := func(got store.Credential, err error, what string) {
		t.Helper()
		must(t, err, what)
		sameRecord(t, got, want, what+": returned record")
		stored, err := st.GetCredential(ctx, want.ID)
		must(t, err, "GetCredential")
		sameRecord(t, stored, want, what+": stored record")
	}

	got, err := st.UpdateCredential(ctx, "user1", want.ID, store.CredentialUpdate{
		LastUsedAt: s.at(time.Minute),
		Name:       new("Work phone"),
		PushToken:  new("push-token-2"),
		Flags:      new(store.FlagBackupEligible | store.FlagBackupState),
		Passkey:    []byte("passkey-blob-2"),
		SignCount:  new(uint32(5)),
	})
	want.LastUsedAt = s.at(time.Minute)
	want.Name = "Work phone"
	want.PushToken = "push-token-2"
	want.Flags = store.FlagBackupEligible | store.FlagBackupState
	want.Passkey = []byte("passkey-blob-2")
	want.SignCount = 5
	check(got, err, "UpdateCredential of every field")

	got, err = st.UpdateCredential(ctx, "user1", want.ID, store.CredentialUpdate{})
	check(got, err, "UpdateCredential with nothing to change")

	got, err = st.UpdateCredential(ctx, "user1", want.ID, store.CredentialUpdate{LastUsedAt: s.at(2 * time.Minute)})
	want.LastUsedAt = s.at(2 * time.Minute)
	check(got, err, "UpdateCredential of LastUsedAt only")

	// Pointers to zero values and empty non-nil slices are set: that is how
	// a push token, the flags or a blob are cleared.
	got, err = st.UpdateCredential(ctx, "user1", want.ID, store.CredentialUpdate{
		PushToken: new(""),
		Flags:     new(uint32(0)),
		Passkey:   []byte{},
	})
	want.PushToken, want.Flags, want.Passkey = "", 0, nil
	check(got, err, "UpdateCredential clearing PushToken, Flags and Passkey")
}

func (s suite) credentialSignCount(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := s.credential("cred1", "user1", 0)
	must(t, st.CreateCredential(ctx, want, 0), "CreateCredential")
	update := func(count uint32, wantErr error) {
		t.Helper()
		what := fmt.Sprintf("UpdateCredential of SignCount %d to %d", want.SignCount, count)
		// The name rides along to show that a refused update changes nothing.
		name := fmt.Sprintf("name after %d", count)
		got, err := st.UpdateCredential(ctx, "user1", want.ID, store.CredentialUpdate{SignCount: &count, Name: &name})
		if wantErr != nil {
			mustFail(t, err, wantErr, what)
		} else {
			must(t, err, what)
			want.SignCount, want.Name = count, name
			sameRecord(t, got, want, what+": returned record")
		}
		stored, err := st.GetCredential(ctx, want.ID)
		must(t, err, "GetCredential")
		sameRecord(t, stored, want, what+": stored record")
	}
	update(0, nil) // authenticators without a counter report 0 every time
	update(0, nil)
	update(5, nil)
	update(5, store.ErrConflict) // equal: a cloned authenticator
	update(3, store.ErrConflict) // backward
	update(0, store.ErrConflict)
	update(6, nil)
}

func (s suite) credentialUpdateOtherUser(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := s.credential("cred1", "user1", 0)
	must(t, st.CreateCredential(ctx, want, 0), "CreateCredential")
	_, err := st.UpdateCredential(ctx, "user2", want.ID, store.CredentialUpdate{Name: new("stolen"), SignCount: new(uint32(9))})
	mustFail(t, err, store.ErrNotFound, "UpdateCredential of another user's credential")
	_, err = st.UpdateCredential(ctx, "user1", "cred2", store.CredentialUpdate{Name: new("missing")})
	mustFail(t, err, store.ErrNotFound, "UpdateCredential of a missing credential")
	got, err := st.GetCredential(ctx, want.ID)
	must(t, err, "GetCredential")
	sameRecord(t, got, want, "GetCredential after refused updates")
}

func (s suite) credentialDelete(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := s.credential("cred1", "user1", 0)
	must(t, st.CreateCredential(ctx, want, 0), "CreateCredential")
	mustFail(t, st.DeleteCredential(ctx, "user2", want.ID), store.ErrNotFound, "DeleteCredential of another user's credential")
	got, err := st.GetCredential(ctx, want.ID)
	must(t, err, "GetCredential after another user's DeleteCredential")
	sameRecord(t, got, want, "GetCredential after another user's DeleteCredential")

	must(t, st.DeleteCredential(ctx, "user1", want.ID), "DeleteCredential")
	mustFail(t, getCredentialErr(t, st, want.ID), store.ErrNotFound, "GetCredential after DeleteCredential")
	mustFail(t, st.DeleteCredential(ctx, "user1", want.ID), store.ErrNotFound, "second DeleteCredential")
	list, err := st.ListCredentials(ctx, "user1")
	must(t, err, "ListCredentials")
	if list == nil || len(list) != 0 {
		t.Fatalf("ListCredentials after deleting the only credential: got %#v, want an empty, non-nil slice", list)
	}
}

func (s suite) credentialDeleteUser(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	for i := range 3 {
		must(t, st.CreateCredential(ctx, s.credential(fmt.Sprintf("cred%d", i), "user1", 0), 0), "CreateCredential")
	}
	other := s.credential("other", "user2", 0)
	must(t, st.CreateCredential(ctx, other, 0), "CreateCredential")

	n, err := st.DeleteUserCredentials(ctx, "user1")
	must(t, err, "DeleteUserCredentials")
	if n != 3 {
		t.Fatalf("DeleteUserCredentials: got %d, want 3", n)
	}
	for i := range 3 {
		mustFail(t, getCredentialErr(t, st, fmt.Sprintf("cred%d", i)), store.ErrNotFound, "GetCredential after DeleteUserCredentials")
	}
	list, err := st.ListCredentials(ctx, "user1")
	must(t, err, "ListCredentials")
	if list == nil || len(list) != 0 {
		t.Fatalf("ListCredentials after DeleteUserCredentials: got %#v, want an empty, non-nil slice", list)
	}
	got, err := st.GetCredential(ctx, other.ID)
	must(t, err, "GetCredential of another user's credential after DeleteUserCredentials")
	sameRecord(t, got, other, "another user's credential after DeleteUserCredentials")

	n, err = st.DeleteUserCredentials(ctx, "user1")
	must(t, err, "second DeleteUserCredentials")
	if n != 0 {
		t.Fatalf("second DeleteUserCredentials: got %d, want 0", n)
	}
}
