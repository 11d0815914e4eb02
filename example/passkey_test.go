package main

import (
	"bytes"
	"log/slog"
	"net/url"
	"testing"
)

func TestNewPasskeys_RPIDFromBaseURL(t *testing.T) {
	tests := []struct {
		base string
		rpID string // "" when the demo runs without passkeys
	}{
		{"http://localhost:8080", "localhost"},
		{"http://127.0.0.1:8080", "localhost"}, // WebAuthn refuses IP addresses: use http://localhost:8080
		{"http://[::1]:8080", "localhost"},
		{"https://demo.example.com", "demo.example.com"},
		{"http://demo.example.com", ""},
		{"https://192.0.2.1", ""},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.base)
		pk, err := newPasskeys(u, bytes.Repeat([]byte{1}, 32), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("%s: %v", tt.base, err)
		}
		got := ""
		if pk != nil {
			got = pk.RPID()
		}
		if got != tt.rpID {
			t.Errorf("%s: RP ID %q, want %q", tt.base, got, tt.rpID)
		}
		if v := passkeyVerifier(pk); (v == nil) != (pk == nil) {
			t.Errorf("%s: the verifier is %v for %v", tt.base, v, pk)
		}
	}
}
