package attest

import "errors"

// Kind names what vouched for a credential's key.
type Kind string

// Kinds of attestation.
const (
	// KindNone labels a credential whose key no attestation vouched for: the server has only the
	// device's word for where the key lives. It is never equal to an attested result.
	KindNone Kind = "none"
	// KindAndroidKey is an Android Keystore key attestation certificate chain.
	KindAndroidKey Kind = "android-key"
	// KindAppleAppAttest is an Apple App Attest attestation object.
	KindAppleAppAttest Kind = "apple-appattest"
)

// SecurityLevel says where a key lives, as the attestation states it.
type SecurityLevel string

// Security levels, weakest first.
const (
	SecurityUnknown       SecurityLevel = "unknown"        // not attested
	SecuritySoftware      SecurityLevel = "software"       // Android Keystore in software
	SecurityTEE           SecurityLevel = "tee"            // Android trusted execution environment
	SecurityStrongBox     SecurityLevel = "strongbox"      // Android StrongBox secure element
	SecuritySecureEnclave SecurityLevel = "secure-enclave" // Apple Secure Enclave (App Attest)
)

// UserAuth says whether using the key needs the user to authenticate on the device.
type UserAuth string

// User authentication requirements.
const (
	// UserAuthUnknown: the attestation does not say (always so for App Attest, and for Android
	// keys whose hardware-enforced list states neither noAuthRequired nor userAuthType).
	UserAuthUnknown UserAuth = "unknown"
	// UserAuthNone: the key is usable without the user (Android noAuthRequired).
	UserAuthNone UserAuth = "none"
	// UserAuthTimed: the user must have authenticated within a timeout before the key is used
	// (Android userAuthType with authTimeout > 0); one unlock covers several uses.
	UserAuthTimed UserAuth = "timed"
	// UserAuthPerUse: every use of the key needs a fresh authentication (Android userAuthType
	// without an authTimeout): a signature proves the user was present.
	UserAuthPerUse UserAuth = "per-use"
)

// VerifiedBoot is the device's verified boot state as the attestation states it.
type VerifiedBoot string

// Verified boot states (Android RootOfTrust.verifiedBootState).
const (
	BootUnknown    VerifiedBoot = "unknown"     // not attested, or App Attest (see the package doc)
	BootVerified   VerifiedBoot = "verified"    // locked, booted an OS signed by the vendor key
	BootSelfSigned VerifiedBoot = "self-signed" // locked, booted an OS signed by a user-set key
	BootUnverified VerifiedBoot = "unverified"  // unlocked bootloader: the OS may be anything
	BootFailed     VerifiedBoot = "failed"      // verification failed
)

// Result is what a verifier concluded about a credential's key. Both verifiers return it; the
// zero value is not meaningful, use NotAttested for an unattested credential. It marshals to
// JSON for storage with the credential.
type Result struct {
	Kind          Kind          `json:"kind"`
	SecurityLevel SecurityLevel `json:"securityLevel"`
	// HardwareBacked: the attested key was generated inside a TEE, StrongBox or the Secure
	// Enclave and cannot leave it. For Android it needs both security levels at TEE or above
	// and a hardware-enforced origin of GENERATED (an imported key may have copies elsewhere).
	HardwareBacked bool `json:"hardwareBacked"`
	// SigningKeyAttested: the attested key is the registered signing key itself (Android).
	// False for App Attest, whose key is a companion (see the package doc).
	SigningKeyAttested bool     `json:"signingKeyAttested"`
	UserAuth           UserAuth `json:"userAuth"`
	// AppIDs identify the app that holds the key: Android package names, or Apple
	// "TEAMID.bundleID".
	AppIDs       []string     `json:"appIds,omitempty"`
	VerifiedBoot VerifiedBoot `json:"verifiedBoot"`
	// Android holds the decoded KeyDescription when Kind is KindAndroidKey.
	Android *KeyDescription `json:"android,omitempty"`
	// Apple holds the App Attest details when Kind is KindAppleAppAttest.
	Apple *AppAttestation `json:"apple,omitempty"`
}

// NotAttested is the result recorded for a credential registered without attestation.
var NotAttested = Result{Kind: KindNone, SecurityLevel: SecurityUnknown, UserAuth: UserAuthUnknown, VerifiedBoot: BootUnknown}

// Attested reports whether an attestation vouched for the key.
func (r Result) Attested() bool { return r.Kind == KindAndroidKey || r.Kind == KindAppleAppAttest }

// UserAuthRequired reports whether the attestation proves that using the key needs the user's
// authentication (per use or timed).
func (r Result) UserAuthRequired() bool {
	return r.UserAuth == UserAuthPerUse || r.UserAuth == UserAuthTimed
}

// Reasons an attestation is refused. Every error a verifier returns wraps exactly one of them,
// with the detail in its message.
var (
	// ErrMalformed: a certificate, the KeyDescription, the CBOR object or an extension does not
	// parse (including certificates Go's crypto/x509 refuses), or a required part is missing.
	ErrMalformed = errors.New("attest: malformed attestation")
	// ErrUntrustedRoot: the chain does not end at a pinned root key.
	ErrUntrustedRoot = errors.New("attest: chain does not end at a pinned root key")
	// ErrSignature: a certificate's signature does not verify with its parent's key, or an
	// assertion's signature does not verify.
	ErrSignature = errors.New("attest: signature does not verify")
	// ErrValidity: a certificate is outside its validity period at the verification time.
	ErrValidity = errors.New("attest: certificate not valid at the verification time")
	// ErrRevoked: a certificate of the chain is on the operator's revocation list.
	ErrRevoked = errors.New("attest: certificate revoked")
	// ErrChallenge: the attestation challenge (Android) or nonce (Apple) is not the binding.
	ErrChallenge = errors.New("attest: challenge does not match this registration")
	// ErrKeyMismatch: the attested key is not the registered key, or the App Attest key ID
	// does not match the key.
	ErrKeyMismatch = errors.New("attest: attested key does not match")
	// ErrApp: the app identity is not one the operator configured.
	ErrApp = errors.New("attest: app identity not allowed")
	// ErrEnvironment: the App Attest aaguid is not the configured environment's.
	ErrEnvironment = errors.New("attest: wrong App Attest environment")
	// ErrCounter: an App Attest counter is not 0 at attestation or not above the stored one.
	ErrCounter = errors.New("attest: counter out of order")
)
