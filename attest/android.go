package attest

import (
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"
)

// AndroidConfig is the operator's Android Key Attestation policy, fixed at start-up.
type AndroidConfig struct {
	// Revoked is the operator's copy of Google's status list; nil checks nothing. The
	// verifier never fetches it.
	Revoked *RevocationList
	// Apps, when not empty, are the only apps whose keys are accepted. Leave it empty only in
	// development: without it any app on a genuine device can produce a valid attestation.
	Apps []AndroidApp
	// AcceptExpiredIntermediates accepts intermediate certificates past their NotAfter, as
	// Google's verifier does: factory-provisioned chains have intermediates that expired with
	// the 2016 root certificate on 2026-05-24 and devices still present them. The leaf must
	// still be valid, and revocation then rests on Revoked. Default false: every certificate
	// below the pinned key must be valid at the verification time.
	AcceptExpiredIntermediates bool
	// ExtraRootKeys pins further root keys (SubjectPublicKeyInfo DER) beside Google's, trusted
	// exactly like them: for tests that make their own chains, and for an operator's lab with
	// its own test devices. Never set it in production: whoever holds such a key can attest any
	// key.
	ExtraRootKeys [][]byte
}

// AndroidApp is an app allowed to register attested keys.
type AndroidApp struct {
	Package string // application ID, e.g. "com.example.bank"
	// SigningCertDigests are the SHA-256 digests of the app's signing certificates (as in
	// `apksigner verify --print-certs`). Every digest the attestation lists must be here.
	SigningCertDigests [][]byte
}

// VerifyAndroidKey verifies an Android Keystore attestation certificate chain (DER, leaf
// first, as KeyStore.getCertificateChain returns it) at the instant at:
//
//   - every certificate parses in Go's crypto/x509 (else ErrMalformed), and only the leaf
//     carries a KeyDescription;
//   - each certificate's signature verifies with the next one's key, and the chain ends at
//     Google's RSA-4096 root key or its P-384 Key Attestation CA1 key, trusted by key
//     (ErrSignature, ErrUntrustedRoot);
//   - every certificate below the root is valid at at (ErrValidity, see
//     AndroidConfig.AcceptExpiredIntermediates) and none is on cfg.Revoked (ErrRevoked);
//   - attestationChallenge equals challenge (ErrChallenge);
//   - the leaf's public key equals key, the registered key (ErrKeyMismatch);
//   - the app is one of cfg.Apps when set (ErrApp).
//
// It returns the Result with the decoded KeyDescription; security claims in it come from the
// hardware-enforced list only.
func VerifyAndroidKey(chain [][]byte, challenge []byte, key crypto.PublicKey, cfg AndroidConfig, at time.Time) (Result, error) {
	certs, err := parseChain(chain)
	if err != nil {
		return Result{}, err
	}
	ext, err := keyDescriptionExtension(certs)
	if err != nil {
		return Result{}, err
	}
	roots, err := withExtraRoots(googleRoots, cfg.ExtraRootKeys)
	if err != nil {
		return Result{}, err
	}
	if err := verifyChain(certs, chainPolicy{roots: roots, expiredIntermediatesOK: cfg.AcceptExpiredIntermediates, revoked: cfg.Revoked}, at); err != nil {
		return Result{}, err
	}
	kd, err := ParseKeyDescription(ext)
	if err != nil {
		return Result{}, err
	}
	if len(challenge) == 0 || subtle.ConstantTimeCompare(kd.AttestationChallenge, challenge) != 1 {
		return Result{}, fmt.Errorf("%w: attestationChallenge is %d bytes that differ from the %d-byte binding", ErrChallenge, len(kd.AttestationChallenge), len(challenge))
	}
	if err := sameKey(certs[0].PublicKey, key); err != nil {
		return Result{}, err
	}
	if err := checkAndroidApp(kd.SoftwareEnforced.AttestationApplicationID, cfg.Apps); err != nil {
		return Result{}, err
	}
	return androidResult(kd), nil
}

