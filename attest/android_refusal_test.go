package attest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Good vectors the refusal tests start from.
const (
	akitaTEE   = "android/android-keyattestation/testdata/akita/sdk34/TEE_EC_NONE.pem"    // factory chain, RSA root
	teguSB     = "android/android-keyattestation/testdata/tegu/sdk36/SB_EC_2026_ROOT.pem" // RKP chain, P-384 CA1 root
	sonyTEE    = "android/android-keyattestation/testdata/sony-xperia10-iii/sdk33/TEE_EC.pem"
	webauthnGo = "android/go-webauthn/androidkey-rkp-2025-01.chain.pem"
)

var (
	akitaAt        = time.Date(2024, 9, 26, 22, 31, 25, 0, time.UTC)
	akitaCollector = AndroidApp{Package: "com.google.wireless.android.security.attestationverifier.collector",
		SigningCertDigests: [][]byte{unhex("103938ee4537e59e8ee792f654504fb8346fc6b346d0bbc4415fc339fcfc8ec1")}}
)

func TestVerifyAndroidKey_Refuses(t *testing.T) {
	good := loadChain(t, akitaTEE)
	key := leafKey(t, good)
	other := leafKey(t, loadChain(t, teguSB))
	challenge := []byte("challenge")

	tamperedSig := slices.Clone(good)
	tamperedSig[1] = slices.Clone(good[1])
	tamperedSig[1][len(tamperedSig[1])-1] ^= 1 // last byte of the intermediate's signature

	tests := []struct {
		name      string
		chain     [][]byte
		challenge []byte
		key       any
		cfg       AndroidConfig
		at        time.Time
		want      error
		detail    string
	}{
		{"after an intermediate expired", good, challenge, key, AndroidConfig{}, time.Date(2024, 10, 8, 14, 9, 47, 0, time.UTC), ErrValidity, "certificate 1"},
		{"before the chain was issued", good, challenge, key, AndroidConfig{}, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), ErrValidity, ""},
		{"no time given", good, challenge, key, AndroidConfig{}, time.Time{}, ErrValidity, "no verification time"},
		{"wrong challenge", good, []byte("challengf"), key, AndroidConfig{}, akitaAt, ErrChallenge, ""},
		{"empty challenge", good, nil, key, AndroidConfig{}, akitaAt, ErrChallenge, ""},
		{"another device's key", good, challenge, other, AndroidConfig{}, akitaAt, ErrKeyMismatch, ""},
		{"no registered key", good, challenge, nil, AndroidConfig{}, akitaAt, ErrKeyMismatch, ""},
		{"tampered intermediate signature", tamperedSig, challenge, key, AndroidConfig{}, akitaAt, ErrSignature, "certificate 1 is not signed by certificate 2"},
		{"chain cut below the root", good[:2], challenge, key, AndroidConfig{}, akitaAt, ErrUntrustedRoot, ""},
		{"links out of order", [][]byte{good[0], good[2], good[1], good[3]}, challenge, key, AndroidConfig{}, akitaAt, ErrSignature, ""},
		{"certificate x509 cannot parse", [][]byte{good[0], []byte("not DER")}, challenge, key, AndroidConfig{}, akitaAt, ErrMalformed, "crypto/x509"},
		{"empty chain", nil, challenge, key, AndroidConfig{}, akitaAt, ErrMalformed, ""},
		{"intermediate revoked", good, challenge, key, AndroidConfig{Revoked: RevokedSerials(mustParse(t, good[1]).SerialNumber)}, akitaAt, ErrRevoked, "certificate 1"},
		{"app not configured", good, challenge, key, AndroidConfig{Apps: []AndroidApp{{Package: "com.example.bank", SigningCertDigests: akitaCollector.SigningCertDigests}}}, akitaAt, ErrApp, ""},
		{"app signed by another key", good, challenge, key, AndroidConfig{Apps: []AndroidApp{{Package: akitaCollector.Package, SigningCertDigests: [][]byte{make([]byte, 32)}}}}, akitaAt, ErrApp, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := VerifyAndroidKey(tt.chain, tt.challenge, tt.key, tt.cfg, tt.at)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("err = %q, want it to mention %q", err, tt.detail)
			}
			if res.Kind != "" || res.Android != nil {
				t.Errorf("a refusal returned a result: %+v", res)
			}
		})
	}
}

