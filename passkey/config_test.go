package passkey_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/passkey"
)

func TestNew_ValidatesConfig(t *testing.T) {
	good := func() passkey.Config {
		return passkey.Config{RPID: "example.com", Origins: []string{"https://example.com", "https://app.example.com:8443", "http://localhost:8080"},
			DisplayName: "Example", Key: bytes.Repeat([]byte{1}, 32)}
	}
	if _, err := passkey.New(good()); err == nil {
		t.Fatal("http://localhost is outside RP ID example.com and must be refused")
	}
	ok := good()
	ok.Origins = ok.Origins[:2]
	if _, err := passkey.New(ok); err != nil {
		t.Fatalf("a good config: %v", err)
	}
	local := passkey.Config{RPID: "localhost", Origins: []string{"http://localhost", "http://localhost:8080"}, DisplayName: "Dev", Key: bytes.Repeat([]byte{1}, 32)}
	if _, err := passkey.New(local); err != nil {
		t.Fatalf("a development config: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*passkey.Config)
		field string // the error names Config.<field>
	}{
		{"no RP ID", func(c *passkey.Config) { c.RPID = "" }, "RPID"},
		{"RP ID with scheme", func(c *passkey.Config) { c.RPID = "https://example.com" }, "RPID"},
		{"RP ID with port", func(c *passkey.Config) { c.RPID = "example.com:443" }, "RPID"},
		{"RP ID an IP address", func(c *passkey.Config) { c.RPID = "127.0.0.1" }, "RPID"},
		{"RP ID upper case", func(c *passkey.Config) { c.RPID = "Example.com" }, "RPID"},
		{"no origins", func(c *passkey.Config) { c.Origins = nil }, "Origins"},
		{"http origin", func(c *passkey.Config) { c.Origins = []string{"http://example.com"} }, "Origins[0]"},
		{"origin with path", func(c *passkey.Config) { c.Origins = []string{"https://example.com/app"} }, "Origins[0]"},
		{"origin with trailing slash", func(c *passkey.Config) { c.Origins = []string{"https://example.com/"} }, "Origins[0]"},
		{"origin outside the RP ID", func(c *passkey.Config) { c.Origins = []string{"https://example.com", "https://evilexample.com"} }, "Origins[1]"},
		{"origin not absolute", func(c *passkey.Config) { c.Origins = []string{"example.com"} }, "Origins[0]"},
		{"origin of another scheme", func(c *passkey.Config) { c.Origins = []string{"ftp://example.com"} }, "Origins[0]"},
		{"no display name", func(c *passkey.Config) { c.DisplayName = "" }, "DisplayName"},
		{"display name with a control", func(c *passkey.Config) { c.DisplayName = "a\x00b" }, "DisplayName"},
		{"short key", func(c *passkey.Config) { c.Key = make([]byte, 31) }, "Key"},
		{"attestation", func(c *passkey.Config) { c.Attestation = "always" }, "Attestation"},
		{"user verification", func(c *passkey.Config) { c.UserVerification = "sometimes" }, "UserVerification"},
		{"registration timeout short", func(c *passkey.Config) { c.RegistrationTimeout = time.Second }, "RegistrationTimeout"},
		{"login timeout long", func(c *passkey.Config) { c.LoginTimeout = time.Hour }, "LoginTimeout"},
		{"allow credentials", func(c *passkey.Config) { c.AllowCredentials = 33 }, "AllowCredentials"},
	}
	for _, tt := range tests {
		cfg := ok
		cfg.Origins = append([]string(nil), ok.Origins...)
		tt.edit(&cfg)
		_, err := passkey.New(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), "passkey: Config."+tt.field+" ") {
			t.Errorf("%s: %v, want an error naming Config.%s", tt.name, err, tt.field)
		}
	}
}
