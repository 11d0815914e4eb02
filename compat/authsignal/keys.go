package authsignal

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/deviceauth/deviceauth/internal/seam"
)

// Public keys and signatures as the mobile SDKs send them: the key is the
// standard base64 (padded) of its SPKI DER in bodies; in the publicKey
// query it is that text encoded once more — by iOS as unpadded base64url,
// by Android as padded standard base64 put in the URL unescaped, with its
// raw "+" (which url.Query would read as a space). Signatures are ASN.1
// DER, standard base64.

// decodeKey decodes a key sent in a body (base64 of its SPKI DER).
func decodeKey(publicKey string) ([]byte, bool) {
	spki, err := base64.StdEncoding.DecodeString(publicKey)
	return spki, err == nil && len(spki) > 0 && len(spki) <= 512
}

// credentialIDOf returns the ID of the compat credential of a key sent in
// a body.
func credentialIDOf(publicKey string) (string, bool) {
	spki, ok := decodeKey(publicKey)
	if !ok {
		return "", false
	}
	return seam.CompatCredentialID(spki), true
}

// queryPublicKey returns the body form of the key in r's publicKey query
// (see above), read from the raw query.
func queryPublicKey(r *http.Request) (string, bool) {
	var raw string
	found := 0
	for part := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if v, ok := strings.CutPrefix(part, "publicKey="); ok {
			raw, found = v, found+1
		}
	}
	if found != 1 || len(raw) > 1024 {
		return "", false
	}
	// PathUnescape, unlike QueryUnescape, leaves "+" as it is.
	v, err := url.PathUnescape(raw)
	if err != nil {
		return "", false
	}
	text, err := decodeBase64Any(v)
	if err != nil {
		return "", false
	}
	return string(text), true
}

// decodeSignature decodes a signature as the SDKs send it.
func decodeSignature(s string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	return b, err == nil && len(b) > 0 && len(b) <= 256
}
