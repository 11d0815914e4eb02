package httpsig_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/internal/httpsig"
)

const (
	esID      = "cred-es256"
	edID      = "cred-ed25519"
	testNonce = "nonce_0123456789abcdef"
	testURL   = "https://api.example.com/v1/challenges/ch_123?include=details&x=a%20b"
)

var (
	signedAt      = time.Unix(1_700_000_000, 0)
	testProfile   = httpsig.Profile{Authority: "api.example.com"}
	errUnknownKey = errors.New("test: unknown key")
	errStore      = errors.New("test: store unavailable")
)

type testKeys struct {
	es, other *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
}

func newTestKeys(t testing.TB) testKeys {
	t.Helper()
	es, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{es: es, other: other, ed: ed}
}

// keyFunc resolves esID and edID; other IDs are unknown.
func (k testKeys) keyFunc() httpsig.KeyFunc {
	return keysByID(map[string]crypto.Signer{esID: k.es, edID: k.ed})
}

func keysByID(keys map[string]crypto.Signer) httpsig.KeyFunc {
	return func(_ context.Context, keyID string) (string, crypto.PublicKey, error) {
		s, ok := keys[keyID]
		if !ok {
			return "", nil, errUnknownKey
		}
		alg, err := httpsig.AlgorithmFor(s.Public())
		return alg, s.Public(), err
	}
}

