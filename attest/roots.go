package attest

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
)

// Google's Key Attestation roots, pinned by public key (SubjectPublicKeyInfo), not certificate:
// one RSA key has four certificates (2016–2026, 2019–2034, 2021–2036, 2022–2042) and device
// chains still end at the expired 2016 one. Published at
// https://developer.android.com/privacy-and-security/security-key-attestation#root_certificate.
const (
	// googleRSARootKey is the RSA-4096 root key, subject serialNumber=f92009e853b6b045;
	// SHA-256 of the SPKI feb2ea7551ee316ed4bb443c8293b884dbfdea40b603ee3e4f4a897e4580fbae.
	googleRSARootKey = `-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAr7bHgiuxpwHsK7Qui8xU
FmOr75gvMsd/dTEDDJdSSxtf6An7xyqpRR90PL2abxM1dEqlXnf2tqw1Ne4Xwl5j
lRfdnJLmN0pTy/4lj4/7tv0Sk3iiKkypnEUtR6WfMgH0QZfKHM1+di+y9TFRtv6y
//0rb+T+W8a9nsNL/ggjnar86461qO0rOs2cXjp3kOG1FEJ5MVmFmBGtnrKpa73X
pXyTqRxB/M0n1n/W9nGqC4FSYa04T6N5RIZGBN2z2MT5IKGbFlbC8UrW0DxW7AYI
mQQcHtGl/m00QLVWutHQoVJYnFPlXTcHYvASLu+RhhsbDmxMgJJ0mcDpvsC4PjvB
+TxywElgS70vE0XmLD+OJtvsBslHZvPBKCOdT0MS+tgSOIfga+z1Z1g7+DVagf7q
uvmag8jfPioyKvxnK/EgsTUVi2ghzq8wm27ud/mIM7AY2qEORR8Go3TVB4HzWQgp
Zrt3i5MIlCaY504LzSRiigHCzAPlHws+W0rB5N+er5/2pJKnfBSDiCiFAVtCLOZ7
gLiMm0jhO2B6tUXHI/+MRPjy02i59lINMRRev56GKtcd9qO/0kUJWdZTdA2XoS82
ixPvZtXQpUpuL12ab+9EaDK8Z4RHJYYfCT3Q5vNAXaiWQ+8PTWm2QgBR/bkwSWc+
NpUFgNPN9PvQi8WEg5UmAGMCAwEAAQ==
-----END PUBLIC KEY-----`
	// googleCA1RootKey is the ECDSA P-384 "Key Attestation CA1" root key (2025–2035), which
	// signs remotely provisioned chains from 2026-02; SHA-256 of the SPKI
	// 3ee44512a1af2beb39c889490c60ea3f82e43f5d5a5532f5ab9419f676cd07ec.
	googleCA1RootKey = `-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEI9ojcU7fPlsFCjxy6IRqzgeOoK0b+YsV
9FPQywiyw8EQRTkJ9u3qwfnI4DGoSLlBqClTXJfgfCcZvs60FikNMHnu4fkRzObf
gDkU2KNXezT9/RQ+XvNslxPHrHCowhGr
-----END PUBLIC KEY-----`
)

