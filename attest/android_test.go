package attest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"
)

// androidRefusals is the expected reason for every Android vector that does not verify at its
// instant; every other vector of the index must verify.
var androidRefusals = map[string]error{
	// The leaf was edited after signing (tags reordered): its signature breaks.
	"android/android-keyattestation/testdata/invalid/tags_not_in_ascending_order.pem": ErrSignature,
	// deviceLocked is a BOOLEAN encoded 0x01, which DER and encoding/asn1 refuse.
	"android/android-keyattestation/testdata/invalid/malformed_rot_device_locked.pem": ErrMalformed,
	// Software attestation root, not Google's.
	"android/android-keyattestation/testdata/marlin/sdk29/TEE_EC_NONE.pem":  ErrUntrustedRoot,
	"android/android-keyattestation/testdata/marlin/sdk29/TEE_RSA_NONE.pem": ErrUntrustedRoot,
	// Synthetic single-purpose chains under test roots.
	"android/android-keyattestation/testdata/p256_sha384_intermediate.pem": ErrUntrustedRoot,
	"android/android-keyattestation/testdata/allow_while_on_body.pem":      ErrUntrustedRoot,
	// Pre-production StrongBox chains ending at a non-Google root.
	"android/google-android-key-attestation/pem/algorithm_EC_SecurityLevel_StrongBox":  ErrUntrustedRoot,
	"android/google-android-key-attestation/pem/algorithm_RSA_SecurityLevel_StrongBox": ErrUntrustedRoot,
	// Factory intermediate expired 2026-05-24 (accepted with AcceptExpiredIntermediates,
	// TestVerifyAndroidKey_AcceptExpiredIntermediates).
	"android/android-keyattestation/testdata/sony-xperia10-iii/sdk33/TEE_EC.pem": ErrValidity,
}

// TestVerifyAndroidKey_Vectors runs every Android vector of the index at its instant, with its
// own challenge and leaf key: the good ones verify and decode to Google's expected values field
// by field and to the index's summary; the others are refused for the listed reason.
func TestVerifyAndroidKey_Vectors(t *testing.T) {
	idx := loadIndex(t)
	verified := 0
	for _, v := range idx.Android {
		t.Run(v.Vector, func(t *testing.T) {
			chain := loadChain(t, v.Vector)
			var challenge []byte
			if v.KeyDescription != nil {
				challenge, _ = hex.DecodeString(v.KeyDescription.AttestationChallengeHex)
			}
			res, err := VerifyAndroidKey(chain, challenge, leafKey(t, chain), AndroidConfig{}, v.VerifyAt)
			if want := androidRefusals[v.Vector]; want != nil {
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused at %s: %v", v.VerifyAt, err)
			}
			verified++
			if res.Kind != KindAndroidKey || !res.SigningKeyAttested || res.Android == nil {
				t.Fatalf("result %+v is not an Android key attestation", res)
			}
			checkIndexSummary(t, v.KeyDescription, res.Android)
			if v.ExpectedJSON != "" {
				checkGoogleJSON(t, readGoogleJSON(t, v.ExpectedJSON), res.Android)
			}
		})
	}
	if want := len(idx.Android) - len(androidRefusals); verified != want {
		t.Errorf("%d vectors verified, want %d", verified, want)
	}
}