// onWire writes r as HTTP/1.1 and parses it back as a server receives it.
func onWire(t testing.TB, r *http.Request) (*http.Request, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatalf("writing request: %v", err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatalf("reading request back: %v", err)
	}
	body, err := io.ReadAll(sr.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return sr, body
}

func newRequest(t testing.TB, method, url, body string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// signCustom signs r with an arbitrary Signature-Input member, to build
// requests that Sign refuses to produce. params is the serialized parameter
// list, such as `;created=1;keyid="k"`.
func signCustom(t testing.TB, r *http.Request, body []byte, signer crypto.Signer, label string, components []string, params string) {
	t.Helper()
	h := http.Header{}
	h.Set("Signature-Input", label+"=("+strings.Join(components, " ")+")"+params)
	sigs, err := httpsig.ParseSignatures(h)
	if err != nil {
		t.Fatalf("building signature input: %v", err)
	}
	if len(body) > 0 && r.Header.Get("Content-Digest") == "" {
		r.Header.Set("Content-Digest", httpsig.ContentDigest(body))
	}
	alg, err := httpsig.AlgorithmFor(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	s, err := httpsig.SignMessage(httpsig.RequestMessage(r), label, sigs[0].Input, alg, signer)
	if err != nil {
		t.Fatalf("SignMessage: %v", err)
	}
	if err := httpsig.AddSignature(r.Header, s); err != nil {
		t.Fatalf("AddSignature: %v", err)
	}
}

var profileComponents = []string{`"@method"`, `"@authority"`, `"@path"`, `"@query"`}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

func params(created time.Time, extra string) string {
	return fmt.Sprintf(`;created=%d;keyid=%q;nonce=%q;tag="deviceauth"%s`, created.Unix(), esID, testNonce, extra)
}

func TestProfileVerify(t *testing.T) {
	keys := newTestKeys(t)
	signES := func(t testing.TB, r *http.Request, body []byte) {
		if err := httpsig.Sign(r, body, esID, keys.es, signedAt, testNonce); err != nil {
			t.Fatalf("Sign: %v", err)
		}
	}
	signED := func(t testing.TB, r *http.Request, body []byte) {
		if err := httpsig.Sign(r, body, edID, keys.ed, signedAt, testNonce); err != nil {
			t.Fatalf("Sign: %v", err)
		}
	}
	custom := func(components []string, params string) func(testing.TB, *http.Request, []byte) {
		return func(t testing.TB, r *http.Request, body []byte) {
			signCustom(t, r, body, keys.es, "deviceauth", components, params)
		}
	}
	withDigest := append(append([]string{}, profileComponents...), `"content-digest"`)

	type testCase struct {
		name   string
		method string // default GET
		url    string // default testURL
		body   string
		sign   func(testing.TB, *http.Request, []byte) // default signES; nil-able via unsigned
		tamper func(r *http.Request, body *[]byte)
		now    time.Time // default signedAt
		prof   *httpsig.Profile
		key    httpsig.KeyFunc
		want   error
		// afterKey marks refusals that need the resolved key (alg checks);
		// every other refusal must come before KeyFunc is called.
		afterKey bool
	}
	unsigned := func(testing.TB, *http.Request, []byte) {}
	tests := []testCase{
		{name: "ES256 GET with query", want: nil},
		{name: "Ed25519 GET without query", url: "https://api.example.com/v1/pending", sign: signED},
		{name: "ES256 POST with body", method: "POST", url: "https://api.example.com/v1/respond", body: `{"decision":"approve"}`},
		{name: "Ed25519 POST with body and query", method: "POST", body: `{"a":1}`, sign: signED},
		{name: "ES256 empty path", url: "https://api.example.com"},
		{name: "created exactly Skew ago", now: signedAt.Add(httpsig.DefaultSkew)},
		{name: "created exactly Skew ahead", now: signedAt.Add(-httpsig.DefaultSkew)},
		{name: "created Skew+1s ago", now: signedAt.Add(httpsig.DefaultSkew + time.Second), want: httpsig.ErrPolicy},
		{name: "created Skew+1s ahead", now: signedAt.Add(-httpsig.DefaultSkew - time.Second), want: httpsig.ErrPolicy},
		{name: "custom Skew exceeded", now: signedAt.Add(11 * time.Second), prof: &httpsig.Profile{Authority: "api.example.com", Skew: 10 * time.Second}, want: httpsig.ErrPolicy},
		{name: "missing @method", sign: custom(without(profileComponents, `"@method"`), params(signedAt, "")), want: httpsig.ErrPolicy},
		{name: "missing @authority", sign: custom(without(profileComponents, `"@authority"`), params(signedAt, "")), want: httpsig.ErrPolicy},
		{name: "missing @path", sign: custom(without(profileComponents, `"@path"`), params(signedAt, "")), want: httpsig.ErrPolicy},
		{name: "missing @query", sign: custom(without(profileComponents, `"@query"`), params(signedAt, "")), want: httpsig.ErrPolicy},
		{name: "missing content-digest with a body", method: "POST", body: "x", sign: custom(profileComponents, params(signedAt, "")), want: httpsig.ErrPolicy},
		{name: "content-digest covered without body", sign: func(t testing.TB, r *http.Request, b []byte) {
			r.Header.Set("Content-Digest", httpsig.ContentDigest(nil))
			signCustom(t, r, b, keys.es, "deviceauth", withDigest, params(signedAt, ""))
		}},
		{name: "extra covered field", sign: func(t testing.TB, r *http.Request, b []byte) {
			r.Header.Set("X-Device", "phone")
			signCustom(t, r, b, keys.es, "deviceauth", append([]string{`"x-device"`}, profileComponents...), params(signedAt, ""))
		}},
		{name: "extra covered @scheme", sign: custom(append([]string{`"@scheme"`}, profileComponents...), params(signedAt, "")), want: httpsig.ErrComponent},
		{name: "wrong authority", url: "https://evil.example.com/v1/challenges/ch_123?include=details", want: httpsig.ErrBadSignature},
		{name: "Host rewritten by a proxy", tamper: func(r *http.Request, _ *[]byte) { r.Host = "10.0.0.7:8080" }},
		{name: "authority normalized", prof: &httpsig.Profile{Authority: "API.Example.com:443"}},
		{name: "explicit default port when signing", url: "https://api.example.com:443/v1/x?y=1"},
		{name: "path changed", tamper: func(r *http.Request, _ *[]byte) {
			r.RequestURI = strings.Replace(r.RequestURI, "ch_123", "ch_999", 1)
		}, want: httpsig.ErrBadSignature},
		{name: "query changed", tamper: func(r *http.Request, _ *[]byte) {
			r.RequestURI = strings.Replace(r.RequestURI, "details", "all", 1)
		}, want: httpsig.ErrBadSignature},
		{name: "query removed", tamper: func(r *http.Request, _ *[]byte) {
			r.RequestURI, _, _ = strings.Cut(r.RequestURI, "?")
		}, want: httpsig.ErrBadSignature},
		{name: "method changed", tamper: func(r *http.Request, _ *[]byte) { r.Method = "DELETE" }, want: httpsig.ErrBadSignature},
		{name: "body changed", method: "POST", body: `{"decision":"deny"}`, tamper: func(_ *http.Request, b *[]byte) {
			*b = []byte(`{"decision":"approve"}`)
		}, want: httpsig.ErrDigest},
		{name: "body removed", method: "POST", body: "x", tamper: func(_ *http.Request, b *[]byte) { *b = nil }, want: httpsig.ErrDigest},
		{name: "digest header removed", method: "POST", body: "x", tamper: func(r *http.Request, _ *[]byte) {
			r.Header.Del("Content-Digest")
		}, want: httpsig.ErrDigest},
		{name: "body and digest replaced", method: "POST", body: "x", tamper: func(r *http.Request, b *[]byte) {
			*b = []byte("y")
			r.Header.Set("Content-Digest", httpsig.ContentDigest(*b))
		}, want: httpsig.ErrBadSignature},
		{name: "keyid resolves to another key", key: keysByID(map[string]crypto.Signer{esID: keys.other}), want: httpsig.ErrBadSignature},
		{name: "keyid resolves to a key of another type", key: keysByID(map[string]crypto.Signer{esID: keys.ed}), want: httpsig.ErrPolicy, afterKey: true},
		{name: "unknown keyid", key: keysByID(nil), want: errUnknownKey},
		{name: "key store down", key: func(context.Context, string) (string, crypto.PublicKey, error) {
			return "", nil, fmt.Errorf("lookup: %w", errStore)
		}, want: errStore},
		{name: "missing created", sign: custom(profileComponents, fmt.Sprintf(`;keyid=%q;nonce=%q;tag="deviceauth"`, esID, testNonce)), want: httpsig.ErrPolicy},
		{name: "missing keyid", sign: custom(profileComponents, fmt.Sprintf(`;created=%d;nonce=%q;tag="deviceauth"`, signedAt.Unix(), testNonce)), want: httpsig.ErrPolicy},
		{name: "missing nonce", sign: custom(profileComponents, fmt.Sprintf(`;created=%d;keyid=%q;tag="deviceauth"`, signedAt.Unix(), esID)), want: httpsig.ErrPolicy},
		{name: "missing tag", sign: custom(profileComponents, fmt.Sprintf(`;created=%d;keyid=%q;nonce=%q`, signedAt.Unix(), esID, testNonce)), want: httpsig.ErrMissingSignature},
		{name: "other tag", sign: custom(profileComponents, fmt.Sprintf(`;created=%d;keyid=%q;nonce=%q;tag="other"`, signedAt.Unix(), esID, testNonce)), want: httpsig.ErrMissingSignature},
		{name: "alg matches", sign: custom(profileComponents, params(signedAt, `;alg="ecdsa-p256-sha256"`))},
		{name: "alg mismatch", sign: custom(profileComponents, params(signedAt, `;alg="ed25519"`)), want: httpsig.ErrPolicy, afterKey: true},
		{name: "alg not implemented", sign: custom(profileComponents, params(signedAt, `;alg="hmac-sha256"`)), want: httpsig.ErrPolicy, afterKey: true},
		{name: "expires ahead", sign: custom(profileComponents, params(signedAt, fmt.Sprintf(";expires=%d", signedAt.Unix()+1)))},
		{name: "expires reached", sign: custom(profileComponents, params(signedAt, fmt.Sprintf(";expires=%d", signedAt.Unix()))), want: httpsig.ErrPolicy},
		{name: "nonce too short", sign: custom(profileComponents, fmt.Sprintf(`;created=%d;keyid=%q;nonce="abcdefghijklmno";tag="deviceauth"`, signedAt.Unix(), esID)), want: httpsig.ErrPolicy},
		{name: "nonce of 16", sign: custom(profileComponents, fmt.Sprintf(`;created=%d;keyid=%q;nonce="abcdefghijklmnop";tag="deviceauth"`, signedAt.Unix(), esID))},
		{name: "nonce of 128", sign: custom(profileComponents, fmt.Sprintf(`;created=%d;keyid=%q;nonce=%q;tag="deviceauth"`, signedAt.Unix(), esID, strings.Repeat("n", 128)))},
		{name: "nonce too long", sign: custom(profileComponents, fmt.Sprintf(`;created=%d;keyid=%q;nonce=%q;tag="deviceauth"`, signedAt.Unix(), esID, strings.Repeat("n", 129))), want: httpsig.ErrPolicy},
		{name: "nonce with bad characters", sign: custom(profileComponents, fmt.Sprintf(`;created=%d;keyid=%q;nonce="abc+def/ghi=jkl.mno";tag="deviceauth"`, signedAt.Unix(), esID)), want: httpsig.ErrPolicy},
		{name: "keyid with bad characters", sign: custom(profileComponents, fmt.Sprintf(`;created=%d;keyid="cred/../x";nonce=%q;tag="deviceauth"`, signedAt.Unix(), testNonce)), want: httpsig.ErrPolicy},
		{name: "keyid too long", sign: custom(profileComponents, fmt.Sprintf(`;created=%d;keyid=%q;nonce=%q;tag="deviceauth"`, signedAt.Unix(), strings.Repeat("k", 65), testNonce)), want: httpsig.ErrPolicy},
		{name: "empty keyid", sign: custom(profileComponents, fmt.Sprintf(`;created=%d;keyid="";nonce=%q;tag="deviceauth"`, signedAt.Unix(), testNonce)), want: httpsig.ErrPolicy},
		{name: "duplicate deviceauth signatures", sign: func(t testing.TB, r *http.Request, b []byte) {
			signES(t, r, b)
			signCustom(t, r, b, keys.es, "second", profileComponents, params(signedAt, ""))
		}, want: httpsig.ErrPolicy},
		{name: "other signatures ignored", sign: func(t testing.TB, r *http.Request, b []byte) {
			signCustom(t, r, b, keys.other, "proxy", []string{`"@method"`}, `;created=1;keyid="proxy";tag="edge"`)
			signES(t, r, b)
		}},
		{name: "unsigned", sign: unsigned, want: httpsig.ErrMissingSignature},
		{name: "Signature field removed", tamper: func(r *http.Request, _ *[]byte) { r.Header.Del("Signature") }, want: httpsig.ErrMissingSignature},
		{name: "Signature-Input field removed", tamper: func(r *http.Request, _ *[]byte) { r.Header.Del("Signature-Input") }, want: httpsig.ErrMissingSignature},
		{name: "Signature member under another label", tamper: func(r *http.Request, _ *[]byte) {
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), "deviceauth=", "other=", 1))
		}, want: httpsig.ErrMissingSignature},
		{name: "signature truncated", tamper: func(r *http.Request, _ *[]byte) {
			r.Header.Set("Signature", "deviceauth=:AAAA:")
		}, want: httpsig.ErrBadSignature},
		{name: "signature params changed", tamper: func(r *http.Request, _ *[]byte) {
			r.Header.Set("Signature-Input", strings.Replace(r.Header.Get("Signature-Input"), testNonce, "nonce_ffffffffffffffff", 1))
		}, want: httpsig.ErrBadSignature},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, url, sign, now, prof, key := tt.method, tt.url, tt.sign, tt.now, testProfile, tt.key
			if method == "" {
				method = http.MethodGet
			}
			if url == "" {
				url = testURL
			}
			if sign == nil {
				sign = signES
			}
			if now.IsZero() {
				now = signedAt
			}
			if tt.prof != nil {
				prof = *tt.prof
			}
			if key == nil {
				key = keys.keyFunc()
			}
			calls := 0
			counted := func(ctx context.Context, id string) (string, crypto.PublicKey, error) {
				calls++
				return key(ctx, id)
			}

			cr := newRequest(t, method, url, tt.body)
			sign(t, cr, []byte(tt.body))
			r, body := onWire(t, cr)
			if tt.tamper != nil {
				tt.tamper(r, &body)
			}

			got, err := prof.Verify(context.Background(), r, body, now, counted)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v, want success", err)
				}
				if got.Nonce == "" || got.KeyID == "" || !got.Created.Equal(signedAt) {
					t.Errorf("Verified = %+v, want keyid, nonce and created %v", got, signedAt)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify err = %v, want %v", err, tt.want)
			}
			if got != (httpsig.Verified{}) {
				t.Errorf("Verified = %+v on failure, want zero", got)
			}
			if tt.afterKey {
				return
			}
			for _, cheap := range []error{httpsig.ErrMissingSignature, httpsig.ErrMalformed, httpsig.ErrDigest, httpsig.ErrPolicy} {
				if errors.Is(err, cheap) && calls != 0 {
					t.Errorf("KeyFunc called %d times before refusing with %v, want 0", calls, cheap)
				}
			}
		})
	}
}

