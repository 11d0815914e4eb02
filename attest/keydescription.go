package attest

import (
	"encoding/asn1"
	"fmt"
)

// OIDKeyDescription is the X.509 extension that carries an Android KeyDescription.
var OIDKeyDescription = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 1, 17}

// KeyDescription is the decoded Android Key Attestation extension
// (https://source.android.com/docs/security/features/keystore/attestation#schema).
// Only HardwareEnforced describes what the secure hardware guarantees; SoftwareEnforced is
// what Android's Keystore, outside the hardware, says (the application ID always lives there).
type KeyDescription struct {
	AttestationVersion       int64             `json:"attestationVersion"`
	AttestationSecurityLevel SecurityLevel     `json:"attestationSecurityLevel"`
	KeymasterVersion         int64             `json:"keymasterVersion"`
	KeymasterSecurityLevel   SecurityLevel     `json:"keymasterSecurityLevel"`
	AttestationChallenge     []byte            `json:"attestationChallenge"`
	UniqueID                 []byte            `json:"uniqueId"`
	SoftwareEnforced         AuthorizationList `json:"softwareEnforced"`
	HardwareEnforced         AuthorizationList `json:"hardwareEnforced"`
}

// AuthorizationList is one of the two tag lists of a KeyDescription. Absent optional values
// are nil (JSON null or omitted) or false; present but empty ones are empty, not nil; the numbers are Keymaster/KeyMint constants (algorithm 1 RSA,
// 3 EC, 4 ML-DSA; ecCurve 0 P-224, 1 P-256, 2 P-384, 3 P-521, 4 Curve25519; purpose 2 SIGN,
// 3 VERIFY; origin 0 GENERATED, 2 IMPORTED; userAuthType bitmask 1 password, 2 biometric).
type AuthorizationList struct {
	Purposes                    []int64                   `json:"purposes"`                              // [1]
	Algorithm                   *int64                    `json:"algorithm,omitempty"`                   // [2]
	KeySize                     *int64                    `json:"keySize,omitempty"`                     // [3]
	BlockModes                  []int64                   `json:"blockModes"`                            // [4]
	Digests                     []int64                   `json:"digests"`                               // [5]
	Paddings                    []int64                   `json:"paddings"`                              // [6]
	CallerNonce                 bool                      `json:"callerNonce,omitempty"`                 // [7]
	MinMACLength                *int64                    `json:"minMacLength,omitempty"`                // [8]
	ECCurve                     *int64                    `json:"ecCurve,omitempty"`                     // [10]
	MLDSAVariant                *int64                    `json:"mlDsaVariant,omitempty"`                // [11]
	RSAPublicExponent           *int64                    `json:"rsaPublicExponent,omitempty"`           // [200]
	RSAOAEPMGFDigests           []int64                   `json:"rsaOaepMgfDigests"`                     // [203]
	RollbackResistance          bool                      `json:"rollbackResistance,omitempty"`          // [303]
	EarlyBootOnly               bool                      `json:"earlyBootOnly,omitempty"`               // [305]
	ActiveDateTime              *int64                    `json:"activeDateTime,omitempty"`              // [400]
	OriginationExpireDateTime   *int64                    `json:"originationExpireDateTime,omitempty"`   // [401]
	UsageExpireDateTime         *int64                    `json:"usageExpireDateTime,omitempty"`         // [402]
	UsageCountLimit             *int64                    `json:"usageCountLimit,omitempty"`             // [405]
	NoAuthRequired              bool                      `json:"noAuthRequired,omitempty"`              // [503]
	UserAuthType                *int64                    `json:"userAuthType,omitempty"`                // [504]
	AuthTimeout                 *int64                    `json:"authTimeout,omitempty"`                 // [505]
	AllowWhileOnBody            bool                      `json:"allowWhileOnBody,omitempty"`            // [506]
	TrustedUserPresenceRequired bool                      `json:"trustedUserPresenceRequired,omitempty"` // [507]
	TrustedConfirmationRequired bool                      `json:"trustedConfirmationRequired,omitempty"` // [508]
	UnlockedDeviceRequired      bool                      `json:"unlockedDeviceRequired,omitempty"`      // [509]
	AllApplications             bool                      `json:"allApplications,omitempty"`             // [600]
	ApplicationID               []byte                    `json:"applicationId"`                         // [601]
	CreationDateTime            *int64                    `json:"creationDateTime,omitempty"`            // [701] ms since epoch
	Origin                      *int64                    `json:"origin,omitempty"`                      // [702]
	RollbackResistant           bool                      `json:"rollbackResistant,omitempty"`           // [703]
	RootOfTrust                 *RootOfTrust              `json:"rootOfTrust,omitempty"`                 // [704]
	OSVersion                   *int64                    `json:"osVersion,omitempty"`                   // [705] e.g. 140000
	OSPatchLevel                *int64                    `json:"osPatchLevel,omitempty"`                // [706] YYYYMM
	AttestationApplicationID    *AttestationApplicationID `json:"attestationApplicationId,omitempty"`    // [709]
	AttestationIDBrand          []byte                    `json:"attestationIdBrand"`                    // [710]
	AttestationIDDevice         []byte                    `json:"attestationIdDevice"`                   // [711]
	AttestationIDProduct        []byte                    `json:"attestationIdProduct"`                  // [712]
	AttestationIDSerial         []byte                    `json:"attestationIdSerial"`                   // [713]
	AttestationIDIMEI           []byte                    `json:"attestationIdImei"`                     // [714]
	AttestationIDMEID           []byte                    `json:"attestationIdMeid"`                     // [715]
	AttestationIDManufacturer   []byte                    `json:"attestationIdManufacturer"`             // [716]
	AttestationIDModel          []byte                    `json:"attestationIdModel"`                    // [717]
	VendorPatchLevel            *int64                    `json:"vendorPatchLevel,omitempty"`            // [718] YYYYMMDD
	BootPatchLevel              *int64                    `json:"bootPatchLevel,omitempty"`              // [719] YYYYMMDD
	DeviceUniqueAttestation     bool                      `json:"deviceUniqueAttestation,omitempty"`     // [720]
	AttestationIDSecondIMEI     []byte                    `json:"attestationIdSecondImei"`               // [723]
	ModuleHash                  []byte                    `json:"moduleHash"`                            // [724]
	// TagsOrdered is false when the tags were not in ascending order (which DER requires);
	// the list is still decoded, as Google's verifier does.
	TagsOrdered bool `json:"tagsOrdered"`
	// UnknownTags lists tags this package does not decode, in order of appearance.
	UnknownTags []int `json:"unknownTags"`
}

