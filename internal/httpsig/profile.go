package httpsig

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
)

// The deviceauth profile's fixed values.
const (
	// ProfileTag is the tag parameter value that marks the deviceauth
	// signature among any others on a request.
	ProfileTag = "deviceauth"
	// ProfileLabel is the label [Sign] gives the deviceauth signature.
	// Verification selects by tag, never by label.
	ProfileLabel = "deviceauth"
	// DefaultSkew is the allowed |now - created| when Profile.Skew is 0.
	DefaultSkew = 120 * time.Second
)

// Profile is the deviceauth policy over RFC 9421 for device-signed requests.
type Profile struct {
	// Authority is host[:port] of Config.PublicURL; @authority is checked
	// against it, never against the Host header. It is lowercased and the
	// scheme's default port is dropped, as [Sign] does: ":443" for https,
	// ":80" for http (Scheme).
	Authority string
	// Scheme is Config.PublicURL's scheme, "https" when empty. It decides
	// which port is the default one in Authority.
	Scheme string
	// Skew is the allowed |now - created|; 0 (or less) means [DefaultSkew].
	Skew time.Duration
}

// KeyFunc returns the key for keyID (the credential ID): alg is
// "ecdsa-p256-sha256" or "ed25519", pub is *ecdsa.PublicKey or
// ed25519.PublicKey. An error from it is returned by [Profile.Verify] wrapped
// with %w, so callers can tell store failures (503) from unknown keys (401)
// with errors.Is / errors.As.
type KeyFunc func(ctx context.Context, keyID string) (alg string, pub crypto.PublicKey, err error)

// Verified is what a verified request proved.
type Verified struct {
	// KeyID is the keyid parameter: the credential ID that signed.
	KeyID string
	// Nonce is the nonce parameter, for the caller's replay cache.
	Nonce string
	// Created is the created parameter.
	Created time.Time
}

// Verify checks the deviceauth signature of r, whose body has already been
// read into body (nil or empty when none), at time now.
//
// Rules, checked in this order so that unsigned garbage never reaches key:
//   - exactly one Signature-Input member with tag="deviceauth" (others are
//     ignored, but both fields must parse), with a Signature member;
//   - parameters created, keyid, nonce and tag present; keyid 1..64 and
//     nonce 16..128 characters of [A-Za-z0-9_-]; expires, if present, after
//     now; |now - created| ≤ Skew;
//   - covered components include "@method", "@authority", "@path", "@query"
//     and, when body is non-empty, "content-digest" (each without parameters);
//   - Content-Digest, when body is non-empty or the field is present, has a
//     sha-256 or sha-512 member and every such member matches body;
//   - key(ctx, keyid) resolves the key; an alg parameter, if present, equals
//     the key's algorithm;
//   - the signature verifies over the base built with @authority =
//     p.Authority and @path/@query from r.RequestURI (r.URL when RequestURI is
//     empty, as for requests built in-process).
//
// Failures wrap [ErrMissingSignature], [ErrMalformed], [ErrPolicy],
// [ErrDigest], [ErrComponent], [ErrAlgorithm] or [ErrBadSignature], or the
// error from key. A request signed for another authority, path, query or
// method fails as [ErrBadSignature]: those values are never taken from the
// request's own claims, so a mismatch shows only in the signature.
//
// Verify does not touch any replay cache: the caller records Verified.Nonce
// (set-if-absent, kept ≥ 2 × Skew) only after Verify succeeded, so an
// unsigned flood cannot fill the cache.
func (p Profile) Verify(ctx context.Context, r *http.Request, body []byte, now time.Time, key KeyFunc) (Verified, error) {
	if p.Authority == "" || key == nil {
		return Verified{}, fmt.Errorf("httpsig: Profile.Authority is empty or KeyFunc is nil")
	}
	if cs, ok := parseCanonical(r.Header); ok {
		return p.verifyCanonical(ctx, r, body, now, key, &cs)
	}
	sig, err := selectProfileSignature(r.Header)
	if err != nil {
		return Verified{}, err
	}
	v, err := p.checkParams(sig.Input, now)
	if err != nil {
		return Verified{}, err
	}
	alg, pub, m, err := p.admit(ctx, r, body, key, v.KeyID, sig.Input.Covers, sig.Input.Alg)
	if err != nil {
		return Verified{}, err
	}
	if err := VerifySignature(m, sig, alg, pub); err != nil {
		return Verified{}, explainAuthority(m, r, sig, alg, pub, err)
	}
	return v, nil
}