func TestProfileVerify_ReturnsSignedValues(t *testing.T) {
	keys := newTestKeys(t)
	cr := newRequest(t, "GET", testURL, "")
	if err := httpsig.Sign(cr, nil, edID, keys.ed, signedAt.Add(500*time.Millisecond), testNonce); err != nil {
		t.Fatal(err)
	}
	r, body := onWire(t, cr)
	got, err := testProfile.Verify(context.Background(), r, body, signedAt, keys.keyFunc())
	want := httpsig.Verified{KeyID: edID, Nonce: testNonce, Created: signedAt}
	if err != nil || got != want {
		t.Errorf("Verify = %+v, %v; want %+v, nil", got, err, want)
	}
}

func TestProfileVerify_RefusesGarbledHeaders(t *testing.T) {
	keys := newTestKeys(t)
	tests := []struct {
		field, value string
		want         error
	}{
		{"Signature-Input", "deviceauth=", httpsig.ErrMalformed},
		{"Signature-Input", "deviceauth=(", httpsig.ErrMalformed},
		{"Signature-Input", `deviceauth=("@method"`, httpsig.ErrMalformed},
		{"Signature-Input", `=("@method");tag="deviceauth"`, httpsig.ErrMalformed},
		{"Signature-Input", `Deviceauth=("@method");tag="deviceauth"`, httpsig.ErrMalformed},
		{"Signature-Input", `deviceauth=("@method" 1);tag="deviceauth"`, httpsig.ErrMalformed},
		{"Signature-Input", `deviceauth=("@method" "Host");tag="deviceauth"`, httpsig.ErrMalformed},
		{"Signature-Input", `deviceauth="@method";tag="deviceauth"`, httpsig.ErrMalformed},
		{"Signature-Input", `deviceauth=("@method");created="now";tag="deviceauth"`, httpsig.ErrMalformed},
		{"Signature-Input", `deviceauth=("@method");created=1;tag=deviceauth`, httpsig.ErrMalformed},
		{"Signature-Input", `deviceauth=("@method");created=1.5;tag="deviceauth"`, httpsig.ErrMalformed},
		{"Signature-Input", `deviceauth=("@method");keyid=:AAAA:;tag="deviceauth"`, httpsig.ErrMalformed},
		{"Signature-Input", `deviceauth=("@method");tag="deviceauth",`, httpsig.ErrMalformed},
		{"Signature-Input", "\x00\xff", httpsig.ErrMalformed},
		{"Signature-Input", `deviceauth=()`, httpsig.ErrMissingSignature},
		{"Signature-Input", ``, httpsig.ErrMissingSignature},
		{"Signature-Input", `deviceauth=();tag="deviceauth"`, httpsig.ErrPolicy},
		{"Signature", "deviceauth=abc", httpsig.ErrMalformed},
		{"Signature", "deviceauth=:!!!:", httpsig.ErrMalformed},
		{"Signature", "deviceauth=:", httpsig.ErrMalformed},
		{"Signature", `deviceauth=("a")`, httpsig.ErrMalformed},
		{"Signature", `deviceauth="AAAA"`, httpsig.ErrMalformed},
		{"Signature", ",", httpsig.ErrMalformed},
		{"Signature", "deviceauth=::", httpsig.ErrBadSignature},
		{"Signature", "", httpsig.ErrMissingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.field+" "+tt.value, func(t *testing.T) {
			cr := newRequest(t, "GET", testURL, "")
			if err := httpsig.Sign(cr, nil, esID, keys.es, signedAt, testNonce); err != nil {
				t.Fatal(err)
			}
			r, body := onWire(t, cr)
			r.Header.Set(tt.field, tt.value)
			_, err := testProfile.Verify(context.Background(), r, body, signedAt, keys.keyFunc())
			if !errors.Is(err, tt.want) {
				t.Errorf("%s: %q: err = %v, want %v", tt.field, tt.value, err, tt.want)
			}
		})
	}
}

