package protocol

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// wycheproofDir holds the repository's copy of the Wycheproof vectors (see testdata/README.md).
const wycheproofDir = "../../testdata/wycheproof"

// Policy for Wycheproof's "acceptable" results: we are strict and refuse them. In the files
// used here the only one is ecdh tcId 2, a valid point in compressed form, which is not an
// encoding §4 accepts.

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	*h = d
	return err
}

type wycheproofFile struct {
	NumberOfTests int `json:"numberOfTests"`
	TestGroups    []struct {
		PublicKeyDER hexBytes `json:"publicKeyDer"`
		PublicKey    struct {
			Uncompressed hexBytes `json:"uncompressed"` // ECDSA
			PK           hexBytes `json:"pk"`           // Ed25519
		} `json:"publicKey"`
		Tests []wycheproofTest `json:"tests"`
	} `json:"testGroups"`
}

type wycheproofTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Msg     hexBytes `json:"msg"`
	Sig     hexBytes `json:"sig"`
	Public  hexBytes `json:"public"` // ECDH point
	Result  string   `json:"result"` // valid, invalid, acceptable
}

func loadWycheproof(t *testing.T, name string) wycheproofFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wycheproofDir, name))
	if err != nil {
		t.Fatalf("reading Wycheproof vectors: %v", err)
	}
	var f wycheproofFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if f.NumberOfTests <= 0 {
		t.Fatalf("%s: numberOfTests = %d", name, f.NumberOfTests)
	}
	return f
}

func TestWycheproof_Signatures(t *testing.T) {
	files := []struct {
		file   string
		alg    string
		format string
	}{
		{"ecdsa_secp256r1_sha256_test.json", AlgES256, FormatDER},
		{"ecdsa_secp256r1_sha256_p1363_test.json", AlgES256, FormatRaw},
		{"ed25519_test.json", AlgEdDSA, FormatRaw},
	}
	for _, ff := range files {
		t.Run(ff.file, func(t *testing.T) {
			f := loadWycheproof(t, ff.file)
			run := 0
			for gi, g := range f.TestGroups {
				raw := g.PublicKey.Uncompressed
				if ff.alg == AlgEdDSA {
					raw = g.PublicKey.PK
				}
				// Every key in these files is valid; each test runs under both encodings.
				encodings := map[string][]byte{"spki": g.PublicKeyDER, "raw": raw}
				keys := map[string]PublicKey{}
				for enc, b := range encodings {
					k, err := ParsePublicKey(ff.alg, b)
					if err != nil {
						t.Fatalf("group %d: ParsePublicKey(%s, %s key) = %v, want a key", gi, ff.alg, enc, err)
					}
					keys[enc] = k
				}
				if !slices.Equal(keys["spki"].SPKI, keys["raw"].SPKI) {
					t.Fatalf("group %d: raw and SPKI encodings normalise differently", gi)
				}
				for _, tc := range g.Tests {
					run++
					for _, enc := range []string{"spki", "raw"} {
						t.Run(fmt.Sprintf("tc%d/%s", tc.TcID, enc), func(t *testing.T) {
							err := keys[enc].Verify(ff.format, tc.Msg, tc.Sig)
							switch tc.Result {
							case "valid":
								if err != nil {
									t.Fatalf("%s %v: Verify = %v, want nil", tc.Comment, tc.Flags, err)
								}
							case "invalid", "acceptable":
								if err == nil {
									t.Fatalf("%s %v: Verify = nil, want an error (%s)", tc.Comment, tc.Flags, tc.Result)
								}
							default:
								t.Fatalf("unknown result %q", tc.Result)
							}
						})
					}
				}
			}
			if run != f.NumberOfTests {
				t.Fatalf("ran %d vectors, file has numberOfTests = %d", run, f.NumberOfTests)
			}
		})
	}
}

// p256SPKIPrefix is the SPKI DER header before a 65-byte P-256 point: SEQUENCE { SEQUENCE {
// id-ecPublicKey, prime256v1 }, BIT STRING (66 bytes, 0 unused bits) }.
const p256SPKIPrefix = "3059301306072a8648ce3d020106082a8648ce3d030107034200"

func TestWycheproof_ECPoints(t *testing.T) {
	f := loadWycheproof(t, "ecdh_secp256r1_ecpoint_test.json")
	prefix, _ := hex.DecodeString(p256SPKIPrefix)
	run, refused := 0, 0
	for _, g := range f.TestGroups {
		for _, tc := range g.Tests {
			run++
			t.Run(fmt.Sprintf("tc%d", tc.TcID), func(t *testing.T) {
				// Compressed points (0x02/0x03) are not an encoding §4 accepts, even valid ones.
				wantOK := tc.Result == "valid" && len(tc.Public) == p256PointLen && tc.Public[0] == 4
				if slices.Contains(tc.Flags, "CompressedPoint") && wantOK {
					t.Fatalf("compressed point classed as accepted")
				}
				inputs := map[string][]byte{"point": tc.Public}
				if len(tc.Public) == p256PointLen {
					inputs["spki"] = append(slices.Clip(prefix), tc.Public...)
				}
				for enc, b := range inputs {
					_, err := ParsePublicKey(AlgES256, b)
					switch {
					case wantOK && err != nil:
						t.Errorf("%s %v (%s): ParsePublicKey = %v, want a key", tc.Comment, tc.Flags, enc, err)
					case !wantOK && err == nil:
						t.Errorf("%s %v (%s, %s): ParsePublicKey = nil error, want refused", tc.Comment, tc.Flags, tc.Result, enc)
					case !wantOK && !errors.Is(err, ErrInvalidKey):
						t.Errorf("%s (%s): error %v, want ErrInvalidKey", tc.Comment, enc, err)
					}
				}
			})
			if tc.Result != "valid" {
				refused++
			}
		}
	}
	if run != f.NumberOfTests {
		t.Fatalf("ran %d vectors, file has numberOfTests = %d", run, f.NumberOfTests)
	}
	if refused == 0 {
		t.Fatalf("no invalid points in the file: wrong file?")
	}
}