// admit applies Verify's rules between the parameters and the signature:
// the components that must be covered (covers), the Content-Digest, the
// key of keyID from key and the alg parameter (algParam). It returns the key and
// the Message whose base the signature must verify over.
func (p Profile) admit(ctx context.Context, r *http.Request, body []byte, key KeyFunc, keyID string, covers func(string) bool, algParam func() (string, bool)) (string, crypto.PublicKey, Message, error) {
	for _, name := range [...]string{"@method", "@authority", "@path", "@query", "content-digest"} {
		if name == "content-digest" && len(body) == 0 {
			break
		}
		if !covers(name) {
			return "", nil, Message{}, fmt.Errorf("%w: %q is not covered", ErrPolicy, name)
		}
	}
	if lines := r.Header.Values("Content-Digest"); len(body) > 0 || len(lines) > 0 {
		if err := VerifyContentDigest(lines, body); err != nil {
			return "", nil, Message{}, err
		}
	}
	alg, pub, err := key(ctx, keyID)
	if err != nil {
		return "", nil, Message{}, fmt.Errorf("httpsig: key for keyid %q: %w", keyID, err)
	}
	if a, ok := algParam(); ok && a != alg {
		return "", nil, Message{}, fmt.Errorf("%w: alg %q is not the key's %q", ErrPolicy, a, alg)
	}
	// No scheme: the profile does not know it, so a signature that also
	// covers @scheme or @target-uri fails with ErrComponent.
	m := Message{Method: r.Method, Authority: p.authority(), Header: r.Header}
	m.Path, m.Query = requestTarget(r)
	return alg, pub, m, nil
}

// verifyCanonical is Verify of a request whose signature fields are in
// canonical form (parseCanonical): the same rules in the same order, read
// from cs, with the base built in one buffer.
func (p Profile) verifyCanonical(ctx context.Context, r *http.Request, body []byte, now time.Time, key KeyFunc, cs *canonicalSignature) (Verified, error) {
	v, err := p.checkParamValues(cs.paramValues, now)
	if err != nil {
		return Verified{}, err
	}
	alg, pub, m, err := p.admit(ctx, r, body, key, v.KeyID, cs.covers, func() (string, bool) { return cs.alg, cs.hasAlg })
	if err != nil {
		return Verified{}, err
	}
	base, err := appendBase(make([]byte, 0, 256), m, cs.components[:cs.n], cs.params)
	if err != nil {
		return Verified{}, err
	}
	if err := VerifyBase(alg, pub, base, cs.value); err != nil {
		sig, gerr := cs.general(r.Header)
		if gerr != nil {
			return Verified{}, err
		}
		return Verified{}, explainAuthority(m, r, sig, alg, pub, err)
	}
	return v, nil
}

// AuthorityError is the error of a signature that does not verify for the
// configured authority but does for the one the request was sent to (its
// Host): the device signs for another URL than Config.PublicURL — a proxy,
// a port, localhost against 127.0.0.1. It wraps ErrBadSignature. Neither
// value is secret.
type AuthorityError struct {
	Expected string // the profile's @authority (Config.PublicURL's host[:port])
	Received string // the request's Host, as the device signed it
}

// Error implements error: which authority was expected and which received.
func (e *AuthorityError) Error() string {
	return fmt.Sprintf("%v: signed for @authority %q, not %q", ErrBadSignature, e.Received, e.Expected)
}

// Unwrap makes errors.Is(err, ErrBadSignature) hold.
func (e *AuthorityError) Unwrap() error { return ErrBadSignature }

// explainAuthority returns err, or an *AuthorityError when the signature
// that failed over m does verify with the request's own authority. Only a
// signature that failed pays for the second check.
func explainAuthority(m Message, r *http.Request, sig Signature, alg string, pub crypto.PublicKey, err error) error {
	if !errors.Is(err, ErrBadSignature) {
		return err
	}
	received := profileAuthority(r.Host)
	if received == "" || received == m.Authority {
		return err
	}
	expected := m.Authority
	m.Authority = received
	if VerifySignature(m, sig, alg, pub) != nil {
		return err
	}
	return &AuthorityError{Expected: expected, Received: received}
}

