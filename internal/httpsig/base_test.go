package httpsig_test

import (
	"bufio"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth/internal/httpsig"
)

func readRequest(t *testing.T, raw string) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("parsing request %q: %v", raw, err)
	}
	return r
}

// baseLine returns the one component line of the base of m covering id.
func baseLine(m httpsig.Message, id string) (string, error) {
	c, err := httpsig.ParseComponent(id)
	if err != nil {
		return "", err
	}
	base, err := httpsig.Base(m, httpsig.SignatureInput{Components: []httpsig.Component{c}})
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(base), "\n")
	return line, nil
}

// TestBase_ComponentValues checks component lines against the examples of
// RFC 9421 §2.1 and §2.2.
func TestBase_ComponentValues(t *testing.T) {
	post := readRequest(t, "POST /path?param=value HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
	postMsg := httpsig.RequestMessage(post)
	postMsg.Scheme = "https"

	noQuery := httpsig.RequestMessage(readRequest(t, "GET /path HTTP/1.1\r\nHost: www.example.com\r\n\r\n"))
	params := httpsig.RequestMessage(readRequest(t, "GET /path?param=value&foo=bar&baz=batman&qux= HTTP/1.1\r\nHost: www.example.com\r\n\r\n"))
	encoded := httpsig.RequestMessage(readRequest(t, "GET /path?var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something HTTP/1.1\r\nHost: www.example.com\r\n\r\n"))

	fields := httpsig.RequestMessage(readRequest(t, "GET /foo HTTP/1.1\r\n"+
		"Host: www.example.com\r\n"+
		"Date: Tue, 20 Apr 2021 02:07:56 GMT\r\n"+
		"X-OWS-Header:   Leading and trailing whitespace.   \r\n"+
		"X-Obs-Fold-Header: Obsolete\r\n    line folding.\r\n"+
		"Cache-Control: max-age=60\r\n"+
		"Cache-Control:    must-revalidate\r\n"+
		"Example-Dict:  a=1,    b=2;x=1;y=2,   c=(a   b   c)\r\n"+
		"X-Empty-Header: \r\n\r\n"))
	fields.FieldTypes = map[string]httpsig.FieldType{"example-dict": httpsig.FieldDictionary}

	dict := httpsig.RequestMessage(readRequest(t, "GET / HTTP/1.1\r\nHost: a\r\nExample-Dict: a=1, b=2;x=1;y=2, c=(a b c), d\r\n"+
		"Example-Header: value, with, lots\r\nExample-Header: of, commas\r\n\r\n"))

	resp := httpsig.ResponseMessage(200, http.Header{"Content-Digest": {"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:,  sha-512=:AA==:"}})

	tests := []struct {
		name string
		m    httpsig.Message
		id   string
		want string
	}{
		{"method", postMsg, `"@method"`, `"@method": POST`},
		{"target-uri", postMsg, `"@target-uri"`, `"@target-uri": https://www.example.com/path?param=value`},
		{"authority", postMsg, `"@authority"`, `"@authority": www.example.com`},
		{"scheme", postMsg, `"@scheme"`, `"@scheme": https`},
		{"request-target", postMsg, `"@request-target"`, `"@request-target": /path?param=value`},
		{"path", postMsg, `"@path"`, `"@path": /path`},
		{"query", postMsg, `"@query"`, `"@query": ?param=value`},
		{"query absent", noQuery, `"@query"`, `"@query": ?`},
		{"request-target without query", noQuery, `"@request-target"`, `"@request-target": /path`},
		{"query-param", params, `"@query-param";name="baz"`, `"@query-param";name="baz": batman`},
		{"query-param empty", params, `"@query-param";name="qux"`, `"@query-param";name="qux": `},
		{"query-param first", params, `"@query-param";name="param"`, `"@query-param";name="param": value`},
		{"query-param re-encoded", encoded, `"@query-param";name="var"`, `"@query-param";name="var": this%20is%20a%20big%0Avalue`},
		{"query-param plus", encoded, `"@query-param";name="bar"`, `"@query-param";name="bar": with%20plus%20whitespace`},
		{"query-param encoded name", encoded, `"@query-param";name="fa%C3%A7ade%22%3A%20"`, `"@query-param";name="fa%C3%A7ade%22%3A%20": something`},
		{"field", fields, `"date"`, `"date": Tue, 20 Apr 2021 02:07:56 GMT`},
		{"field whitespace", fields, `"x-ows-header"`, `"x-ows-header": Leading and trailing whitespace.`},
		{"field obs-fold", fields, `"x-obs-fold-header"`, `"x-obs-fold-header": Obsolete line folding.`},
		{"field lines joined", fields, `"cache-control"`, `"cache-control": max-age=60, must-revalidate`},
		{"field raw", fields, `"example-dict"`, `"example-dict": a=1,    b=2;x=1;y=2,   c=(a   b   c)`},
		{"field empty", fields, `"x-empty-header"`, `"x-empty-header": `},
		{"field sf", fields, `"example-dict";sf`, `"example-dict";sf: a=1, b=2;x=1;y=2, c=(a b c)`},
		{"key item", dict, `"example-dict";key="a"`, `"example-dict";key="a": 1`},
		{"key boolean", dict, `"example-dict";key="d"`, `"example-dict";key="d": ?1`},
		{"key params", dict, `"example-dict";key="b"`, `"example-dict";key="b": 2;x=1;y=2`},
		{"key inner list", dict, `"example-dict";key="c"`, `"example-dict";key="c": (a b c)`},
		{"bs", dict, `"example-header";bs`, `"example-header";bs: :dmFsdWUsIHdpdGgsIGxvdHM=:, :b2YsIGNvbW1hcw==:`},
		{"status", resp, `"@status"`, `"@status": 200`},
		{"sf known type", resp, `"content-digest";sf`, `"content-digest";sf: sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:AA==:`},
		{"key known dictionary", resp, `"content-digest";key="sha-512"`, `"content-digest";key="sha-512": :AA==:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := baseLine(tt.m, tt.id)
			if err != nil {
				t.Fatalf("component %s: %v", tt.id, err)
			}
			if got != tt.want {
				t.Errorf("component %s\n got: %q\nwant: %q", tt.id, got, tt.want)
			}
		})
	}
}

func TestBase_RefusesUnavailableComponents(t *testing.T) {
	req := httpsig.RequestMessage(readRequest(t, "GET /p?a=1&a=2&b=3 HTTP/1.1\r\nHost: h\r\nX-Dict: a=1\r\nX-List: (\r\n\r\n"))
	req.Header["X-Newline"] = []string{"one\ntwo"}
	resp := httpsig.ResponseMessage(200, http.Header{})

	tests := []struct {
		name string
		m    httpsig.Message
		ids  []string
	}{
		{"absent field", req, []string{`"x-missing"`}},
		{"@status on a request", req, []string{`"@status"`}},
		{"@method on a response", resp, []string{`"@method"`}},
		{"@path on a response", resp, []string{`"@path"`}},
		{"@query-param without name", req, []string{`"@query-param"`}},
		{"@query-param absent", req, []string{`"@query-param";name="z"`}},
		{"@query-param repeated", req, []string{`"@query-param";name="a"`}},
		{"unknown derived", req, []string{`"@foo"`}},
		{"unknown parameter", req, []string{`"x-dict";foo`}},
		{"req parameter", req, []string{`"@method";req`}},
		{"tr parameter", req, []string{`"x-dict";tr`}},
		{"bs with sf", req, []string{`"x-dict";bs;sf`}},
		{"sf of unknown type", req, []string{`"x-dict";sf`}},
		{"key absent", req, []string{`"x-dict";key="zz"`}},
		{"key on a non-dictionary", req, []string{`"x-list";key="a"`}},
		{"key not a string", req, []string{`"x-dict";key=1`}},
		{"name on a field", req, []string{`"x-dict";name="a"`}},
		{"sf on a derived component", req, []string{`"@path";sf`}},
		{"line break in value", req, []string{`"x-newline"`}},
		{"duplicate component", req, []string{`"@path"`, `"@method"`, `"@path"`}},
		{"@signature-params covered", req, []string{`"@signature-params"`}},
		{"@scheme without scheme", httpsig.Message{Method: "GET"}, []string{`"@scheme"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in httpsig.SignatureInput
			for _, id := range tt.ids {
				c, err := httpsig.ParseComponent(id)
				if err != nil {
					t.Fatalf("ParseComponent(%s): %v", id, err)
				}
				in.Components = append(in.Components, c)
			}
			if _, err := httpsig.Base(tt.m, in); !errors.Is(err, httpsig.ErrComponent) {
				t.Errorf("Base(%v) err = %v, want ErrComponent", tt.ids, err)
			}
		})
	}
}