// checkIndexSummary compares the index's summary (hardware-enforced values, falling back to
// software-enforced ones, as the index was generated) with kd.
func checkIndexSummary(t *testing.T, want *indexKeyDesc, kd *KeyDescription) {
	t.Helper()
	hw, sw := kd.HardwareEnforced, kd.SoftwareEnforced
	pick := func(h, s *int64) *string {
		if h == nil {
			h = s
		}
		if h == nil {
			return nil
		}
		v := strconv.FormatInt(*h, 10)
		return &v
	}
	purposes := hw.Purposes
	if purposes == nil {
		purposes = sw.Purposes
	}
	got := indexKeyDesc{
		AttestationVersion:       kd.AttestationVersion,
		AttestationSecurityLevel: indexLevel[kd.AttestationSecurityLevel],
		KeymasterSecurityLevel:   indexLevel[kd.KeymasterSecurityLevel],
		AttestationChallengeHex:  hex.EncodeToString(kd.AttestationChallenge),
		Algorithm:                pick(hw.Algorithm, sw.Algorithm),
		ECCurve:                  pick(hw.ECCurve, sw.ECCurve),
		Purpose:                  purposes,
		NoAuthRequired:           hw.NoAuthRequired || sw.NoAuthRequired,
		UserAuthType:             pick(hw.UserAuthType, sw.UserAuthType),
		Origin:                   pick(hw.Origin, sw.Origin),
		OSVersion:                pick(hw.OSVersion, sw.OSVersion),
		OSPatchLevel:             pick(hw.OSPatchLevel, sw.OSPatchLevel),
	}
	if rot := hw.RootOfTrust; rot != nil {
		got.RootOfTrust = map[string]any{"deviceLocked": rot.DeviceLocked, "verifiedBootState": rot.VerifiedBootState}
	}
	if app := sw.AttestationApplicationID; app != nil {
		got.AttestationApplicationID = &struct {
			Packages         []string `json:"packages"`
			SignatureDigests []string `json:"signatureDigests"`
		}{}
		for _, p := range app.Packages {
			got.AttestationApplicationID.Packages = append(got.AttestationApplicationID.Packages, fmt.Sprintf("%s@%d", p.Name, p.Version))
		}
		// The index lists package names sorted, the first four of longer lists.
		pk := got.AttestationApplicationID.Packages
		slices.Sort(pk)
		if len(pk) > 4 {
			pk = append(pk[:4], fmt.Sprintf("...(%d pkgs)", len(pk)))
		}
		got.AttestationApplicationID.Packages = pk
		for _, d := range app.SignatureDigests {
			got.AttestationApplicationID.SignatureDigests = append(got.AttestationApplicationID.SignatureDigests, hex.EncodeToString(d))
		}
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("index summary differs:\n got %s\nwant %s", g, w)
	}
}

var indexLevel = map[SecurityLevel]string{SecuritySoftware: "Software", SecurityTEE: "TrustedEnvironment", SecurityStrongBox: "StrongBox"}

// checkGoogleJSON renders kd the way Google's expected-value files do and compares every field
// both ways.
func checkGoogleJSON(t *testing.T, want map[string]any, kd *KeyDescription) {
	t.Helper()
	got := googleJSON(kd)
	// Google's files state tag order only for some vectors; where they do not, the tags must
	// still be in order.
	for _, list := range []string{"softwareEnforced", "hardwareEnforced"} {
		w, g := want[list].(map[string]any), got[list].(map[string]any)
		if _, ok := w["areTagsOrdered"]; !ok {
			if g["areTagsOrdered"] != true {
				t.Errorf("%s: tags not in order", list)
			}
			delete(g, "areTagsOrdered")
		}
	}
	var norm map[string]any
	b, _ := json.Marshal(got)
	_ = json.Unmarshal(b, &norm)
	diffMaps(t, "", want, norm)
}

func diffMaps(t *testing.T, path string, want, got map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s%s: missing, want %v", path, k, w)
		case reflect.TypeOf(w) == reflect.TypeOf(map[string]any{}) && reflect.TypeOf(g) == reflect.TypeOf(w):
			diffMaps(t, path+k+".", w.(map[string]any), g.(map[string]any))
		case !reflect.DeepEqual(w, g):
			t.Errorf("%s%s = %v, want %v", path, k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s%s = %v, not in Google's expected values", path, k, g)
		}
	}
}

// googleJSON is kd in the format of android/keyattestation's expected-value files.
func googleJSON(kd *KeyDescription) map[string]any {
	return map[string]any{
		"attestationVersion":       itoa(kd.AttestationVersion),
		"attestationSecurityLevel": googleLevel[kd.AttestationSecurityLevel],
		"keyMintVersion":           itoa(kd.KeymasterVersion),
		"keyMintSecurityLevel":     googleLevel[kd.KeymasterSecurityLevel],
		"attestationChallenge":     b64(kd.AttestationChallenge),
		"uniqueId":                 b64(kd.UniqueID),
		"softwareEnforced":         googleList(kd.SoftwareEnforced),
		"hardwareEnforced":         googleList(kd.HardwareEnforced),
	}
}

