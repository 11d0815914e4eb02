package httpsig_test

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth/internal/httpsig"
)

// rfcVectors mirrors testdata/rfc9421/vectors.json at the repository root.
type rfcVectors struct {
	Cases []struct {
		Kind           string `json:"kind"`
		Name           string `json:"name"`
		Message        string `json:"message"`
		SignatureInput string `json:"signatureInput"`
		Signature      string `json:"signature"`
		SignatureBase  string `json:"signatureBase"`
	} `json:"cases"`
	Keys map[string]struct {
		Alg           string `json:"alg"`
		PrivateKeyPEM string `json:"privateKeyPEM"`
		PublicKeyPEM  string `json:"publicKeyPEM"`
	} `json:"keys"`
}

func loadVectors(t *testing.T) rfcVectors {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/rfc9421/vectors.json")
	if err != nil {
		t.Fatalf("reading RFC 9421 vectors: %v", err)
	}
	var v rfcVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decoding RFC 9421 vectors: %v", err)
	}
	if len(v.Cases) == 0 {
		t.Fatal("no cases in RFC 9421 vectors")
	}
	return v
}

func pemBlock(t *testing.T, s string) []byte {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("no PEM block in %q", s)
	}
	return b.Bytes
}

func parsePrivateKey(t *testing.T, s string) crypto.Signer {
	t.Helper()
	der := pemBlock(t, s)
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatalf("parsing private key: %v", err)
	}
	return k.(crypto.Signer)
}

// vectorMessage parses an RFC message into a Message and its body.
func vectorMessage(t *testing.T, kind, raw string) (httpsig.Message, []byte) {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(raw))
	switch kind {
	case "request":
		r, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("parsing request: %v", err)
		}
		body, _ := io.ReadAll(r.Body)
		return httpsig.RequestMessage(r), body
	case "response":
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("parsing response: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		return httpsig.ResponseMessage(resp.StatusCode, resp.Header), body
	}
	t.Fatalf("unknown message kind %q", kind)
	return httpsig.Message{}, nil
}

func TestRFC9421Vectors(t *testing.T) {
	v := loadVectors(t)
	for _, tc := range v.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			m, body := vectorMessage(t, tc.Kind, tc.Message)
			m.Header.Set("Signature-Input", tc.SignatureInput)
			m.Header.Set("Signature", tc.Signature)

			sigs, err := httpsig.ParseSignatures(m.Header)
			if err != nil || len(sigs) != 1 {
				t.Fatalf("ParseSignatures = %d signatures, %v; want 1, nil", len(sigs), err)
			}
			sig := sigs[0]
			keyID, _ := sig.Input.KeyID()
			key, ok := v.Keys[keyID]
			if !ok {
				t.Fatalf("no key %q in vectors", keyID)
			}
			pub, err := x509.ParsePKIXPublicKey(pemBlock(t, key.PublicKeyPEM))
			if err != nil {
				t.Fatalf("parsing public key: %v", err)
			}

			base, err := httpsig.Base(m, sig.Input)
			if err != nil {
				t.Fatalf("Base: %v", err)
			}
			if string(base) != tc.SignatureBase {
				t.Fatalf("signature base differs from the RFC's\n got: %q\nwant: %q", base, tc.SignatureBase)
			}
			if err := httpsig.VerifySignature(m, sig, key.Alg, pub); err != nil {
				t.Fatalf("RFC signature does not verify: %v", err)
			}
			if err := httpsig.VerifyContentDigest(m.Header.Values("Content-Digest"), body); err != nil {
				t.Errorf("RFC Content-Digest does not match the RFC body: %v", err)
			}

			for i := range base {
				flipped := bytes.Clone(base)
				flipped[i] ^= 0x01
				if err := httpsig.VerifyBase(key.Alg, pub, flipped, sig.Value); !errors.Is(err, httpsig.ErrBadSignature) {
					t.Fatalf("flipping base byte %d: err = %v, want ErrBadSignature", i, err)
				}
			}

			// Change one byte of a covered field in the message itself.
			tampered := m
			tampered.Header = m.Header.Clone()
			ct := tampered.Header.Get("Content-Type")
			tampered.Header.Set("Content-Type", ct[:len(ct)-1]+"X")
			if err := httpsig.VerifySignature(tampered, sig, key.Alg, pub); !errors.Is(err, httpsig.ErrBadSignature) {
				t.Fatalf("tampered Content-Type: err = %v, want ErrBadSignature", err)
			}

			// Our own signature over the same input verifies too; Ed25519 is
			// deterministic, so it must equal the RFC's byte for byte.
			own, err := httpsig.SignMessage(m, sig.Label, sig.Input, key.Alg, parsePrivateKey(t, key.PrivateKeyPEM))
			if err != nil {
				t.Fatalf("SignMessage: %v", err)
			}
			if err := httpsig.VerifySignature(m, own, key.Alg, pub); err != nil {
				t.Fatalf("own signature does not verify: %v", err)
			}
			if key.Alg == httpsig.AlgEd25519 && !bytes.Equal(own.Value, sig.Value) {
				t.Errorf("Ed25519 signature differs from the RFC's")
			}
		})
	}
}
