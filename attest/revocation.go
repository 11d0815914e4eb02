package attest

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// RevocationList is the operator's copy of Google's attestation certificate status list
// (https://android.googleapis.com/attestation/status), or any set of serials the operator
// refuses. The verifier never fetches it: the operator downloads it on their own schedule,
// checks it, and passes the parsed value in AndroidConfig. Any entry refuses the certificate,
// whatever its status (REVOKED or SUSPENDED) or reason.
type RevocationList struct {
	// Entries maps a certificate serial number, lowercase hexadecimal without leading zeros,
	// to its status.
	Entries map[string]RevocationEntry `json:"entries"`
}

// RevocationEntry is one entry of the status list.
type RevocationEntry struct {
	Status  string `json:"status"`            // REVOKED or SUSPENDED
	Reason  string `json:"reason,omitempty"`  // e.g. KEY_COMPROMISE
	Comment string `json:"comment,omitempty"` // free text
}

// ParseRevocationList parses Google's status list JSON ({"entries": {"<hex serial>": {...}}}).
// Serials are normalised to lowercase without leading zeros; a key that is not hexadecimal is
// an error, so a damaged file is noticed rather than silently matching nothing.
func ParseRevocationList(b []byte) (*RevocationList, error) {
	var raw RevocationList
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("attest: revocation list: %w", err)
	}
	if raw.Entries == nil {
		return nil, fmt.Errorf("attest: revocation list: no \"entries\" object")
	}
	l := &RevocationList{Entries: make(map[string]RevocationEntry, len(raw.Entries))}
	for k, e := range raw.Entries {
		n, ok := new(big.Int).SetString(strings.TrimSpace(k), 16)
		if !ok || n.Sign() < 0 {
			return nil, fmt.Errorf("attest: revocation list: serial %q is not hexadecimal", k)
		}
		l.Entries[n.Text(16)] = e
	}
	return l, nil
}

// RevokedSerials builds a list that refuses the given certificate serial numbers.
func RevokedSerials(serials ...*big.Int) *RevocationList {
	l := &RevocationList{Entries: make(map[string]RevocationEntry, len(serials))}
	for _, s := range serials {
		l.Entries[s.Text(16)] = RevocationEntry{Status: "REVOKED"}
	}
	return l
}

// Lookup returns the entry for serial, if the list has one.
func (l *RevocationList) Lookup(serial *big.Int) (RevocationEntry, bool) {
	if l == nil || serial == nil {
		return RevocationEntry{}, false
	}
	e, ok := l.Entries[serial.Text(16)]
	return e, ok
}
