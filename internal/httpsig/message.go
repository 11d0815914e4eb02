package httpsig

import (
	"net/http"
	"strings"
)

// Message is the part of an HTTP request or response that covered components
// are taken from. A Message with a non-zero Status is a response; request
// derived components (@method, @path, …) are not available on it.
type Message struct {
	// Method is the request method, case preserved ("POST").
	Method string
	// Scheme is the request's URI scheme ("https").
	Scheme string
	// Authority is the target host[:port], normalized (see RequestMessage).
	Authority string
	// Path is the escaped path as sent ("/a%20b"); empty means "/".
	Path string
	// Query is the raw query without the leading "?"; empty means no query.
	Query string
	// Status is the response status code; 0 for a request.
	Status int
	// Header holds the message's fields.
	Header http.Header
	// FieldTypes gives the structured type of fields covered with ;sf,
	// keyed by lowercase field name. Names not in it fall back to the built-in
	// table (Signature, Signature-Input, Content-Digest, Repr-Digest,
	// Want-*-Digest, Accept-Signature, Priority).
	FieldTypes map[string]FieldType
}

// FieldType is the top-level RFC 8941 type of a structured field.
type FieldType int

// The RFC 8941 top-level types.
const (
	FieldItem FieldType = iota + 1
	FieldList
	FieldDictionary
)

// knownFieldTypes are the structured fields this package can re-serialize
// for ;sf without being told their type.
var knownFieldTypes = map[string]FieldType{
	"signature":           FieldDictionary,
	"signature-input":     FieldDictionary,
	"accept-signature":    FieldDictionary,
	"content-digest":      FieldDictionary,
	"repr-digest":         FieldDictionary,
	"want-content-digest": FieldDictionary,
	"want-repr-digest":    FieldDictionary,
	"priority":            FieldDictionary,
}

// RequestMessage returns the Message of r, whether a server received it or a
// client is about to send it. Path and query come from r.RequestURI when set
// (server side: the target exactly as the client sent it, untouched by
// http.StripPrefix), else from r.URL. The scheme is r.URL.Scheme, or "https"
// when r.TLS is set and "http" otherwise. The authority is r.Host, else
// r.URL.Host, lowercased and without the scheme's default port.
func RequestMessage(r *http.Request) Message {
	m := Message{Method: r.Method, Header: r.Header}
	if m.Method == "" {
		m.Method = http.MethodGet
	}
	host := r.Host
	if r.URL != nil {
		m.Scheme = strings.ToLower(r.URL.Scheme)
		if host == "" {
			host = r.URL.Host
		}
	}
	if m.Scheme == "" {
		m.Scheme = "http"
		if r.TLS != nil {
			m.Scheme = "https"
		}
	}
	m.Authority = normalizeAuthority(m.Scheme, host)
	m.Path, m.Query = requestTarget(r)
	return m
}

// ResponseMessage returns the Message of a response with status and header.
func ResponseMessage(status int, header http.Header) Message {
	return Message{Status: status, Header: header}
}

// requestTarget returns the escaped path and raw query of r as the client
// sent them when known, else as r.URL holds them.
func requestTarget(r *http.Request) (path, query string) {
	if r.RequestURI != "" {
		return splitRequestURI(r.RequestURI)
	}
	if r.URL == nil {
		return "/", ""
	}
	return r.URL.EscapedPath(), r.URL.RawQuery
}

// splitRequestURI splits an origin-form ("/p?q") or absolute-form
// ("https://h/p?q") request target into path and query, bytes unchanged.
func splitRequestURI(uri string) (path, query string) {
	if i := strings.IndexByte(uri, '#'); i >= 0 {
		uri = uri[:i]
	}
	if !strings.HasPrefix(uri, "/") {
		if i := strings.Index(uri, "://"); i >= 0 {
			rest := uri[i+3:]
			if j := strings.IndexAny(rest, "/?"); j >= 0 {
				uri = rest[j:]
			} else {
				uri = ""
			}
		}
	}
	path, query, _ = strings.Cut(uri, "?")
	return path, query
}

// normalizeAuthority lowercases host and drops the scheme's default port, as
// HTTP (RFC 9110 §4.2.3) normalizes the authority.
func normalizeAuthority(scheme, host string) string {
	host = strings.ToLower(host)
	switch scheme {
	case "https":
		host = strings.TrimSuffix(host, ":443")
	case "http":
		host = strings.TrimSuffix(host, ":80")
	}
	return host
}
