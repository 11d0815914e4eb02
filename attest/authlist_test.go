package attest

import (
	"encoding/asn1"
	"encoding/base64"
	"slices"
	"strconv"
	"testing"
)

// TestParseKeyDescription_CompleteAuthList encodes Google's complete_authlist.json (every tag
// their parser knows, no certificate) as DER and checks that it decodes back to the same values
// field by field, so tags no device vector carries are decoded too.
func TestParseKeyDescription_CompleteAuthList(t *testing.T) {
	want := readGoogleJSON(t, "android/android-keyattestation/testdata/complete_authlist.json")
	der := encodeGoogleKeyDescription(t, want)
	kd, err := ParseKeyDescription(der)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []AuthorizationList{kd.SoftwareEnforced, kd.HardwareEnforced} {
		if !l.TagsOrdered || l.UnknownTags != nil {
			t.Errorf("tags ordered %v, unknown %v", l.TagsOrdered, l.UnknownTags)
		}
	}
	checkGoogleJSON(t, want, kd)
}

// googleTags maps the names of Google's expected-value files to tags and value kinds.
var googleTags = map[string]struct {
	tag  int
	kind string
}{
	"purposes": {1, "set"}, "algorithms": {2, "int"}, "keySize": {3, "int"}, "blockModes": {4, "set"},
	"digests": {5, "set"}, "paddings": {6, "set"}, "ecCurve": {10, "int"}, "mlDsaVariant": {11, "int"},
	"rsaPublicExponent": {200, "int"}, "rsaOaepMgfDigests": {203, "set"}, "rollbackResistant": {303, "null"},
	"activeDateTime": {400, "int"}, "originationExpireDateTime": {401, "int"}, "usageExpireDateTime": {402, "int"},
	"usageCountLimit": {405, "int"}, "noAuthRequired": {503, "null"}, "userAuthType": {504, "int"},
	"authTimeout": {505, "int"}, "allowWhileOnBody": {506, "null"}, "trustedUserPresenceRequired": {507, "null"},
	"trustedConfirmationRequired": {508, "null"}, "unlockedDeviceRequired": {509, "null"},
	"creationDateTime": {701, "int"}, "origin": {702, "origin"}, "rootOfTrust": {704, "rot"},
	"osVersion": {705, "int"}, "osPatchLevel": {706, "int"}, "attestationApplicationId": {709, "appid"},
	"attestationIdBrand": {710, "str"}, "attestationIdDevice": {711, "str"}, "attestationIdProduct": {712, "str"},
	"attestationIdSerial": {713, "str"}, "attestationIdImei": {714, "str"}, "attestationIdMeid": {715, "str"},
	"attestationIdManufacturer": {716, "str"}, "attestationIdModel": {717, "str"}, "vendorPatchLevel": {718, "int"},
	"bootPatchLevel": {719, "int"}, "attestationIdSecondImei": {723, "str"}, "moduleHash": {724, "b64"},
}

// encodeGoogleKeyDescription is the test's own DER encoder for Google's JSON form.
func encodeGoogleKeyDescription(t *testing.T, j map[string]any) []byte {
	t.Helper()
	num := func(v any) int64 {
		n, err := strconv.ParseInt(v.(string), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	b64dec := func(v any) []byte {
		b, err := base64.StdEncoding.DecodeString(v.(string))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	marshal := func(v any, params string) []byte {
		b, err := asn1.MarshalWithParams(v, params)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	list := func(m map[string]any) asn1.RawValue {
		type item struct {
			tag   int
			inner []byte
		}
		var items []item
		for name, v := range m {
			spec, ok := googleTags[name]
			if !ok {
				t.Fatalf("no tag for %q", name)
			}
			var inner []byte
			switch spec.kind {
			case "int":
				inner = marshal(num(v), "")
			case "set":
				var s []int64
				for _, e := range v.([]any) {
					s = append(s, num(e))
				}
				inner = marshal(s, "set")
			case "null":
				inner = asn1.NullBytes
			case "str":
				inner = marshal([]byte(v.(string)), "")
			case "b64":
				inner = marshal(b64dec(v), "")
			case "origin":
				inner = marshal(int64(slices.Index(googleOrigin, v.(string))), "")
			case "rot":
				r := v.(map[string]any)
				inner = marshal(rootOfTrustASN1{VerifiedBootKey: b64dec(r["verifiedBootKey"]), DeviceLocked: r["deviceLocked"].(bool),
					VerifiedBootState: asn1.Enumerated(slices.Index(googleBoot, r["verifiedBootState"].(string))), VerifiedBootHash: b64dec(r["verifiedBootHash"])}, "")
			case "appid":
				a := v.(map[string]any)
				var id applicationIDASN1
				for _, p := range a["packages"].([]any) {
					p := p.(map[string]any)
					id.Packages = append(id.Packages, packageInfoASN1{Name: []byte(p["name"].(string)), Version: num(p["version"])})
				}
				for _, s := range a["signatures"].([]any) {
					id.SignatureDigests = append(id.SignatureDigests, b64dec(s))
				}
				inner = marshal(marshal(id, ""), "")
			}
			items = append(items, item{spec.tag, inner})
		}
		slices.SortFunc(items, func(a, b item) int { return a.tag - b.tag })
		var body []byte
		for _, it := range items {
			body = append(body, marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: it.tag, IsCompound: true, Bytes: it.inner}, "")...)
		}
		return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: body}
	}
	level := func(v any) asn1.Enumerated {
		for l, name := range googleLevel {
			if name == v {
				return asn1.Enumerated(rank(l))
			}
		}
		t.Fatalf("level %v", v)
		return 0
	}
	return marshal(keyDescriptionASN1{
		AttestationVersion: num(j["attestationVersion"]), AttestationSecurityLevel: level(j["attestationSecurityLevel"]),
		KeymasterVersion: num(j["keyMintVersion"]), KeymasterSecurityLevel: level(j["keyMintSecurityLevel"]),
		AttestationChallenge: b64dec(j["attestationChallenge"]), UniqueID: b64dec(j["uniqueId"]),
		SoftwareEnforced: list(j["softwareEnforced"].(map[string]any)), HardwareEnforced: list(j["hardwareEnforced"].(map[string]any)),
	}, "")
}
