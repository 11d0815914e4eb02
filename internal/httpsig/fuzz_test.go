package httpsig_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth/internal/httpsig"
)

// isPackageError reports whether err wraps one of the package's sentinels.
func isPackageError(err error) bool {
	for _, s := range []error{
		httpsig.ErrMissingSignature, httpsig.ErrMalformed, httpsig.ErrComponent,
		httpsig.ErrAlgorithm, httpsig.ErrBadSignature, httpsig.ErrDigest, httpsig.ErrPolicy,
	} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzParseSignatureHeaders feeds arbitrary Signature-Input and Signature
// values to ParseSignatures, Base and Profile.Verify: none may panic, and
// every failure must be one of the package's sentinels (or the KeyFunc's).
func FuzzParseSignatureHeaders(f *testing.F) {
	keys := newTestKeys(f)
	valid := newRequest(f, "GET", testURL, "")
	if err := httpsig.Sign(valid, nil, esID, keys.es, signedAt, testNonce); err != nil {
		f.Fatal(err)
	}
	f.Add(valid.Header.Get("Signature-Input"), valid.Header.Get("Signature"))
	f.Add(`sig1=("@method" "@query-param";name="a" "x";sf;key="k");created=1;keyid="k";tag="deviceauth", b=()`, `sig1=:AAAA:, b=:=:`)
	f.Add(`deviceauth=("@method" "@authority" "@path" "@query");created=1700000000;keyid="x";nonce="abcdefghijklmnopq";tag="deviceauth";expires=1`, `deviceauth=::`)
	f.Add(`a=(`, `a=:`)
	f.Add(`a=("@status" "@signature-params" "@request-target");alg="ed25519";tag="deviceauth"`, `a=?1`)
	f.Add("", "")

	f.Fuzz(func(t *testing.T, input, signature string) {
		r := newRequest(t, "GET", testURL, "")
		r.RequestURI = "/v1/challenges/ch_123?include=details&x=a%20b"
		r.Header.Set("Signature-Input", input)
		r.Header.Set("Signature", signature)

		sigs, err := httpsig.ParseSignatures(r.Header)
		if err != nil && !errors.Is(err, httpsig.ErrMalformed) && !errors.Is(err, httpsig.ErrMissingSignature) {
			t.Fatalf("ParseSignatures err = %v, want ErrMalformed or ErrMissingSignature", err)
		}
		for _, s := range sigs {
			if _, err := httpsig.Base(httpsig.RequestMessage(r), s.Input); err != nil && !isPackageError(err) {
				t.Fatalf("Base err = %v, want a package sentinel", err)
			}
		}
		_, err = testProfile.Verify(context.Background(), r, nil, signedAt, keys.keyFunc())
		if err != nil && !isPackageError(err) && !errors.Is(err, errUnknownKey) {
			t.Fatalf("Verify err = %v, want a package sentinel", err)
		}
	})
}

// FuzzSignatureBase builds the base of one arbitrary component over a message
// with an arbitrary field value and request target. A built base must have
// exactly the component line and the "@signature-params" line: no value may
// inject a line.
func FuzzSignatureBase(f *testing.F) {
	f.Add(`"x-fuzz"`, "a, b", "/p?q=1", false)
	f.Add(`"x-fuzz";sf`, "(a b);x=1, c", "/", false)
	f.Add(`"x-fuzz";bs`, "\xff\x00", "/", false)
	f.Add(`"@query-param";name="a%0A"`, "", "/p?a%0A=%0D%0A&b", false)
	f.Add(`"@query"`, "", "https://h/p?x\ny", false)
	f.Add(`"@target-uri"`, "", "/a b?c", false)
	f.Add(`"@status"`, "", "", true)
	f.Add(`"x-fuzz";key="a"`, "a=(1 2);p, b", "", true)

	f.Fuzz(func(t *testing.T, id, fieldValue, target string, response bool) {
		c, err := httpsig.ParseComponent(id)
		if err != nil {
			if !errors.Is(err, httpsig.ErrMalformed) {
				t.Fatalf("ParseComponent err = %v, want ErrMalformed", err)
			}
			return
		}
		header := http.Header{"X-Fuzz": {fieldValue}}
		m := httpsig.ResponseMessage(200, header)
		if !response {
			m = httpsig.RequestMessage(&http.Request{Method: "GET", Host: "a.example", RequestURI: target, Header: header})
		}
		m.FieldTypes = map[string]httpsig.FieldType{"x-fuzz": httpsig.FieldList}

		base, err := httpsig.Base(m, httpsig.SignatureInput{Components: []httpsig.Component{c}})
		if err != nil {
			if !isPackageError(err) {
				t.Fatalf("Base err = %v, want a package sentinel", err)
			}
			return
		}
		lines := strings.Split(string(base), "\n")
		if len(lines) != 2 {
			t.Fatalf("base has %d lines, want 2: %q", len(lines), base)
		}
		if !strings.HasPrefix(lines[0], c.String()+": ") {
			t.Errorf("component line %q does not start with %s", lines[0], c)
		}
		if want := `"@signature-params": (` + c.String() + ")"; lines[1] != want {
			t.Errorf("params line %q, want %q", lines[1], want)
		}
	})
}

// FuzzVerifyContentDigest checks that arbitrary Content-Digest values never
// panic and fail only with ErrDigest, and that ContentDigest always verifies.
func FuzzVerifyContentDigest(f *testing.F) {
	f.Add("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", []byte(`{"hello": "world"}`))
	f.Add("sha-512=:AA==:, sha-256=?1", []byte{})
	f.Add("sha-256=(:AA==:)", []byte("x"))
	f.Fuzz(func(t *testing.T, field string, body []byte) {
		if err := httpsig.VerifyContentDigest([]string{field}, body); err != nil && !errors.Is(err, httpsig.ErrDigest) {
			t.Fatalf("VerifyContentDigest err = %v, want ErrDigest", err)
		}
		if err := httpsig.VerifyContentDigest([]string{httpsig.ContentDigest(body)}, body); err != nil {
			t.Fatalf("ContentDigest does not verify: %v", err)
		}
	})
}
