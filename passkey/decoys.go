package passkey

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"slices"

	"github.com/go-webauthn/webauthn/protocol"

	iprotocol "github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// decoyLengths are credential ID lengths that real authenticators use
// (platform passkeys 16 to 32 bytes, security keys up to 64), so a decoy
// does not stand out by its length.
var decoyLengths = [...]int{16, 20, 32, 64}

// allowList is the allowCredentials of a username-first sign-in for
// username: the passkeys in creds padded with decoys to
// Config.AllowCredentials, sorted by ID. Decoys are derived from the
// username with a key of Config.Key, so the list of an unknown username is
// the same on every request and every instance, like a real one, and
// without the key nobody can tell a decoy from a passkey. No descriptor
// carries transports: a real one would stand out.
func (p *Passkeys) allowList(username string, creds []store.Credential) ([]protocol.CredentialDescriptor, error) {
	list := make([]protocol.CredentialDescriptor, 0, max(len(creds), p.cfg.AllowCredentials))
	for _, c := range creds {
		rec, err := decodeRecord(c)
		if err != nil {
			return nil, err
		}
		list = append(list, protocol.CredentialDescriptor{Type: protocol.PublicKeyCredentialType, CredentialID: rec.Credential.ID})
	}
	for i := 0; len(list) < p.cfg.AllowCredentials; i++ {
		list = append(list, protocol.CredentialDescriptor{Type: protocol.PublicKeyCredentialType, CredentialID: p.decoy(username, i)})
	}
	slices.SortFunc(list, func(a, b protocol.CredentialDescriptor) int { return bytes.Compare(a.CredentialID, b.CredentialID) })
	return list, nil
}

// decoy is the i-th decoy credential ID of username.
func (p *Passkeys) decoy(username string, i int) []byte {
	info := iprotocol.Frame("deviceauth/v1/passkey-decoy", []byte(username), binary.BigEndian.AppendUint32(nil, uint32(i)))
	out, err := hkdf.Expand(sha256.New, p.decoyKey, string(info), 1+decoyLengths[len(decoyLengths)-1])
	if err != nil { // only for lengths over 255 × 32 bytes
		panic(err)
	}
	n := decoyLengths[int(out[0])%len(decoyLengths)]
	return out[1 : 1+n]
}