// RootOfTrust is the device's boot state as the secure hardware saw it.
type RootOfTrust struct {
	VerifiedBootKey   []byte `json:"verifiedBootKey"`
	DeviceLocked      bool   `json:"deviceLocked"`
	VerifiedBootState int64  `json:"verifiedBootState"` // 0 Verified, 1 SelfSigned, 2 Unverified, 3 Failed
	VerifiedBootHash  []byte `json:"verifiedBootHash"`
}

// AttestationApplicationID identifies the app that generated the key, as Android's package
// manager reported it (several packages when they share a user ID).
type AttestationApplicationID struct {
	Packages []PackageInfo `json:"packages"`
	// SignatureDigests are SHA-256 digests of the app's signing certificates.
	SignatureDigests [][]byte `json:"signatureDigests"`
}

// PackageInfo is one package of an AttestationApplicationID.
type PackageInfo struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
}

type keyDescriptionASN1 struct {
	AttestationVersion       int64
	AttestationSecurityLevel asn1.Enumerated
	KeymasterVersion         int64
	KeymasterSecurityLevel   asn1.Enumerated
	AttestationChallenge     []byte
	UniqueID                 []byte
	SoftwareEnforced         asn1.RawValue
	HardwareEnforced         asn1.RawValue
}

type rootOfTrustASN1 struct {
	VerifiedBootKey   []byte
	DeviceLocked      bool
	VerifiedBootState asn1.Enumerated
	VerifiedBootHash  []byte `asn1:"optional"`
}

type applicationIDASN1 struct {
	Packages         []packageInfoASN1 `asn1:"set"`
	SignatureDigests [][]byte          `asn1:"set"`
}

type packageInfoASN1 struct {
	Name    []byte
	Version int64
}