func TestParseComponent_RefusesBadIdentifiers(t *testing.T) {
	for _, s := range []string{`"Date"`, `1`, `""`, `date`, `"date";`, `"a" "b"`, `?1`} {
		if _, err := httpsig.ParseComponent(s); !errors.Is(err, httpsig.ErrMalformed) {
			t.Errorf("ParseComponent(%s) err = %v, want ErrMalformed", s, err)
		}
	}
}

func TestRequestMessage_TakesTargetFromRequestURI(t *testing.T) {
	tests := []struct {
		name, raw, path, query, authority string
	}{
		{"origin form", "GET /a%2Fb/c?x=1&y HTTP/1.1\r\nHost: Example.COM:443\r\n\r\n", "/a%2Fb/c", "x=1&y", "example.com:443"},
		{"absolute form", "GET https://example.com/p?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", "/p", "q=1", "example.com"},
		{"absolute form without path", "GET https://example.com?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", "", "q=1", "example.com"},
		{"http default port dropped", "GET / HTTP/1.1\r\nHost: example.com:80\r\n\r\n", "/", "", "example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := httpsig.RequestMessage(readRequest(t, tt.raw))
			if m.Path != tt.path || m.Query != tt.query || m.Authority != tt.authority {
				t.Errorf("path, query, authority = %q, %q, %q; want %q, %q, %q", m.Path, m.Query, m.Authority, tt.path, tt.query, tt.authority)
			}
		})
	}
}

func TestSignatureInput_SerializesInOrder(t *testing.T) {
	h := http.Header{}
	h.Set("Signature-Input", `sig1=("@method" "example-dict";key="a";sf "@query-param";name="q");keyid="k";created=1;nonce="n";x=?0`)
	sigs, err := httpsig.ParseSignatures(h)
	if err != nil {
		t.Fatalf("ParseSignatures: %v", err)
	}
	got, err := sigs[0].Input.Serialize()
	want := `("@method" "example-dict";key="a";sf "@query-param";name="q");keyid="k";created=1;nonce="n";x=?0`
	if err != nil || got != want {
		t.Errorf("Serialize = %q, %v; want %q", got, err, want)
	}
	if sigs[0].Value != nil {
		t.Errorf("Value = %v, want nil without a Signature field", sigs[0].Value)
	}
}