// TestProfileVerify_UnderStripPrefix checks that a handler mounted under a
// prefix still verifies: @path comes from RequestURI, not the rewritten URL.
func TestProfileVerify_UnderStripPrefix(t *testing.T) {
	keys := newTestKeys(t)
	var (
		verifyErr error
		seenPath  string
	)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenPath = r.URL.Path
		body, _ := io.ReadAll(r.Body)
		_, verifyErr = testProfile.Verify(r.Context(), r, body, signedAt, keys.keyFunc())
	})
	mux := http.NewServeMux()
	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", inner))

	cr := newRequest(t, "POST", "https://api.example.com/deviceauth/v1/challenges/ch_1/respond?x=1", `{"decision":"approve"}`)
	if err := httpsig.Sign(cr, []byte(`{"decision":"approve"}`), esID, keys.es, signedAt, testNonce); err != nil {
		t.Fatal(err)
	}
	r, body := onWire(t, cr)
	r.Body = io.NopCloser(bytes.NewReader(body))
	mux.ServeHTTP(httptest.NewRecorder(), r)

	if seenPath != "/v1/challenges/ch_1/respond" {
		t.Fatalf("handler saw path %q, want the stripped /v1/challenges/ch_1/respond", seenPath)
	}
	if verifyErr != nil {
		t.Errorf("Verify under StripPrefix: %v, want success", verifyErr)
	}
}