// appleAppAttestRoot is the Apple App Attestation Root CA (ECDSA P-384, 2020-03-18 to
// 2045-03-15), from https://www.apple.com/certificateauthority/Apple_App_Attestation_Root_CA.pem;
// SHA-256 of its SPKI 1ae751fd29896d0f1f13fe226c063f445d40d8938acc6245c251ecc0679330bd.
const appleAppAttestRoot = `-----BEGIN CERTIFICATE-----
MIICITCCAaegAwIBAgIQC/O+DvHN0uD7jG5yH2IXmDAKBggqhkjOPQQDAzBSMSYw
JAYDVQQDDB1BcHBsZSBBcHAgQXR0ZXN0YXRpb24gUm9vdCBDQTETMBEGA1UECgwK
QXBwbGUgSW5jLjETMBEGA1UECAwKQ2FsaWZvcm5pYTAeFw0yMDAzMTgxODMyNTNa
Fw00NTAzMTUwMDAwMDBaMFIxJjAkBgNVBAMMHUFwcGxlIEFwcCBBdHRlc3RhdGlv
biBSb290IENBMRMwEQYDVQQKDApBcHBsZSBJbmMuMRMwEQYDVQQIDApDYWxpZm9y
bmlhMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAERTHhmLW07ATaFQIEVwTtT4dyctdh
NbJhFs/Ii2FdCgAHGbpphY3+d8qjuDngIN3WVhQUBHAoMeQ/cLiP1sOUtgjqK9au
Yen1mMEvRq9Sk3Jm5X8U62H+xTD3FE9TgS41o0IwQDAPBgNVHRMBAf8EBTADAQH/
MB0GA1UdDgQWBBSskRBTM72+aEH/pwyp5frq5eWKoTAOBgNVHQ8BAf8EBAMCAQYw
CgYIKoZIzj0EAwMDaAAwZQIwQgFGnByvsiVbpTKwSga0kP0e8EeDS4+sQmTvb7vn
53O5+FRXgeLhpJ06ysC5PrOyAjEAp5U4xDgEgllF7En3VcE3iexZZtKeYnpqtijV
oyFraWVIyd/dganmrduC1bmTBGwD
-----END CERTIFICATE-----`

// rootKey is a pinned trust anchor: the SPKI DER it is compared by and the parsed key that
// checks signatures.
type rootKey struct {
	name string
	spki []byte
	key  crypto.PublicKey
}

var (
	googleRoots = []rootKey{mustRootKey("Google RSA-4096 root", googleRSARootKey), mustRootKey("Google Key Attestation CA1", googleCA1RootKey)}
	appleRoot   = mustAppleRoot()
	appleRoots  = []rootKey{{name: "Apple App Attestation Root CA", spki: appleRoot.RawSubjectPublicKeyInfo, key: appleRoot.PublicKey}}
)

func mustRootKey(name, pemKey string) rootKey {
	b, _ := pem.Decode([]byte(pemKey))
	if b == nil {
		panic("attest: bad pinned key " + name)
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		panic(fmt.Sprintf("attest: bad pinned key %s: %v", name, err))
	}
	return rootKey{name: name, spki: b.Bytes, key: k}
}

func mustAppleRoot() *x509.Certificate {
	b, _ := pem.Decode([]byte(appleAppAttestRoot))
	if b == nil {
		panic("attest: bad pinned Apple root")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		panic("attest: bad pinned Apple root: " + err.Error())
	}
	return c
}

// pinnedByKey returns the root whose key c carries, if any.
func pinnedByKey(roots []rootKey, c *x509.Certificate) (rootKey, bool) {
	for _, r := range roots {
		if bytes.Equal(r.spki, c.RawSubjectPublicKeyInfo) {
			return r, true
		}
	}
	return rootKey{}, false
}

// signedByPinned returns the root whose key signed c, if any.
func signedByPinned(roots []rootKey, c *x509.Certificate) (rootKey, bool) {
	for _, r := range roots {
		if checkSignature(r.key, c) == nil {
			return r, true
		}
	}
	return rootKey{}, false
}

// checkSignature checks c's signature with key. It goes through a throwaway certificate so
// that x509 applies its own algorithm checks (no MD5/SHA-1) without asking for the CA bit.
func checkSignature(key crypto.PublicKey, c *x509.Certificate) error {
	parent := &x509.Certificate{PublicKey: key}
	return parent.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
}

// withExtraRoots is roots and the keys of extra (SubjectPublicKeyInfo DER), which must parse.
func withExtraRoots(roots []rootKey, extra [][]byte) ([]rootKey, error) {
	if len(extra) == 0 {
		return roots, nil
	}
	out := slices.Clone(roots)
	for i, spki := range extra {
		k, err := x509.ParsePKIXPublicKey(spki)
		if err != nil {
			return nil, fmt.Errorf("attest: AndroidConfig.ExtraRootKeys[%d] does not parse: %v", i, err)
		}
		out = append(out, rootKey{name: fmt.Sprintf("extra root key %d", i), spki: spki, key: k})
	}
	return out, nil
}
