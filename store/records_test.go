package store

import (
	"reflect"
	"testing"
)

// Clone must copy every slice field, including ones added later: each is
// filled, cloned, and its backing array must differ from the original's.
func TestClone_CopiesEverySlice(t *testing.T) {
	check := func(orig, clone any) {
		t.Helper()
		o, c := reflect.ValueOf(orig), reflect.ValueOf(clone)
		for i := range o.NumField() {
			f := o.Field(i)
			if f.Kind() != reflect.Slice {
				continue
			}
			if f.Len() == 0 {
				t.Fatalf("%s.%s is empty in the fixture", o.Type(), o.Type().Field(i).Name)
			}
			if f.Pointer() == c.Field(i).Pointer() || !reflect.DeepEqual(f.Interface(), c.Field(i).Interface()) {
				t.Errorf("%s.Clone shares or changes %s", o.Type(), o.Type().Field(i).Name)
			}
		}
	}
	b := []byte("x")
	ch := Challenge{Methods: []string{"DEVICE"}, Nonce: b, Details: b, DetailsDigest: b,
		ClaimSecretHash: b, BrowserBindingHash: b, Passkey: b}
	check(ch, ch.Clone())
	cred := Credential{PublicKey: b, Passkey: b, Attestation: b}
	check(cred, cred.Clone())
	ce := Ceremony{Data: b}
	check(ce, ce.Clone())
}

func TestBinding_Binds(t *testing.T) {
	c := Challenge{UserID: "alice", Action: "transfer", DetailsDigest: []byte{1, 2}}
	b := Binding{UserID: "alice", Action: "transfer", DetailsDigest: []byte{1, 2}}
	if !b.Binds(c) {
		t.Fatal("Binds = false for the challenge's own binding")
	}
	for what, other := range map[string]Binding{
		"another user":    {UserID: "bob", Action: "transfer", DetailsDigest: []byte{1, 2}},
		"another action":  {UserID: "alice", Action: "signIn", DetailsDigest: []byte{1, 2}},
		"other details":   {UserID: "alice", Action: "transfer", DetailsDigest: []byte{1, 3}},
		"a longer digest": {UserID: "alice", Action: "transfer", DetailsDigest: []byte{1, 2, 0}},
	} {
		if other.Binds(c) {
			t.Errorf("Binds = true for %s", what)
		}
	}
	if (Binding{Action: "transfer", DetailsDigest: []byte{1, 2}}).Binds(Challenge{Action: "transfer", DetailsDigest: []byte{1, 2}}) {
		t.Error("Binds = true for a challenge without a user")
	}
}

func TestBegin_Allows(t *testing.T) {
	devices, both := []CredentialKind{KindDevice}, []CredentialKind{KindDevice, KindPasskey}
	for _, tc := range []struct {
		b       Begin
		counter int64
		kinds   []CredentialKind
		want    bool
	}{
		{Begin{}, 0, devices, true},
		{Begin{}, 0, nil, false}, // not enrolled
		{Begin{CounterLimit: 5}, 4, devices, true},
		{Begin{CounterLimit: 5}, 5, devices, false},
		{Begin{Kinds: devices}, 0, both, false},
		{Begin{Kinds: []CredentialKind{KindPasskey, KindDevice}}, 0, both, true},
	} {
		if got := tc.b.Allows(tc.counter, tc.kinds); got != tc.want {
			t.Errorf("%+v.Allows(%d, %q) = %v, want %v", tc.b, tc.counter, tc.kinds, got, tc.want)
		}
	}
}