func TestProfileVerify_FallsBackToURLWithoutRequestURI(t *testing.T) {
	keys := newTestKeys(t)
	r := newRequest(t, "GET", testURL, "")
	if err := httpsig.Sign(r, nil, esID, keys.es, signedAt, testNonce); err != nil {
		t.Fatal(err)
	}
	if _, err := testProfile.Verify(context.Background(), r, nil, signedAt, keys.keyFunc()); err != nil {
		t.Errorf("Verify of an in-process request: %v, want success", err)
	}
}

func TestSign(t *testing.T) {
	keys := newTestKeys(t)

	r := newRequest(t, "POST", "https://API.example.com/v1/respond?a=1", "body")
	if err := httpsig.Sign(r, []byte("body"), esID, keys.es, signedAt, testNonce); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	wantInput := `deviceauth=("@method" "@authority" "@path" "@query" "content-digest");created=1700000000;keyid="cred-es256";nonce="nonce_0123456789abcdef";alg="ecdsa-p256-sha256";tag="deviceauth"`
	if got := r.Header.Get("Signature-Input"); got != wantInput {
		t.Errorf("Signature-Input\n got: %s\nwant: %s", got, wantInput)
	}
	if got, want := r.Header.Get("Content-Digest"), httpsig.ContentDigest([]byte("body")); got != want {
		t.Errorf("Content-Digest = %q, want %q", got, want)
	}
	sigs, err := httpsig.ParseSignatures(r.Header)
	if err != nil || len(sigs) != 1 || len(sigs[0].Value) != 64 {
		t.Fatalf("ParseSignatures = %+v, %v; want one 64-byte r‖s signature", sigs, err)
	}

	r = newRequest(t, "GET", "https://api.example.com/", "")
	if err := httpsig.Sign(r, nil, edID, keys.ed, signedAt, ""); err != nil {
		t.Fatalf("Sign with a random nonce: %v", err)
	}
	if r.Header.Get("Content-Digest") != "" {
		t.Errorf("Content-Digest set without a body")
	}
	sigs, _ = httpsig.ParseSignatures(r.Header)
	nonce, _ := sigs[0].Input.Nonce()
	alg, _ := sigs[0].Input.Alg()
	if len(nonce) < 16 || alg != httpsig.AlgEd25519 || len(sigs[0].Value) != 64 {
		t.Errorf("nonce %q, alg %q, %d signature bytes; want a random nonce, ed25519, 64 bytes", nonce, alg, len(sigs[0].Value))
	}
	r2 := newRequest(t, "GET", "https://api.example.com/", "")
	_ = httpsig.Sign(r2, nil, edID, keys.ed, signedAt, "")
	sigs2, _ := httpsig.ParseSignatures(r2.Header)
	if nonce2, _ := sigs2[0].Input.Nonce(); nonce2 == nonce {
		t.Errorf("two Sign calls drew the same nonce %q", nonce)
	}

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name   string
		keyID  string
		signer crypto.Signer
		nonce  string
		want   error
	}{
		{"bad keyid", "a b", keys.es, testNonce, httpsig.ErrPolicy},
		{"empty keyid", "", keys.es, testNonce, httpsig.ErrPolicy},
		{"short nonce", esID, keys.es, "short", httpsig.ErrPolicy},
		{"P-384 key", esID, p384, testNonce, httpsig.ErrAlgorithm},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(t, "GET", testURL, "")
			if err := httpsig.Sign(r, nil, tt.keyID, tt.signer, signedAt, tt.nonce); !errors.Is(err, tt.want) {
				t.Errorf("Sign err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAddSignature_KeepsOtherMembers(t *testing.T) {
	h := http.Header{}
	h.Set("Signature-Input", `proxy=("@method");tag="edge"`)
	h.Set("Signature", `proxy=:AAAA:`)
	in := httpsig.SignatureInput{Components: []httpsig.Component{{Name: "@path"}}}
	if err := httpsig.AddSignature(h, httpsig.Signature{Label: "mine", Input: in, Value: []byte{1, 2}}); err != nil {
		t.Fatalf("AddSignature: %v", err)
	}
	if got, want := h.Get("Signature-Input"), `proxy=("@method");tag="edge", mine=("@path")`; got != want {
		t.Errorf("Signature-Input = %q, want %q", got, want)
	}
	if got, want := h.Get("Signature"), `proxy=:AAAA:, mine=:AQI=:`; got != want {
		t.Errorf("Signature = %q, want %q", got, want)
	}
	if err := httpsig.AddSignature(h, httpsig.Signature{Label: "Bad Label", Input: in}); !errors.Is(err, httpsig.ErrMalformed) {
		t.Errorf("AddSignature with an invalid label: err = %v, want ErrMalformed", err)
	}
}

func TestVerifySignature_RefusesAlgParameterMismatch(t *testing.T) {
	keys := newTestKeys(t)
	r := newRequest(t, "GET", testURL, "")
	if err := httpsig.Sign(r, nil, esID, keys.es, signedAt, testNonce); err != nil {
		t.Fatal(err)
	}
	sigs, _ := httpsig.ParseSignatures(r.Header)
	m := httpsig.RequestMessage(r)
	if err := httpsig.VerifySignature(m, sigs[0], httpsig.AlgECDSAP256SHA256, keys.es.Public()); err != nil {
		t.Fatalf("VerifySignature: %v", err)
	}
	if err := httpsig.VerifySignature(m, sigs[0], httpsig.AlgEd25519, keys.ed.Public()); !errors.Is(err, httpsig.ErrAlgorithm) {
		t.Errorf("VerifySignature with another alg: err = %v, want ErrAlgorithm", err)
	}
	if err := httpsig.VerifyBase(httpsig.AlgEd25519, ed25519.PublicKey{1, 2, 3}, nil, nil); !errors.Is(err, httpsig.ErrAlgorithm) {
		t.Errorf("VerifyBase with a short Ed25519 key: err = %v, want ErrAlgorithm", err)
	}
}

// A signature made for another host than the profile's is refused as a bad
// signature, and, when it verifies for the request's own Host, says both
// authorities; one that verifies for neither says nothing more.
func TestProfileVerify_ExplainsAnotherAuthority(t *testing.T) {
	keys := newTestKeys(t)
	cr := newRequest(t, "GET", "https://localhost:8443/v1/challenges", "")
	if err := httpsig.Sign(cr, nil, esID, keys.es, signedAt, testNonce); err != nil {
		t.Fatal(err)
	}
	r, body := onWire(t, cr)
	_, err := testProfile.Verify(context.Background(), r, body, signedAt, keys.keyFunc())
	ae, ok := errors.AsType[*httpsig.AuthorityError](err)
	if !ok || !errors.Is(err, httpsig.ErrBadSignature) || ae.Expected != "api.example.com" || ae.Received != "localhost:8443" {
		t.Fatalf("Verify = %v; want an AuthorityError api.example.com vs localhost:8443 that is ErrBadSignature", err)
	}

	// Signed by another key: a plain bad signature.
	other := newTestKeys(t)
	cr = newRequest(t, "GET", "https://localhost:8443/v1/challenges", "")
	if err := httpsig.Sign(cr, nil, esID, other.es, signedAt, testNonce); err != nil {
		t.Fatal(err)
	}
	r, body = onWire(t, cr)
	_, err = testProfile.Verify(context.Background(), r, body, signedAt, keys.keyFunc())
	if _, ok := errors.AsType[*httpsig.AuthorityError](err); ok || !errors.Is(err, httpsig.ErrBadSignature) {
		t.Fatalf("Verify of another key's signature = %v; want ErrBadSignature without an AuthorityError", err)
	}
}

// TestProfileVerify_AuthorityKeepsANonDefaultPortOfItsScheme: the server
// normalises its own authority by its scheme, as Sign does the client's, so
// an http URL on port 443 (or https on 80) keeps the port on both sides.
func TestProfileVerify_AuthorityKeepsANonDefaultPortOfItsScheme(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Unix(1767225600, 0)
	key := func(context.Context, string) (string, crypto.PublicKey, error) { return "ed25519", priv.Public(), nil }
	for _, tc := range []struct {
		url, authority, scheme string
		ok                     bool
	}{
		{"http://app.example.com:443/x", "app.example.com:443", "http", true},
		{"https://app.example.com:80/x", "app.example.com:80", "https", true},
		{"https://app.example.com:443/x", "app.example.com:443", "https", true},
		{"https://app.example.com/x", "app.example.com:443", "", true},
		{"http://app.example.com:80/x", "app.example.com:80", "http", true},
		{"http://app.example.com:443/x", "app.example.com", "http", false},
	} {
		r, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		if err := httpsig.Sign(r, nil, "cr_key", priv, now, ""); err != nil {
			t.Fatal(err)
		}
		r.RequestURI = r.URL.RequestURI()
		_, err := httpsig.Profile{Authority: tc.authority, Scheme: tc.scheme}.Verify(t.Context(), r, nil, now, key)
		if (err == nil) != tc.ok {
			t.Errorf("%s against %s://%s: err %v, want ok=%v", tc.url, tc.scheme, tc.authority, err, tc.ok)
		}
	}
}
