package attest

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// keyDescriptionWith encodes a KeyDescription whose hardware-enforced list is the given
// explicitly tagged items, in the given order.
func keyDescriptionWith(t *testing.T, sw []byte, hwItems ...asn1.RawValue) []byte {
	t.Helper()
	var hw []byte
	for _, it := range hwItems {
		b, err := asn1.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		hw = append(hw, b...)
	}
	seq := func(body []byte) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: body}
	}
	der, err := asn1.Marshal(keyDescriptionASN1{AttestationVersion: 300, AttestationSecurityLevel: 1, KeymasterVersion: 300,
		KeymasterSecurityLevel: 1, AttestationChallenge: []byte("c"), SoftwareEnforced: seq(sw), HardwareEnforced: seq(hw)})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// tagged is v marshalled with params, in an explicit context-specific tag.
func tagged(t *testing.T, tag int, v any, params ...string) asn1.RawValue {
	t.Helper()
	inner, err := asn1.MarshalWithParams(v, strings.Join(params, ","))
	if err != nil {
		t.Fatal(err)
	}
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: true, Bytes: inner}
}

var asn1Null = asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagNull}

func TestParseKeyDescription_Strictness(t *testing.T) {
	algorithm, purpose := tagged(t, 2, 3), tagged(t, 1, []int{2}, "set")
	good := keyDescriptionWith(t, nil, purpose, algorithm)
	if kd, err := ParseKeyDescription(good); err != nil || !kd.HardwareEnforced.TagsOrdered || *kd.HardwareEnforced.Algorithm != 3 {
		t.Fatalf("good: %+v, %v", kd, err)
	}
	// Out of order is not DER, but Google's verifier decodes it: decoded and flagged.
	kd, err := ParseKeyDescription(keyDescriptionWith(t, nil, algorithm, purpose))
	if err != nil || kd.HardwareEnforced.TagsOrdered || len(kd.HardwareEnforced.Purposes) != 1 {
		t.Errorf("out of order: %+v, %v", kd, err)
	}
	// An unknown tag is listed, not fatal.
	kd, err = ParseKeyDescription(keyDescriptionWith(t, nil, purpose, tagged(t, 9999, 1)))
	if err != nil || len(kd.HardwareEnforced.UnknownTags) != 1 || kd.HardwareEnforced.UnknownTags[0] != 9999 {
		t.Errorf("unknown tag: %+v, %v", kd, err)
	}
	refused := map[string][]byte{
		"trailing byte":         append(bytes.Clone(good), 0),
		"repeated tag":          keyDescriptionWith(t, nil, purpose, purpose),
		"NULL with a value":     keyDescriptionWith(t, nil, tagged(t, 503, 1)),
		"integer for a set":     keyDescriptionWith(t, nil, tagged(t, 1, 2)),
		"SEQUENCE for a set":    keyDescriptionWith(t, nil, tagged(t, 1, []int{2})),
		"universal, not tagged": keyDescriptionWith(t, nil, asn1Null),
		"unknown level":         bytes.Replace(good, []byte{0x0a, 0x01, 0x01}, []byte{0x0a, 0x01, 0x07}, 1),
	}
	for name, der := range refused {
		if _, err := ParseKeyDescription(der); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// TestAndroidResult_HardwareListOnly: claims in the software-enforced list (which Android's
// Keystore, outside the hardware, writes) never raise the result.
func TestAndroidResult_HardwareListOnly(t *testing.T) {
	gen, imported := int64(0), int64(2)
	sw := AuthorizationList{NoAuthRequired: true, Origin: &gen, RootOfTrust: &RootOfTrust{VerifiedBootState: 0}}
	r := androidResult(&KeyDescription{AttestationSecurityLevel: SecurityTEE, KeymasterSecurityLevel: SecurityTEE, SoftwareEnforced: sw})
	if r.HardwareBacked || r.UserAuth != UserAuthUnknown || r.VerifiedBoot != BootUnknown {
		t.Errorf("software-list claims counted: %+v", r)
	}
	r = androidResult(&KeyDescription{AttestationSecurityLevel: SecurityTEE, KeymasterSecurityLevel: SecurityTEE, HardwareEnforced: AuthorizationList{Origin: &imported}})
	if r.HardwareBacked {
		t.Error("an imported key counted as hardware-backed")
	}
	r = androidResult(&KeyDescription{AttestationSecurityLevel: SecuritySoftware, KeymasterSecurityLevel: SecurityStrongBox, HardwareEnforced: AuthorizationList{Origin: &gen}})
	if r.HardwareBacked || r.SecurityLevel != SecuritySoftware {
		t.Errorf("software attestation: %+v", r)
	}
}

func TestParseChain_Bounds(t *testing.T) {
	chain := loadChain(t, akitaTEE)
	long := append(append(append([][]byte{}, chain...), chain...), chain[0])
	if _, err := VerifyAndroidKey(long, []byte("challenge"), leafKey(t, chain), AndroidConfig{}, akitaAt); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "at most 8") {
		t.Errorf("9 certificates: err = %v", err)
	}
}

func TestVerifyAppAttest_StrictCBOR(t *testing.T) {
	c, cfg, _ := basD(t)
	dup := []byte{0xa2, 0x63, 'f', 'm', 't', 0x60, 0x63, 'f', 'm', 't', 0x60} // {"fmt": "", "fmt": ""}
	big := make([]byte, maxObjectLen+1)
	for name, obj := range map[string][]byte{"duplicate key": dup, "too large": big} {
		if _, err := VerifyAppAttest(obj, c.keyID, sum(c.clientData), cfg, c.at); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// TestAppAttestKey_COSEKeyIsLeafKey: the key in authData must be the certified key. (Changing
// authData in a real vector breaks the nonce first, so the check is tested directly.)
func TestAppAttestKey_COSEKeyIsLeafKey(t *testing.T) {
	c, _, _ := basD(t)
	var obj appAttestObject
	if err := cbor.Unmarshal(c.object, &obj); err != nil {
		t.Fatal(err)
	}
	leaf := mustParse(t, obj.AttStmt.X5C[0])
	ad, err := parseAuthData(obj.AuthData)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := appAttestKey(leaf, ad, c.keyID); err != nil {
		t.Fatalf("genuine: %v", err)
	}
	var k coseEC2Key
	_ = cbor.Unmarshal(ad.coseKey, &k)
	k.X = bytes.Clone(k.X)
	k.X[0] ^= 1
	other := ad
	other.coseKey, _ = cbor.Marshal(k)
	if _, err := appAttestKey(leaf, other, c.keyID); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("another COSE key: err = %v, want ErrKeyMismatch", err)
	}
	other = ad
	other.credID = sum([]byte("x"))
	if _, err := appAttestKey(leaf, other, nil); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("another credential ID: err = %v, want ErrKeyMismatch", err)
	}
}

// TestCheckAttestedApp: an attestation's counter must be 0. (Real vectors cannot be edited
// without breaking the nonce, so the rule is tested directly.)
func TestCheckAttestedApp(t *testing.T) {
	c, cfg, _ := basD(t)
	var obj appAttestObject
	if err := cbor.Unmarshal(c.object, &obj); err != nil {
		t.Fatal(err)
	}
	ad, err := parseAuthData(obj.AuthData)
	if err != nil {
		t.Fatal(err)
	}
	if app, env, err := checkAttestedApp(ad, cfg); err != nil || app != c.appID || env != "development" {
		t.Fatalf("genuine: %q %q %v", app, env, err)
	}
	ad.counter = 1
	if _, _, err := checkAttestedApp(ad, cfg); !errors.Is(err, ErrCounter) {
		t.Errorf("counter 1: err = %v, want ErrCounter", err)
	}
	ad.counter, ad.aaguid = 0, aaguidProduction
	if _, env, err := checkAttestedApp(ad, AppAttestConfig{AppIDs: cfg.AppIDs}); err != nil || env != "production" {
		t.Errorf("production aaguid on a production server: %q %v", env, err)
	}
}