func mustParse(t testing.TB, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestVerifyAndroidKey_AppAllowed accepts the app when its package and every signing digest
// are configured.
func TestVerifyAndroidKey_AppAllowed(t *testing.T) {
	chain := loadChain(t, akitaTEE)
	cfg := AndroidConfig{Apps: []AndroidApp{{Package: "com.example.bank"}, akitaCollector}}
	res, err := VerifyAndroidKey(chain, []byte("challenge"), leafKey(t, chain), cfg, akitaAt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.AppIDs, []string{akitaCollector.Package}) {
		t.Errorf("AppIDs = %v", res.AppIDs)
	}
}

// TestVerifyAndroidKey_AcceptExpiredIntermediates: the Sony chain's factory intermediates
// expired with the 2016 root certificate; Google's verifier accepts it, and so do we when told.
// The leaf's validity is still checked.
func TestVerifyAndroidKey_AcceptExpiredIntermediates(t *testing.T) {
	chain := loadChain(t, sonyTEE)
	at := time.Date(2026, 6, 4, 14, 59, 5, 0, time.UTC)
	challenge := unhex("3eafe4d5dd0090de5a42b432b42481af5ce29963656b2584c59a492de16d00c9")
	cfg := AndroidConfig{AcceptExpiredIntermediates: true}
	res, err := VerifyAndroidKey(chain, challenge, leafKey(t, chain), cfg, at)
	if err != nil {
		t.Fatal(err)
	}
	checkGoogleJSON(t, readGoogleJSON(t, "android/android-keyattestation/testdata/sony-xperia10-iii/sdk33/TEE_EC.json"), res.Android)
	leaf := mustParse(t, chain[0])
	if _, err := VerifyAndroidKey(chain, challenge, leafKey(t, chain), cfg, leaf.NotBefore.Add(-time.Second)); !errors.Is(err, ErrValidity) {
		t.Errorf("before the leaf's NotBefore: err = %v, want ErrValidity", err)
	}
}

// TestVerifyAndroidKey_Results pins the summary a relying party sees for typical vectors.
func TestVerifyAndroidKey_Results(t *testing.T) {
	idx := loadIndex(t)
	tests := []struct {
		vector   string
		level    SecurityLevel
		userAuth UserAuth
		boot     VerifiedBoot
	}{
		{akitaTEE, SecurityTEE, UserAuthNone, BootUnverified},
		{"android/android-keyattestation/testdata/akita/sdk34/SB_RSA_NONE.pem", SecurityStrongBox, UserAuthNone, BootUnverified},
		{"android/android-keyattestation/testdata/akita/sdk34/TEE_RSA_NONE_USERAUTH.pem", SecurityTEE, UserAuthTimed, BootUnverified},
		{teguSB, SecurityStrongBox, UserAuthNone, BootVerified},
		{webauthnGo, SecurityTEE, UserAuthTimed, BootVerified},
	}
	for _, tt := range tests {
		t.Run(tt.vector, func(t *testing.T) {
			i := slices.IndexFunc(idx.Android, func(v androidVector) bool { return v.Vector == tt.vector })
			v := idx.Android[i]
			chain := loadChain(t, v.Vector)
			res, err := VerifyAndroidKey(chain, unhex(v.KeyDescription.AttestationChallengeHex), leafKey(t, chain), AndroidConfig{}, v.VerifyAt)
			if err != nil {
				t.Fatal(err)
			}
			want := Result{Kind: KindAndroidKey, SecurityLevel: tt.level, HardwareBacked: true, SigningKeyAttested: true,
				UserAuth: tt.userAuth, VerifiedBoot: tt.boot, AppIDs: packageNames(res.Android.SoftwareEnforced.AttestationApplicationID), Android: res.Android}
			if !equalResult(res, want) {
				t.Errorf("result\n got %+v\nwant %+v", res, want)
			}
			if !res.Attested() || res.UserAuthRequired() != (tt.userAuth == UserAuthPerUse || tt.userAuth == UserAuthTimed) {
				t.Errorf("Attested() = %v, UserAuthRequired() = %v", res.Attested(), res.UserAuthRequired())
			}
		})
	}
}

func equalResult(a, b Result) bool {
	return a.Kind == b.Kind && a.SecurityLevel == b.SecurityLevel && a.HardwareBacked == b.HardwareBacked &&
		a.SigningKeyAttested == b.SigningKeyAttested && a.UserAuth == b.UserAuth && a.VerifiedBoot == b.VerifiedBoot &&
		slices.Equal(a.AppIDs, b.AppIDs) && a.Android == b.Android && a.Apple == b.Apple
}

func TestNotAttested(t *testing.T) {
	if NotAttested.Attested() || NotAttested.UserAuthRequired() || NotAttested.HardwareBacked {
		t.Errorf("NotAttested claims something: %+v", NotAttested)
	}
	if NotAttested.Kind != KindNone || NotAttested.SecurityLevel != SecurityUnknown || NotAttested.VerifiedBoot != BootUnknown {
		t.Errorf("NotAttested = %+v", NotAttested)
	}
}

// TestVerifyAndroidKey_KeyDescriptionOnlyOnLeaf: a holder of an attested key could sign a new
// leaf with a KeyDescription of its choosing below the genuine one; two KeyDescriptions in
// one chain are refused before anything else.
func TestVerifyAndroidKey_KeyDescriptionOnlyOnLeaf(t *testing.T) {
	ext := mustParse(t, loadChain(t, akitaTEE)[0]).Extensions
	i := slices.IndexFunc(ext, func(e pkix.Extension) bool { return e.Id.Equal(OIDKeyDescription) })
	kdExt := ext[i]
	genuineKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forgedKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := func(cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Unix(0, 0), NotAfter: time.Date(2048, 1, 1, 0, 0, 0, 0, time.UTC), ExtraExtensions: []pkix.Extension{kdExt}}
	}
	genuine, err := x509.CreateCertificate(rand.Reader, tmpl("genuine"), tmpl("genuine"), &genuineKey.PublicKey, genuineKey)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := x509.CreateCertificate(rand.Reader, tmpl("forged"), tmpl("genuine"), &forgedKey.PublicKey, genuineKey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = VerifyAndroidKey([][]byte{forged, genuine}, []byte("challenge"), &forgedKey.PublicKey, AndroidConfig{}, akitaAt)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "certificate 1 carries a KeyDescription") {
		t.Fatalf("err = %v, want ErrMalformed naming certificate 1", err)
	}
}

