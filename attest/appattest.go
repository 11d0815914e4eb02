package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// AppAttestConfig is the operator's Apple App Attest policy, fixed at start-up.
type AppAttestConfig struct {
	// AppIDs are the accepted apps, each "TEAMID.bundleID" (e.g. "6MURL8TA57.com.example.bank").
	// At least one is required.
	AppIDs []string
	// Development accepts only attestations from the development environment (aaguid
	// "appattestdevelop", apps built with the development entitlement); false accepts only
	// production ("appattest" followed by seven zero bytes). Run one verifier per environment.
	Development bool
}

// AppAttestation is what an App Attest attestation established about the App Attest key. The
// caller stores it with the credential; PublicKey and Counter are what VerifyAssertion needs.
type AppAttestation struct {
	KeyID       []byte `json:"keyId"`       // SHA-256 of PublicKey; the app's keyId
	PublicKey   []byte `json:"publicKey"`   // the App Attest key, uncompressed P-256 point
	AppID       string `json:"appId"`       // the matching "TEAMID.bundleID"
	Environment string `json:"environment"` // "development" or "production"
	Counter     uint32 `json:"counter"`     // 0 after attestation
	// Receipt is Apple's fraud-metric receipt (PKCS#7), kept for an operator who later asks
	// Apple for a risk metric; this package does not validate it.
	Receipt []byte `json:"receipt,omitempty"`
}

// OIDAppAttestNonce is the X.509 extension of the App Attest leaf that holds the nonce.
var OIDAppAttestNonce = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 8, 2}

var (
	aaguidDevelopment = []byte("appattestdevelop")
	aaguidProduction  = append([]byte("appattest"), make([]byte, 7)...)
)

// Byte layout of authenticator data (WebAuthn §6.1).
const (
	rpIDHashLen        = 32
	flagsOffset        = 32
	counterOffset      = 33
	authDataMinLen     = 37
	aaguidLen          = 16
	flagAttestedCredID = 0x40
	maxObjectLen       = 64 << 10 // real attestation objects are about 5.5 KB
)

// cborDec decodes untrusted CBOR with small limits and no duplicate map keys.
var cborDec = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey: cbor.DupMapKeyEnforcedAPF, MaxNestedLevels: 8,
		MaxArrayElements: 16, MaxMapPairs: 16, IndefLength: cbor.IndefLengthForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

type appAttestObject struct {
	Fmt     string `cbor:"fmt"`
	AttStmt struct {
		X5C     [][]byte `cbor:"x5c"`
		Receipt []byte   `cbor:"receipt"`
	} `cbor:"attStmt"`
	AuthData []byte `cbor:"authData"`
}

type coseEC2Key struct {
	Kty int    `cbor:"1,keyasint"`
	Alg int    `cbor:"3,keyasint"`
	Crv int    `cbor:"-1,keyasint"`
	X   []byte `cbor:"-2,keyasint"`
	Y   []byte `cbor:"-3,keyasint"`
}

// authData is parsed authenticator data.
type authData struct {
	rpIDHash []byte
	flags    byte
	counter  uint32
	aaguid   []byte
	credID   []byte
	coseKey  []byte
}

// VerifyAppAttest verifies an App Attest attestation object (the CBOR bytes
// DCAppAttestService.attestKey returns) at the instant at:
//
//   - fmt is "apple-appattest" and the object decodes (ErrMalformed);
//   - the x5c chain ends at the pinned Apple App Attestation root and every certificate is
//     valid at at (ErrSignature, ErrUntrustedRoot, ErrValidity);
//   - the leaf's nonce extension equals SHA-256(authData ‖ clientDataHash) (ErrChallenge);
//   - SHA-256 of the leaf's public key point equals the credential ID in authData, the COSE
//     key in authData is the leaf's key, and keyID (when not nil) equals it (ErrKeyMismatch);
//   - rpIdHash is SHA-256 of one of cfg.AppIDs (ErrApp);
//   - the counter is 0 (ErrCounter) and the aaguid is cfg's environment (ErrEnvironment).
//
// clientDataHash is the 32 bytes the app passed to attestKey: the registration binding.
func VerifyAppAttest(object, keyID, clientDataHash []byte, cfg AppAttestConfig, at time.Time) (Result, error) {
	obj, err := parseAppAttestObject(object)
	if err != nil {
		return Result{}, err
	}
	certs, err := parseChain(obj.AttStmt.X5C)
	if err != nil {
		return Result{}, err
	}
	if err := verifyChain(certs, chainPolicy{roots: appleRoots}, at); err != nil {
		return Result{}, err
	}
	if err := verifyAppleX509(certs, at); err != nil {
		return Result{}, err
	}
	ad, err := parseAuthData(obj.AuthData)
	if err != nil {
		return Result{}, err
	}
	if err := checkNonce(certs[0], obj.AuthData, clientDataHash); err != nil {
		return Result{}, err
	}
	pub, err := appAttestKey(certs[0], ad, keyID)
	if err != nil {
		return Result{}, err
	}
	appID, env, err := checkAttestedApp(ad, cfg)
	if err != nil {
		return Result{}, err
	}
	att := &AppAttestation{KeyID: ad.credID, PublicKey: pub, AppID: appID, Environment: env, Receipt: obj.AttStmt.Receipt}
	return Result{
		Kind: KindAppleAppAttest, SecurityLevel: SecuritySecureEnclave, HardwareBacked: true,
		UserAuth: UserAuthUnknown, AppIDs: []string{appID}, VerifiedBoot: BootUnknown, Apple: att,
	}, nil
}