// ParseKeyDescription decodes the DER value of the KeyDescription extension. It is strict DER
// as Go's encoding/asn1 reads it: for example a BOOLEAN encoded 0x01 (which some devices emit
// and Google's verifier reads as true) is refused. Trailing data is refused. Unknown tags are
// skipped and listed, so a newer KeyMint version still parses.
func ParseKeyDescription(der []byte) (*KeyDescription, error) {
	var raw keyDescriptionASN1
	rest, err := asn1.Unmarshal(der, &raw)
	if err != nil {
		return nil, fmt.Errorf("%w: KeyDescription: %v", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: KeyDescription: %d trailing bytes", ErrMalformed, len(rest))
	}
	kd := &KeyDescription{
		AttestationVersion: raw.AttestationVersion, KeymasterVersion: raw.KeymasterVersion,
		AttestationChallenge: raw.AttestationChallenge, UniqueID: raw.UniqueID,
	}
	if kd.AttestationSecurityLevel, err = securityLevel(raw.AttestationSecurityLevel); err != nil {
		return nil, err
	}
	if kd.KeymasterSecurityLevel, err = securityLevel(raw.KeymasterSecurityLevel); err != nil {
		return nil, err
	}
	if err := parseAuthorizationList(raw.SoftwareEnforced, &kd.SoftwareEnforced); err != nil {
		return nil, fmt.Errorf("%w (softwareEnforced)", err)
	}
	if err := parseAuthorizationList(raw.HardwareEnforced, &kd.HardwareEnforced); err != nil {
		return nil, fmt.Errorf("%w (hardwareEnforced)", err)
	}
	return kd, nil
}

func securityLevel(e asn1.Enumerated) (SecurityLevel, error) {
	switch e {
	case 0:
		return SecuritySoftware, nil
	case 1:
		return SecurityTEE, nil
	case 2:
		return SecurityStrongBox, nil
	}
	return "", fmt.Errorf("%w: KeyDescription: unknown security level %d", ErrMalformed, e)
}

// parseAuthorizationList decodes a SEQUENCE of explicitly tagged, context-specific values.
func parseAuthorizationList(rv asn1.RawValue, l *AuthorizationList) error {
	if rv.Class != asn1.ClassUniversal || rv.Tag != asn1.TagSequence || !rv.IsCompound {
		return fmt.Errorf("%w: AuthorizationList is not a SEQUENCE", ErrMalformed)
	}
	l.TagsOrdered = true
	prev := -1
	for b := rv.Bytes; len(b) > 0; {
		var item asn1.RawValue
		var err error
		if b, err = asn1.Unmarshal(b, &item); err != nil {
			return fmt.Errorf("%w: AuthorizationList: %v", ErrMalformed, err)
		}
		if item.Class != asn1.ClassContextSpecific || !item.IsCompound {
			return fmt.Errorf("%w: AuthorizationList: element is not an explicit context tag", ErrMalformed)
		}
		if item.Tag == prev {
			return fmt.Errorf("%w: AuthorizationList: tag [%d] repeated", ErrMalformed, item.Tag)
		}
		if item.Tag < prev {
			l.TagsOrdered = false
		}
		prev = item.Tag
		if err := l.set(item.Tag, item.Bytes); err != nil {
			return fmt.Errorf("%w: AuthorizationList tag [%d]: %v", ErrMalformed, item.Tag, err)
		}
	}
	return nil
}

// set decodes the value of one tag into l.
func (l *AuthorizationList) set(tag int, v []byte) error {
	switch tag {
	case 1:
		return intSet(v, &l.Purposes)
	case 2:
		return integer(v, &l.Algorithm)
	case 3:
		return integer(v, &l.KeySize)
	case 4:
		return intSet(v, &l.BlockModes)
	case 5:
		return intSet(v, &l.Digests)
	case 6:
		return intSet(v, &l.Paddings)
	case 7:
		return null(v, &l.CallerNonce)
	case 8:
		return integer(v, &l.MinMACLength)
	case 10:
		return integer(v, &l.ECCurve)
	case 11:
		return integer(v, &l.MLDSAVariant)
	case 200:
		return integer(v, &l.RSAPublicExponent)
	case 203:
		return intSet(v, &l.RSAOAEPMGFDigests)
	case 303:
		return null(v, &l.RollbackResistance)
	case 305:
		return null(v, &l.EarlyBootOnly)
	case 400:
		return integer(v, &l.ActiveDateTime)
	case 401:
		return integer(v, &l.OriginationExpireDateTime)
	case 402:
		return integer(v, &l.UsageExpireDateTime)
	case 405:
		return integer(v, &l.UsageCountLimit)
	case 503:
		return null(v, &l.NoAuthRequired)
	case 504:
		return integer(v, &l.UserAuthType)
	case 505:
		return integer(v, &l.AuthTimeout)
	case 506:
		return null(v, &l.AllowWhileOnBody)
	case 507:
		return null(v, &l.TrustedUserPresenceRequired)
	case 508:
		return null(v, &l.TrustedConfirmationRequired)
	case 509:
		return null(v, &l.UnlockedDeviceRequired)
	case 600:
		return null(v, &l.AllApplications)
	case 601:
		return octets(v, &l.ApplicationID)
	case 701:
		return integer(v, &l.CreationDateTime)
	case 702:
		return integer(v, &l.Origin)
	case 703:
		return null(v, &l.RollbackResistant)
	case 704:
		return l.setRootOfTrust(v)
	case 705:
		return integer(v, &l.OSVersion)
	case 706:
		return integer(v, &l.OSPatchLevel)
	case 709:
		return l.setApplicationID(v)
	case 710:
		return octets(v, &l.AttestationIDBrand)
	case 711:
		return octets(v, &l.AttestationIDDevice)
	case 712:
		return octets(v, &l.AttestationIDProduct)
	case 713:
		return octets(v, &l.AttestationIDSerial)
	case 714:
		return octets(v, &l.AttestationIDIMEI)
	case 715:
		return octets(v, &l.AttestationIDMEID)
	case 716:
		return octets(v, &l.AttestationIDManufacturer)
	case 717:
		return octets(v, &l.AttestationIDModel)
	case 718:
		return integer(v, &l.VendorPatchLevel)
	case 719:
		return integer(v, &l.BootPatchLevel)
	case 720:
		return null(v, &l.DeviceUniqueAttestation)
	case 723:
		return octets(v, &l.AttestationIDSecondIMEI)
	case 724:
		return octets(v, &l.ModuleHash)
	}
	l.UnknownTags = append(l.UnknownTags, tag)
	return nil
}

func (l *AuthorizationList) setRootOfTrust(v []byte) error {
	var r rootOfTrustASN1
	if err := unmarshalAll(v, &r, ""); err != nil {
		return err
	}
	l.RootOfTrust = &RootOfTrust{VerifiedBootKey: r.VerifiedBootKey, DeviceLocked: r.DeviceLocked,
		VerifiedBootState: int64(r.VerifiedBootState), VerifiedBootHash: r.VerifiedBootHash}
	return nil
}

// setApplicationID decodes the OCTET STRING that wraps the DER AttestationApplicationId.
func (l *AuthorizationList) setApplicationID(v []byte) error {
	var inner []byte
	if err := unmarshalAll(v, &inner, ""); err != nil {
		return err
	}
	var a applicationIDASN1
	if err := unmarshalAll(inner, &a, ""); err != nil {
		return err
	}
	id := &AttestationApplicationID{Packages: make([]PackageInfo, len(a.Packages)), SignatureDigests: a.SignatureDigests}
	for i, p := range a.Packages {
		id.Packages[i] = PackageInfo{Name: string(p.Name), Version: p.Version}
	}
	if id.SignatureDigests == nil {
		id.SignatureDigests = [][]byte{}
	}
	l.AttestationApplicationID = id
	return nil
}

func integer(v []byte, dst **int64) error {
	var n int64
	if err := unmarshalAll(v, &n, ""); err != nil {
		return err
	}
	*dst = &n
	return nil
}

func intSet(v []byte, dst *[]int64) error {
	var s []int64
	if err := unmarshalAll(v, &s, "set"); err != nil {
		return err
	}
	if s == nil {
		s = []int64{}
	}
	*dst = s
	return nil
}

func octets(v []byte, dst *[]byte) error {
	var b []byte
	if err := unmarshalAll(v, &b, ""); err != nil {
		return err
	}
	if b == nil {
		b = []byte{}
	}
	*dst = b
	return nil
}

func null(v []byte, dst *bool) error {
	var n asn1.RawValue
	if err := unmarshalAll(v, &n, ""); err != nil {
		return err
	}
	if n.Class != asn1.ClassUniversal || n.Tag != asn1.TagNull || len(n.Bytes) != 0 {
		return fmt.Errorf("expected NULL")
	}
	*dst = true
	return nil
}

// unmarshalAll decodes exactly one value filling all of b.
func unmarshalAll(b []byte, dst any, params string) error {
	rest, err := asn1.UnmarshalWithParams(b, dst, params)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d trailing bytes", len(rest))
	}
	return nil
}
