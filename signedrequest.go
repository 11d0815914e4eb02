package deviceauth

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"strings"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/httpsig"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// The RFC 9421 check of a device-signed request: the signature over the
// request by a registered key, its freshness and its nonce
// (docs/protocol.md).

// deviceIdentity is the credential that signed a device request; only the
// signature check below makes one.
type deviceIdentity = seam.Device

// authenticateDevice verifies a device-signed request (RFC 9421, docs/protocol.md)
// and records its nonce — only after the signature verified, so an
// unsigned flood cannot fill the replay cache. Every failure of the
// signature is the same ErrUnauthorized.
func (s *Service) authenticateDevice(w http.ResponseWriter, r *http.Request) (deviceIdentity, error) {
	dev, _, err := s.authenticateDeviceBody(w, r)
	return dev, err
}

// authenticateDeviceBody is authenticateDevice for requests with a body,
// which it returns once the signature (and its content digest) verified.
func (s *Service) authenticateDeviceBody(w http.ResponseWriter, r *http.Request) (deviceIdentity, []byte, error) {
	return s.authenticateDeviceWith(w, r, "", nil)
}

// authenticateDeviceWith is authenticateDeviceBody that, when challengeID
// is a valid ID, reads challenge challengeID together with the signing
// credential (one store call) and sets *ch to it. *ch stays zero when the
// challenge does not exist (the credential is then read alone, so an
// unknown challenge is told from an unknown key).
func (s *Service) authenticateDeviceWith(w http.ResponseWriter, r *http.Request, challengeID string, ch *store.Challenge) (deviceIdentity, []byte, error) {
	ctx := r.Context()
	ip := s.ClientIP(r)
	if err := s.limitIP(ctx, "fetch", ip, s.cfg.RateLimits.Fetch); err != nil {
		return deviceIdentity{}, nil, err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return deviceIdentity{}, nil, err
	}
	var cred store.Credential
	var storeErr error
	now := s.now()
	keyFunc := func(ctx context.Context, keyID string) (string, crypto.PublicKey, error) {
		var c store.Credential
		err := store.ErrNotFound
		if ch != nil && protocol.ValidID(challengeID) {
			var read store.Challenge
			read, c, err = s.cycle.GetChallengeCredential(ctx, challengeID, keyID, now)
			if err == nil {
				*ch = read
			}
		}
		if errors.Is(err, store.ErrNotFound) {
			c, err = s.store.GetCredential(ctx, keyID)
		}
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				storeErr = err
			}
			return "", nil, err
		}
		if c.Kind != store.KindDevice {
			return "", nil, store.ErrNotFound
		}
		k, err := s.pubkeys.parse(c.Algorithm, c.PublicKey)
		if err != nil {
			storeErr = err
			return "", nil, err
		}
		cred = c
		return httpsigAlgorithm(c.Algorithm), k.Key, nil
	}
	v, err := s.profile.Verify(ctx, r, body, now, keyFunc)
	if storeErr != nil {
		return deviceIdentity{}, nil, s.storeFailed(ctx, storeErr)
	}
	if err != nil {
		if ae, ok := errors.AsType[*httpsig.AuthorityError](err); ok {
			// The one misconfiguration a signature cannot say by itself:
			// the device is right but talks to another URL.
			s.log.InfoContext(ctx, "deviceauth: a device signed for another host than Config.PublicURL; set PublicURL to the URL devices use",
				"expectedAuthority", ae.Expected, "receivedAuthority", ae.Received, "credentialId", cred.ID)
		}
		s.emit(ctx, event.Event{Type: event.SignatureRejected, ClientIP: ipString(ip), Reason: "request"})
		return deviceIdentity{}, nil, ErrUnauthorized.with(err)
	}
	nonceKey := "nonce:" + v.KeyID + ":" + v.Nonce
	switch err := s.store.ClaimNonce(ctx, nonceKey, now.Add(2*s.cfg.ClockSkew), now); {
	case errors.Is(err, store.ErrConflict):
		s.emit(ctx, event.Event{Type: event.SignatureRejected, CredentialID: v.KeyID, ClientIP: ipString(ip), Reason: "replayed_nonce"})
		return deviceIdentity{}, nil, ErrUnauthorized
	case err != nil:
		return deviceIdentity{}, nil, s.storeFailed(ctx, err)
	}
	return deviceIdentity{CredentialID: cred.ID, UserID: cred.UserID}, body, nil
}

// httpsigAlgorithm maps a credential algorithm to its RFC 9421 name.
func httpsigAlgorithm(alg string) string {
	if strings.EqualFold(alg, protocol.AlgEdDSA) {
		return "ed25519"
	}
	return "ecdsa-p256-sha256"
}
