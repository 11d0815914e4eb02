package attest

import (
	"crypto/x509"
	"fmt"
	"time"
)

// chainPolicy is what differs between the Android and Apple chain checks.
type chainPolicy struct {
	roots []rootKey
	// expiredIntermediatesOK skips the NotAfter check of certificates other than the leaf.
	expiredIntermediatesOK bool
	revoked                *RevocationList
}

// parseChain parses DER certificates, leaf first.
func parseChain(ders [][]byte) ([]*x509.Certificate, error) {
	if len(ders) == 0 {
		return nil, fmt.Errorf("%w: empty certificate chain", ErrMalformed)
	}
	if len(ders) > maxChainLen {
		return nil, fmt.Errorf("%w: %d certificates, at most %d", ErrMalformed, len(ders), maxChainLen)
	}
	certs := make([]*x509.Certificate, len(ders))
	for i, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d does not parse in Go's crypto/x509: %v", ErrMalformed, i, err)
		}
		certs[i] = c
	}
	return certs, nil
}

// maxChainLen bounds the work an attacker can ask for; real chains have 2 to 5 certificates.
const maxChainLen = 8

// verifyChain checks certs (leaf first) the way Google's verifier does: each link's signature
// with the next certificate's key, and the chain ends either at a certificate carrying a
// pinned root key (trusted by key: its own validity and self-signature do not matter) or at a
// certificate signed by one. The CA bit and issuer names are not consulted, because retail
// devices get them wrong. Then every certificate below the anchor must be valid at `at` and no
// certificate may be on the revocation list.
func verifyChain(certs []*x509.Certificate, p chainPolicy, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("%w: no verification time given", ErrValidity)
	}
	last := len(certs) - 1
	for i := 0; i < last; i++ {
		if err := checkSignature(certs[i+1].PublicKey, certs[i]); err != nil {
			return fmt.Errorf("%w: certificate %d is not signed by certificate %d: %v", ErrSignature, i, i+1, err)
		}
	}
	_, anchored := pinnedByKey(p.roots, certs[last])
	checked := certs // certificates whose validity matters
	if anchored {
		checked = certs[:last]
	} else if _, anchored = signedByPinned(p.roots, certs[last]); !anchored {
		return fmt.Errorf("%w: the last certificate (%s) neither carries nor is signed by a pinned key", ErrUntrustedRoot, certs[last].Subject)
	}
	for i, c := range checked {
		expiredOK := i > 0 && p.expiredIntermediatesOK
		if at.Before(c.NotBefore) || (!expiredOK && at.After(c.NotAfter)) {
			return fmt.Errorf("%w: certificate %d is valid %s to %s, not at %s", ErrValidity, i,
				c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
		}
	}
	if p.revoked != nil {
		for i, c := range certs {
			if e, ok := p.revoked.Lookup(c.SerialNumber); ok {
				return fmt.Errorf("%w: certificate %d (serial %x) is %s (%s)", ErrRevoked, i, c.SerialNumber, e.Status, e.Reason)
			}
		}
	}
	return nil
}