// selectProfileSignature returns the one signature tagged deviceauth.
func selectProfileSignature(h http.Header) (Signature, error) {
	if len(h.Values("Signature-Input")) == 0 && len(h.Values("Signature")) == 0 {
		return Signature{}, fmt.Errorf("%w: no Signature-Input or Signature field", ErrMissingSignature)
	}
	sigs, err := ParseSignatures(h)
	if err != nil {
		return Signature{}, err
	}
	var (
		found Signature
		n     int
	)
	for _, s := range sigs {
		if tag, _ := s.Input.Tag(); tag == ProfileTag {
			found = s
			n++
		}
	}
	switch {
	case n == 0:
		return Signature{}, fmt.Errorf("%w: no signature tagged %q", ErrMissingSignature, ProfileTag)
	case n > 1:
		return Signature{}, fmt.Errorf("%w: %d signatures tagged %q", ErrPolicy, n, ProfileTag)
	case found.Value == nil:
		return Signature{}, fmt.Errorf("%w: no Signature member for label %q", ErrMissingSignature, found.Label)
	}
	return found, nil
}

// checkParams applies the profile's rules on signature parameters.
func (p Profile) checkParams(in SignatureInput, now time.Time) (Verified, error) {
	var pv paramValues
	if t, ok := in.Created(); ok {
		pv.created, pv.hasCreated = t.Unix(), true
	}
	if t, ok := in.Expires(); ok {
		pv.expires, pv.hasExpires = t.Unix(), true
	}
	pv.keyID, pv.hasKeyID = in.KeyID()
	pv.nonce, pv.hasNonce = in.Nonce()
	return p.checkParamValues(pv, now)
}

// checkParamValues applies the profile's rules on the values of the
// signature parameters.
func (p Profile) checkParamValues(pv paramValues, now time.Time) (Verified, error) {
	if !pv.hasCreated {
		return Verified{}, fmt.Errorf("%w: no created parameter", ErrPolicy)
	}
	created := time.Unix(pv.created, 0)
	keyID := pv.keyID
	if !pv.hasKeyID {
		return Verified{}, fmt.Errorf("%w: no keyid parameter", ErrPolicy)
	}
	if !validToken(keyID, 1, 64) {
		return Verified{}, fmt.Errorf("%w: keyid is not 1..64 characters of [A-Za-z0-9_-]", ErrPolicy)
	}
	nonce := pv.nonce
	if !pv.hasNonce {
		return Verified{}, fmt.Errorf("%w: no nonce parameter", ErrPolicy)
	}
	if !validToken(nonce, 16, 128) {
		return Verified{}, fmt.Errorf("%w: nonce is not 16..128 characters of [A-Za-z0-9_-]", ErrPolicy)
	}
	if expires := time.Unix(pv.expires, 0); pv.hasExpires && !now.Before(expires) {
		return Verified{}, fmt.Errorf("%w: expired at %s", ErrPolicy, expires.UTC().Format(time.RFC3339))
	}
	skew := p.Skew
	if skew <= 0 {
		skew = DefaultSkew
	}
	if d := now.Sub(created); d > skew || d < -skew {
		return Verified{}, fmt.Errorf("%w: created is %s from now, beyond the allowed %s", ErrPolicy, d.Truncate(time.Second), skew)
	}
	return Verified{KeyID: keyID, Nonce: nonce, Created: created}, nil
}

