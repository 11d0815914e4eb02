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
	cred := Credential{PublicKey: b, Passkey: b}
	check(cred, cred.Clone())
}
