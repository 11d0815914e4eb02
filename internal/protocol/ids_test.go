package protocol

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestValidAction(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"transfer", true},
		{"addAuthenticator", true},
		{"payments.transfer:v2_eu-1", true},
		{"a", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"with space", false},
		{"slash/inside", false},
		{"plus+", false},
		{"straße", false},
		{"new\nline", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ValidAction(tt.in); got != tt.want {
				t.Fatalf("ValidAction(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"AbC_09-z", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{"a.b", false},
		{"a:b", false},
		{"a=", false},
		{"a/b", false},
		{"a+b", false},
		{"é", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ValidID(tt.in); got != tt.want {
				t.Fatalf("ValidID(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestNewID_Is22CharsOf128RandomBits(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		b, err := DecodeBase64(id)
		if len(id) != 22 || !ValidID(id) || err != nil || len(b) != 16 {
			t.Fatalf("NewID() = %q (decodes to %d bytes, %v), want 22 valid chars of 16 bytes", id, len(b), err)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
}

func TestBase64_RoundTripAndRefusals(t *testing.T) {
	roundTrip := []struct {
		b   []byte
		enc string
	}{
		{nil, ""},
		{[]byte{0}, "AA"},
		{[]byte{0xfb, 0xff}, "-_8"},
		{[]byte{1, 2, 3}, "AQID"},
	}
	for _, tt := range roundTrip {
		t.Run("roundtrip "+tt.enc, func(t *testing.T) {
			if got := EncodeBase64(tt.b); got != tt.enc {
				t.Fatalf("EncodeBase64(%x) = %q, want %q", tt.b, got, tt.enc)
			}
			got, err := DecodeBase64(tt.enc)
			if err != nil || !bytes.Equal(got, tt.b) {
				t.Fatalf("DecodeBase64(%q) = (%x, %v), want %x", tt.enc, got, err, tt.b)
			}
		})
	}
	refused := []struct{ name, in string }{
		{"padding", "AA=="},
		{"single padding", "AQI="},
		{"standard alphabet +", "+_8"},
		{"standard alphabet /", "-/8"},
		{"newline skipped by encoding/base64", "AQ\nID"},
		{"carriage return", "AQID\r"},
		{"space", "AQ ID"},
		{"non-zero trailing bits", "AB"},
		{"impossible length", "AQIDB"},
	}
	for _, tt := range refused {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			if got, err := DecodeBase64(tt.in); !errors.Is(err, ErrInvalidBase64) {
				t.Fatalf("DecodeBase64(%q) = (%x, %v), want ErrInvalidBase64", tt.in, got, err)
			}
		})
	}
}