// TestRevocationList reads the sample of Google's status format, normalises serials and
// refuses a chain one of whose serials it lists, whatever the status.
func TestRevocationList(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(vectorDir, "android/google-android-key-attestation/status-sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ParseRevocationList(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 5 {
		t.Fatalf("%d entries, want 5", len(l.Entries))
	}
	serial, _ := new(big.Int).SetString("cc66e9a93713b6e643b26c15879786f7", 16)
	if e, ok := l.Lookup(serial); !ok || e.Status != "SUSPENDED" || e.Reason != "KEY_COMPROMISE" {
		t.Errorf("Lookup(cc66…) = %+v, %v", e, ok)
	}
	chain := loadChain(t, akitaTEE)
	if _, err := VerifyAndroidKey(chain, []byte("challenge"), leafKey(t, chain), AndroidConfig{Revoked: l}, akitaAt); err != nil {
		t.Errorf("a chain the list does not name: %v", err)
	}
	l.Entries[mustParse(t, chain[2]).SerialNumber.Text(16)] = RevocationEntry{Status: "SUSPENDED"}
	if _, err := VerifyAndroidKey(chain, []byte("challenge"), leafKey(t, chain), AndroidConfig{Revoked: l}, akitaAt); !errors.Is(err, ErrRevoked) {
		t.Errorf("suspended intermediate: err = %v, want ErrRevoked", err)
	}
	upper, err := ParseRevocationList([]byte(`{"entries":{"00CC66E9A93713B6E643B26C15879786F7":{"status":"REVOKED"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := upper.Lookup(serial); !ok {
		t.Error("upper-case serial with a leading zero was not normalised")
	}
	for _, bad := range []string{`{"entries":{"xyz":{"status":"REVOKED"}}}`, `{}`, `[`} {
		if _, err := ParseRevocationList([]byte(bad)); err == nil {
			t.Errorf("ParseRevocationList(%s) accepted", bad)
		}
	}
}

// TestPinnedRoots: the pinned keys are those of the published root certificates in testdata.
func TestPinnedRoots(t *testing.T) {
	want := map[string]string{
		"google/google-hardware-attestation-root-rsa4096-2022-2042.pem": "Google RSA-4096 root",
		"google/legacy-same-key-rsa4096-2016-2026.pem":                  "Google RSA-4096 root",
		"google/legacy-same-key-rsa4096-2019-2034.pem":                  "Google RSA-4096 root",
		"google/legacy-same-key-rsa4096-2021-2036.pem":                  "Google RSA-4096 root",
		"google/google-key-attestation-ca1-p384-2025-2035.pem":          "Google Key Attestation CA1",
	}
	for file, name := range want {
		c := mustParse(t, loadChain(t, "roots/"+file)[0])
		if r, ok := pinnedByKey(googleRoots, c); !ok || r.name != name {
			t.Errorf("%s: pinned as %q, %v; want %q", file, r.name, ok, name)
		}
	}
	apple := mustParse(t, loadChain(t, "roots/apple/apple-app-attestation-root-ca.pem")[0])
	if !apple.Equal(appleRoot) {
		t.Error("the pinned Apple root is not testdata's")
	}
	hashes := map[string]string{
		"feb2ea7551ee316ed4bb443c8293b884dbfdea40b603ee3e4f4a897e4580fbae": googleRoots[0].name,
		"3ee44512a1af2beb39c889490c60ea3f82e43f5d5a5532f5ab9419f676cd07ec": googleRoots[1].name,
		"1ae751fd29896d0f1f13fe226c063f445d40d8938acc6245c251ecc0679330bd": appleRoots[0].name,
	}
	for _, r := range append(slices.Clone(googleRoots), appleRoots...) {
		h := sha256.Sum256(r.spki)
		if hashes[hex.EncodeToString(h[:])] != r.name {
			t.Errorf("%s: SPKI SHA-256 %x is not the documented one", r.name, h)
		}
	}
}