// parseAppAttestObject decodes the CBOR attestation object.
func parseAppAttestObject(b []byte) (*appAttestObject, error) {
	if len(b) > maxObjectLen {
		return nil, fmt.Errorf("%w: attestation object of %d bytes", ErrMalformed, len(b))
	}
	var obj appAttestObject
	if err := cborDec.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("%w: attestation object: %v", ErrMalformed, err)
	}
	if obj.Fmt != "apple-appattest" {
		return nil, fmt.Errorf("%w: attestation format %q, want apple-appattest", ErrMalformed, obj.Fmt)
	}
	return &obj, nil
}

// verifyAppleX509 adds crypto/x509's path checks (CA bit, names, key usage) to the link walk:
// Apple's chains are well-formed, so anything x509 refuses is refused.
func verifyAppleX509(certs []*x509.Certificate, at time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(appleRoot)
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUntrustedRoot, err)
	}
	return nil
}

// parseAuthData splits the authenticator data of an attestation, which must carry attested
// credential data.
func parseAuthData(b []byte) (authData, error) {
	if len(b) < authDataMinLen {
		return authData{}, fmt.Errorf("%w: authenticator data of %d bytes", ErrMalformed, len(b))
	}
	ad := authData{rpIDHash: b[:rpIDHashLen], flags: b[flagsOffset], counter: binary.BigEndian.Uint32(b[counterOffset:authDataMinLen])}
	rest := b[authDataMinLen:]
	if ad.flags&flagAttestedCredID == 0 || len(rest) < aaguidLen+2 {
		return authData{}, fmt.Errorf("%w: no attested credential data", ErrMalformed)
	}
	ad.aaguid = rest[:aaguidLen]
	n := int(binary.BigEndian.Uint16(rest[aaguidLen:]))
	rest = rest[aaguidLen+2:]
	if len(rest) < n {
		return authData{}, fmt.Errorf("%w: credential ID truncated", ErrMalformed)
	}
	ad.credID, ad.coseKey = rest[:n], rest[n:]
	return ad, nil
}

// checkNonce compares the leaf's nonce extension with SHA-256(authData ‖ clientDataHash).
func checkNonce(leaf *x509.Certificate, rawAuthData, clientDataHash []byte) error {
	if len(clientDataHash) != sha256.Size {
		return fmt.Errorf("%w: clientDataHash must be 32 bytes, got %d", ErrChallenge, len(clientDataHash))
	}
	var ext []byte
	for _, e := range leaf.Extensions {
		if e.Id.Equal(OIDAppAttestNonce) {
			ext = e.Value
		}
	}
	var v struct {
		Nonce []byte `asn1:"explicit,tag:1"`
	}
	if ext == nil || unmarshalAll(ext, &v, "") != nil {
		return fmt.Errorf("%w: the leaf has no well-formed nonce extension (%s)", ErrMalformed, OIDAppAttestNonce)
	}
	h := sha256.New()
	h.Write(rawAuthData)
	h.Write(clientDataHash)
	if subtle.ConstantTimeCompare(v.Nonce, h.Sum(nil)) != 1 {
		return fmt.Errorf("%w: nonce is not SHA-256(authData ‖ clientDataHash)", ErrChallenge)
	}
	return nil
}

// appAttestKey checks the key identity claims and returns the leaf's point.
func appAttestKey(leaf *x509.Certificate, ad authData, keyID []byte) ([]byte, error) {
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: the leaf key is %T, not P-256", ErrMalformed, leaf.PublicKey)
	}
	point, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: leaf key: %v", ErrMalformed, err)
	}
	id := sha256.Sum256(point)
	if !bytes.Equal(ad.credID, id[:]) {
		return nil, fmt.Errorf("%w: credential ID is not SHA-256 of the leaf key", ErrKeyMismatch)
	}
	if keyID != nil && !bytes.Equal(keyID, id[:]) {
		return nil, fmt.Errorf("%w: keyId is not SHA-256 of the leaf key", ErrKeyMismatch)
	}
	var k coseEC2Key
	if rest, err := cborDec.UnmarshalFirst(ad.coseKey, &k); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: credential public key: not one COSE key (%v)", ErrMalformed, err)
	}
	if k.Kty != 2 || k.Crv != 1 || !bytes.Equal(append(append([]byte{4}, k.X...), k.Y...), point) {
		return nil, fmt.Errorf("%w: the COSE key in authData is not the leaf key", ErrKeyMismatch)
	}
	return point, nil
}

