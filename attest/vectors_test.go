package attest

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// vectorDir holds the real attestation vectors with their licences (see its README).
const vectorDir = "../testdata/attestation"

// vectorIndex is testdata/attestation/index.json: every vector with the instant it verifies at.
type vectorIndex struct {
	Android []androidVector `json:"android"`
	Apple   []appleVector   `json:"apple"`
}

type androidVector struct {
	Vector         string          `json:"vector"`
	VerifyAt       time.Time       `json:"verifyAt"`
	ChainNotAfter  time.Time       `json:"chainNotAfterMin"`
	ExpectedJSON   string          `json:"expectedJSON"`
	KeyDescription *indexKeyDesc   `json:"keyDescription"`
	LinkVerify     string          `json:"linkVerify"`
	Raw            json.RawMessage `json:"-"`
}

// indexKeyDesc is the summary of the decoded KeyDescription the index records.
type indexKeyDesc struct {
	AttestationVersion       int64   `json:"attestationVersion"`
	AttestationSecurityLevel string  `json:"attestationSecurityLevel"`
	KeymasterSecurityLevel   string  `json:"keymasterSecurityLevel"`
	AttestationChallengeHex  string  `json:"attestationChallengeHex"`
	Algorithm                *string `json:"algorithm"`
	ECCurve                  *string `json:"ecCurve"`
	Purpose                  []int64 `json:"purpose"`
	NoAuthRequired           bool    `json:"noAuthRequired"`
	UserAuthType             *string `json:"userAuthType"`
	Origin                   *string `json:"origin"`
	RootOfTrust              any     `json:"rootOfTrust"`
	OSVersion                *string `json:"osVersion"`
	OSPatchLevel             *string `json:"osPatchLevel"`
	AttestationApplicationID *struct {
		Packages         []string `json:"packages"`
		SignatureDigests []string `json:"signatureDigests"`
	} `json:"attestationApplicationId"`
}

type appleVector struct {
	Vector       string    `json:"vector"`
	Environment  string    `json:"environment"`
	AppID        string    `json:"appId"`
	VerifyAt     time.Time `json:"verifyAt"`
	LeafNotAfter time.Time `json:"leafNotAfter"`
}

func loadIndex(t testing.TB) vectorIndex {
	t.Helper()
	var idx vectorIndex
	b, err := os.ReadFile(filepath.Join(vectorDir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Android) != 30 || len(idx.Apple) != 9 {
		t.Fatalf("index.json lists %d Android and %d Apple vectors, want 30 and 9", len(idx.Android), len(idx.Apple))
	}
	return idx
}

// loadChain reads a chain as DER, leaf first: one PEM file, or a directory of cert0.pem….
func loadChain(t testing.TB, rel string) [][]byte {
	t.Helper()
	path := filepath.Join(vectorDir, rel)
	var files []string
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "cert*.pem"))
		slices.Sort(files)
	} else {
		files = []string{path}
	}
	var chain [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for {
			var blk *pem.Block
			if blk, b = pem.Decode(b); blk == nil {
				break
			}
			chain = append(chain, blk.Bytes)
		}
	}
	if len(chain) == 0 {
		t.Fatalf("%s: no certificates", rel)
	}
	return chain
}

func leafKey(t testing.TB, chain [][]byte) any {
	t.Helper()
	c, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	return c.PublicKey
}

// readGoogleJSON reads one of Google's expected-value files, which allow // comments.
func readGoogleJSON(t testing.TB, rel string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	b = regexp.MustCompile(`(?m)^\s*//.*$`).ReplaceAll(b, nil)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return m
}

// yamlDocs parses the flat YAML documents of the veehaitch vectors: "key: value" lines and
// "key: |" blocks; nested maps (receipt properties) are skipped.
func yamlDocs(t testing.TB, rel string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]string
	for _, doc := range strings.Split(string(b), "\n---\n") {
		m := map[string]string{}
		var block string
		for _, line := range strings.Split(strings.TrimPrefix(doc, "---\n"), "\n") {
			if block != "" && strings.HasPrefix(line, "  ") {
				m[block] += strings.TrimPrefix(line, "  ") + "\n"
				continue
			}
			block = ""
			k, v, ok := strings.Cut(line, ": ")
			if !ok || strings.HasPrefix(line, " ") {
				continue
			}
			if v == "|" {
				block = k
				continue
			}
			m[k] = strings.Trim(v, "'")
		}
		docs = append(docs, m)
	}
	return docs
}
