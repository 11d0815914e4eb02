package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/deviceauth/deviceauth"
)

// defaultKeyFile is where the token-signing key lives when -key-file is not
// given: next to a SQLite database, in the current directory for a server
// store, and nowhere (a new key each run) for the memory store, whose
// challenges die with the process anyway.
func defaultKeyFile(storeURL string) string {
	switch {
	case storeURL == "memory":
		return ""
	case strings.HasPrefix(storeURL, "sqlite:"):
		return strings.TrimPrefix(storeURL, "sqlite:") + ".key"
	}
	return "deviceauth-example.key"
}

// loadOrCreateKey reads the key in path (base64 of at least
// deviceauth.MinKeyBytes bytes), creating the file (mode 0600) with a new
// random key on first run, so that tokens and sign-ins survive a restart.
// An empty path gives a random key for this run only.
func loadOrCreateKey(path string) ([]byte, error) {
	if path == "" {
		return randomKey(), nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err = createKeyFile(path); errors.Is(err, fs.ErrExist) {
			err = nil // another process made it first: use theirs
		}
		if err != nil {
			return nil, err
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < deviceauth.MinKeyBytes {
		return nil, fmt.Errorf("key file %s: want base64 of at least %d random bytes", path, deviceauth.MinKeyBytes)
	}
	return key, nil
}

func createKeyFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(randomKey()) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func randomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails (crypto/rand, Go 1.24+)
	return k
}