// checkAttestedApp checks rpIdHash, counter and aaguid of an attestation's authData and
// returns the app ID and environment.
func checkAttestedApp(ad authData, cfg AppAttestConfig) (appID, env string, err error) {
	if appID, err = matchAppID(ad.rpIDHash, cfg.AppIDs); err != nil {
		return "", "", err
	}
	if ad.counter != 0 {
		return "", "", fmt.Errorf("%w: attestation counter is %d, not 0", ErrCounter, ad.counter)
	}
	if env, err = checkEnvironment(ad.aaguid, cfg.Development); err != nil {
		return "", "", err
	}
	return appID, env, nil
}

// matchAppID returns the configured app ID whose SHA-256 is rpIDHash.
func matchAppID(rpIDHash []byte, appIDs []string) (string, error) {
	if len(appIDs) == 0 {
		return "", fmt.Errorf("%w: no App Attest app IDs configured", ErrApp)
	}
	for _, id := range appIDs {
		h := sha256.Sum256([]byte(id))
		if bytes.Equal(rpIDHash, h[:]) {
			return id, nil
		}
	}
	return "", fmt.Errorf("%w: rpIdHash matches none of %d configured app IDs", ErrApp, len(appIDs))
}

func checkEnvironment(aaguid []byte, development bool) (string, error) {
	want, env := aaguidProduction, "production"
	if development {
		want, env = aaguidDevelopment, "development"
	}
	if !bytes.Equal(aaguid, want) {
		return "", fmt.Errorf("%w: aaguid %q, want %s", ErrEnvironment, aaguid, env)
	}
	return env, nil
}

type assertionObject struct {
	Signature         []byte `cbor:"signature"`
	AuthenticatorData []byte `cbor:"authenticatorData"`
}

// VerifyAssertion verifies an App Attest assertion (the CBOR bytes
// DCAppAttestService.generateAssertion returns) made with the key of att, a stored
// AppAttestation: the ECDSA signature over SHA-256(authenticatorData ‖ clientDataHash)
// (ErrSignature), rpIdHash = SHA-256(att.AppID) (ErrApp), and a counter strictly above
// att.Counter (ErrCounter). It returns the new counter, which the caller must store with a
// compare-and-set on the old one so that a replayed assertion cannot pass twice.
func VerifyAssertion(assertion, clientDataHash []byte, att AppAttestation) (uint32, error) {
	if len(assertion) > maxObjectLen {
		return 0, fmt.Errorf("%w: assertion of %d bytes", ErrMalformed, len(assertion))
	}
	var a assertionObject
	if err := cborDec.Unmarshal(assertion, &a); err != nil {
		return 0, fmt.Errorf("%w: assertion: %v", ErrMalformed, err)
	}
	// An assertion's authenticator data is rpIdHash, flags and counter only (Apple sets the
	// attested-data flag but sends no such data).
	if len(a.AuthenticatorData) != authDataMinLen {
		return 0, fmt.Errorf("%w: assertion authenticator data of %d bytes, want %d", ErrMalformed, len(a.AuthenticatorData), authDataMinLen)
	}
	rpIDHash, counter := a.AuthenticatorData[:rpIDHashLen], binary.BigEndian.Uint32(a.AuthenticatorData[counterOffset:])
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), att.PublicKey)
	if err != nil {
		return 0, fmt.Errorf("%w: stored App Attest key: %v", ErrKeyMismatch, err)
	}
	if len(clientDataHash) != sha256.Size {
		return 0, fmt.Errorf("%w: clientDataHash must be 32 bytes, got %d", ErrChallenge, len(clientDataHash))
	}
	h := sha256.New()
	h.Write(a.AuthenticatorData)
	h.Write(clientDataHash)
	digest := sha256.Sum256(h.Sum(nil))
	if !ecdsa.VerifyASN1(pub, digest[:], a.Signature) {
		return 0, fmt.Errorf("%w: assertion signature", ErrSignature)
	}
	if _, err := matchAppID(rpIDHash, []string{att.AppID}); err != nil {
		return 0, err
	}
	if counter <= att.Counter {
		return 0, fmt.Errorf("%w: assertion counter %d is not above the stored %d", ErrCounter, counter, att.Counter)
	}
	return counter, nil
}