// keyDescriptionExtension returns the leaf's KeyDescription. A KeyDescription on any other
// certificate is refused: a holder of a genuinely attested key could otherwise sign a new
// leaf with a KeyDescription of its choosing below the genuine one.
func keyDescriptionExtension(certs []*x509.Certificate) ([]byte, error) {
	var value []byte
	for i, c := range certs {
		for _, e := range c.Extensions {
			if !e.Id.Equal(OIDKeyDescription) {
				continue
			}
			if i != 0 || value != nil {
				return nil, fmt.Errorf("%w: certificate %d carries a KeyDescription; only the leaf may", ErrMalformed, i)
			}
			value = e.Value
		}
	}
	if value == nil {
		return nil, fmt.Errorf("%w: the leaf has no KeyDescription extension (%s)", ErrMalformed, OIDKeyDescription)
	}
	return value, nil
}

// sameKey compares the attested key with the registered one by value.
func sameKey(attested, registered crypto.PublicKey) error {
	k, ok := registered.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || registered == nil {
		return fmt.Errorf("%w: no registered key given (%T)", ErrKeyMismatch, registered)
	}
	if !k.Equal(attested) {
		return fmt.Errorf("%w: the leaf's %T is not the registered %T", ErrKeyMismatch, attested, registered)
	}
	return nil
}

func checkAndroidApp(id *AttestationApplicationID, apps []AndroidApp) error {
	if len(apps) == 0 {
		return nil
	}
	if id == nil {
		return fmt.Errorf("%w: the attestation names no application", ErrApp)
	}
	for _, app := range apps {
		if !slices.ContainsFunc(id.Packages, func(p PackageInfo) bool { return p.Name == app.Package }) {
			continue
		}
		allKnown := len(id.SignatureDigests) > 0
		for _, d := range id.SignatureDigests {
			allKnown = allKnown && slices.ContainsFunc(app.SigningCertDigests, func(a []byte) bool { return subtle.ConstantTimeCompare(a, d) == 1 })
		}
		if allKnown {
			return nil
		}
	}
	return fmt.Errorf("%w: packages %s with %d signing digests match no configured app", ErrApp, strings.Join(packageNames(id), ","), len(id.SignatureDigests))
}

func packageNames(id *AttestationApplicationID) []string {
	if id == nil {
		return nil
	}
	names := make([]string, len(id.Packages))
	for i, p := range id.Packages {
		names[i] = p.Name
	}
	return names
}

// androidResult summarises kd, reading security claims from the hardware-enforced list.
func androidResult(kd *KeyDescription) Result {
	hw := kd.HardwareEnforced
	level := min(rank(kd.AttestationSecurityLevel), rank(kd.KeymasterSecurityLevel))
	r := Result{
		Kind:               KindAndroidKey,
		SecurityLevel:      levels[level],
		HardwareBacked:     level >= rank(SecurityTEE) && hw.Origin != nil && *hw.Origin == originGenerated,
		SigningKeyAttested: true,
		UserAuth:           androidUserAuth(hw),
		AppIDs:             packageNames(kd.SoftwareEnforced.AttestationApplicationID),
		VerifiedBoot:       BootUnknown,
		Android:            kd,
	}
	if hw.RootOfTrust != nil && hw.RootOfTrust.VerifiedBootState >= 0 && hw.RootOfTrust.VerifiedBootState < int64(len(bootStates)) {
		r.VerifiedBoot = bootStates[hw.RootOfTrust.VerifiedBootState]
	}
	return r
}

const originGenerated = 0

var (
	levels     = []SecurityLevel{SecuritySoftware, SecurityTEE, SecurityStrongBox}
	bootStates = []VerifiedBoot{BootVerified, BootSelfSigned, BootUnverified, BootFailed}
)

func rank(l SecurityLevel) int { return slices.Index(levels, l) }

func androidUserAuth(hw AuthorizationList) UserAuth {
	switch {
	case hw.NoAuthRequired:
		return UserAuthNone
	case hw.UserAuthType == nil || *hw.UserAuthType == 0:
		return UserAuthUnknown
	case hw.AuthTimeout != nil && *hw.AuthTimeout > 0:
		return UserAuthTimed
	default:
		return UserAuthPerUse
	}
}