var (
	googleLevel  = map[SecurityLevel]string{SecuritySoftware: "SOFTWARE", SecurityTEE: "TRUSTED_ENVIRONMENT", SecurityStrongBox: "STRONG_BOX"}
	googleOrigin = []string{"GENERATED", "DERIVED", "IMPORTED", "RESERVED", "SECURELY_IMPORTED"}
	googleBoot   = []string{"VERIFIED", "SELF_SIGNED", "UNVERIFIED", "FAILED"}
)

func googleList(l AuthorizationList) map[string]any {
	m := map[string]any{"areTagsOrdered": l.TagsOrdered}
	ints := map[string][]int64{"purposes": l.Purposes, "blockModes": l.BlockModes, "digests": l.Digests, "paddings": l.Paddings, "rsaOaepMgfDigests": l.RSAOAEPMGFDigests}
	for k, v := range ints {
		if v != nil {
			s := []string{}
			for _, n := range v {
				s = append(s, itoa(n))
			}
			m[k] = s
		}
	}
	nums := map[string]*int64{
		"algorithms": l.Algorithm, "keySize": l.KeySize, "ecCurve": l.ECCurve, "mlDsaVariant": l.MLDSAVariant,
		"rsaPublicExponent": l.RSAPublicExponent, "activeDateTime": l.ActiveDateTime,
		"originationExpireDateTime": l.OriginationExpireDateTime, "usageExpireDateTime": l.UsageExpireDateTime,
		"usageCountLimit": l.UsageCountLimit, "userAuthType": l.UserAuthType, "authTimeout": l.AuthTimeout,
		"creationDateTime": l.CreationDateTime, "osVersion": l.OSVersion, "osPatchLevel": l.OSPatchLevel,
		"vendorPatchLevel": l.VendorPatchLevel, "bootPatchLevel": l.BootPatchLevel,
	}
	for k, v := range nums {
		if v != nil {
			m[k] = itoa(*v)
		}
	}
	flags := map[string]bool{
		"noAuthRequired": l.NoAuthRequired, "allowWhileOnBody": l.AllowWhileOnBody,
		"trustedUserPresenceRequired": l.TrustedUserPresenceRequired, "trustedConfirmationRequired": l.TrustedConfirmationRequired,
		"unlockedDeviceRequired": l.UnlockedDeviceRequired, "rollbackResistant": l.RollbackResistant || l.RollbackResistance,
	}
	for k, v := range flags {
		if v {
			m[k] = true
		}
	}
	strs := map[string][]byte{
		"attestationIdBrand": l.AttestationIDBrand, "attestationIdDevice": l.AttestationIDDevice,
		"attestationIdProduct": l.AttestationIDProduct, "attestationIdSerial": l.AttestationIDSerial,
		"attestationIdImei": l.AttestationIDIMEI, "attestationIdMeid": l.AttestationIDMEID,
		"attestationIdManufacturer": l.AttestationIDManufacturer, "attestationIdModel": l.AttestationIDModel,
		"attestationIdSecondImei": l.AttestationIDSecondIMEI,
	}
	for k, v := range strs {
		if v != nil {
			m[k] = string(v)
		}
	}
	if l.ModuleHash != nil {
		m["moduleHash"] = b64(l.ModuleHash)
	}
	if l.Origin != nil {
		m["origin"] = googleOrigin[*l.Origin]
	}
	if r := l.RootOfTrust; r != nil {
		m["rootOfTrust"] = map[string]any{"verifiedBootKey": b64(r.VerifiedBootKey), "deviceLocked": r.DeviceLocked,
			"verifiedBootState": googleBoot[r.VerifiedBootState], "verifiedBootHash": b64(r.VerifiedBootHash)}
	}
	if a := l.AttestationApplicationID; a != nil {
		pk := []any{}
		for _, p := range a.Packages {
			pk = append(pk, map[string]any{"name": p.Name, "version": itoa(p.Version)})
		}
		sigs := []any{}
		for _, d := range a.SignatureDigests {
			sigs = append(sigs, b64(d))
		}
		m["attestationApplicationId"] = map[string]any{"packages": pk, "signatures": sigs}
	}
	return m
}

func itoa(n int64) string   { return strconv.FormatInt(n, 10) }
func b64(b []byte) string   { return base64.StdEncoding.EncodeToString(b) }
func unhex(s string) []byte { b, _ := hex.DecodeString(s); return b }