// Sign adds Content-Digest (sha-256, when body is non-empty), Signature-Input
// and Signature (label "deviceauth") to r, covering @method @authority @path
// @query and, with a body, content-digest, with the parameters created=now,
// keyid, nonce (a fresh random one when nonce is ""), alg and
// tag="deviceauth", in that order. @authority is r.Host if set, else r.URL.Host
// (lowercased, default port dropped); @path is r.URL.EscapedPath(); @query
// comes from r.URL.RawQuery. The algorithm follows signer.Public(): P-256
// ECDSA signers return ASN.1 DER, which Sign converts to r‖s; Ed25519 signers
// sign the base directly. keyID and nonce must have the formats
// [Profile.Verify] accepts ([ErrPolicy] otherwise).
func Sign(r *http.Request, body []byte, keyID string, signer crypto.Signer, now time.Time, nonce string) error {
	if !validToken(keyID, 1, 64) {
		return fmt.Errorf("%w: keyid is not 1..64 characters of [A-Za-z0-9_-]", ErrPolicy)
	}
	if nonce == "" {
		nonce = rand.Text()
	}
	if !validToken(nonce, 16, 128) {
		return fmt.Errorf("%w: nonce is not 16..128 characters of [A-Za-z0-9_-]", ErrPolicy)
	}
	alg, err := AlgorithmFor(signer.Public())
	if err != nil {
		return err
	}
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	if r.URL != nil && len(r.Header["Signature-Input"]) == 0 && len(r.Header["Signature"]) == 0 {
		return signCanonical(r, body, keyID, signer, now, nonce, alg)
	}
	return signGeneral(r, body, keyID, signer, now, nonce, alg)
}

// signGeneral is Sign through the structured-field library, adding to the
// signatures r already carries.
func signGeneral(r *http.Request, body []byte, keyID string, signer crypto.Signer, now time.Time, nonce, alg string) error {
	components := []Component{{Name: "@method"}, {Name: "@authority"}, {Name: "@path"}, {Name: "@query"}}
	if len(body) > 0 {
		r.Header.Set("Content-Digest", ContentDigest(body))
		components = append(components, Component{Name: "content-digest"})
	}
	params := httpsfv.NewParams()
	params.Add("created", now.Unix())
	params.Add("keyid", keyID)
	params.Add("nonce", nonce)
	params.Add("alg", alg)
	params.Add("tag", ProfileTag)

	if r.URL == nil {
		return fmt.Errorf("%w: request has no URL", ErrComponent)
	}
	m := RequestMessage(r)
	m.Path, m.Query = r.URL.EscapedPath(), r.URL.RawQuery

	s, err := SignMessage(m, ProfileLabel, SignatureInput{Components: components, Params: params}, alg, signer)
	if err != nil {
		return err
	}
	return AddSignature(r.Header, s)
}

// signCanonical is Sign of a request that carries no signature yet: the
// same fields, written in canonical form without the structured-field
// library (TestSign_CanonicalAsGeneral holds the two to the same bytes).
func signCanonical(r *http.Request, body []byte, keyID string, signer crypto.Signer, now time.Time, nonce, alg string) error {
	components := []string{"@method", "@authority", "@path", "@query", "content-digest"}
	if len(body) > 0 {
		r.Header.Set("Content-Digest", ContentDigest(body))
	} else {
		components = components[:4]
	}
	params := canonicalInputs(components, now.Unix(), keyID, nonce, alg)
	m := RequestMessage(r)
	m.Path, m.Query = r.URL.EscapedPath(), r.URL.RawQuery
	base, err := appendBase(make([]byte, 0, 256), m, components, params)
	if err != nil {
		return err
	}
	value, err := SignBase(alg, signer, base)
	if err != nil {
		return err
	}
	r.Header["Signature-Input"] = []string{ProfileLabel + "=" + params}
	r.Header["Signature"] = []string{ProfileLabel + "=:" + base64.StdEncoding.EncodeToString(value) + ":"}
	return nil
}

// authority is p.Authority normalised the way Sign normalises the
// client's: lowercase, without the port that is its scheme's default.
func (p Profile) authority() string {
	scheme := strings.ToLower(p.Scheme)
	if scheme == "" {
		scheme = "https"
	}
	return normalizeAuthority(scheme, p.Authority)
}

// profileAuthority normalises a request's Host, whose scheme the server
// may not know (TLS ends at a proxy): lowercase, without ":443" or ":80".
// It only explains a failed signature ([AuthorityError]), never decides one.
func profileAuthority(a string) string {
	a = strings.ToLower(a)
	for _, port := range []string{":443", ":80"} {
		a = strings.TrimSuffix(a, port)
	}
	return a
}

// validToken reports whether s is min..max characters of [A-Za-z0-9_-]: the
// alphabet of server-generated IDs and of base64url, so nonces can be random
// bytes in base64url or crypto/rand.Text output.
func validToken(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
