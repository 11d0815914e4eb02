package httpsig_test

import (
	"errors"
	"testing"

	"github.com/deviceauth/deviceauth/internal/httpsig"
)

func TestContentDigest_RFC9530Example(t *testing.T) {
	const want = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
	if got := httpsig.ContentDigest([]byte(`{"hello": "world"}`)); got != want {
		t.Errorf("ContentDigest = %q, want %q", got, want)
	}
}

func TestVerifyContentDigest(t *testing.T) {
	body := []byte(`{"hello": "world"}`)
	const (
		sha256OK = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
		sha512OK = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
	)
	tests := []struct {
		name  string
		lines []string
		want  error
	}{
		{"sha-256", []string{sha256OK}, nil},
		{"sha-512", []string{sha512OK}, nil},
		{"both", []string{sha512OK + ", " + sha256OK}, nil},
		{"two field lines", []string{sha256OK, sha512OK}, nil},
		{"unknown algorithm ignored", []string{"md5=:AAAA:, " + sha256OK}, nil},
		{"absent", nil, httpsig.ErrDigest},
		{"only unknown algorithms", []string{"sha=:AAAA:"}, httpsig.ErrDigest},
		{"wrong sha-256", []string{"sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"}, httpsig.ErrDigest},
		{"one right one wrong", []string{sha256OK + ", sha-512=:AA==:"}, httpsig.ErrDigest},
		{"not a byte sequence", []string{`sha-256="X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="`}, httpsig.ErrDigest},
		{"does not parse", []string{"sha-256=:X48E9q"}, httpsig.ErrDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := httpsig.VerifyContentDigest(tt.lines, body)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("VerifyContentDigest(%q) = %v, want %v", tt.lines, err, tt.want)
			}
		})
	}
	if err := httpsig.VerifyContentDigest([]string{sha256OK}, append(body, ' ')); !errors.Is(err, httpsig.ErrDigest) {
		t.Errorf("changed body: err = %v, want ErrDigest", err)
	}
}
