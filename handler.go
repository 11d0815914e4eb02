package deviceauth

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/httpsig"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// registerBody is the JSON of POST /v1/credentials.
type registerBody struct {
	Token           string    `json:"token"`
	Algorithm       string    `json:"algorithm"`
	PublicKey       base64URL `json:"publicKey"`
	SignatureFormat string    `json:"signatureFormat,omitempty"`
	Signature       base64URL `json:"signature"`
	Name            string    `json:"name"`
	Platform        string    `json:"platform,omitempty"`
	PushToken       string    `json:"pushToken,omitempty"`
	// Attestation is passed as it is to Config.Attestation.
	Attestation json.RawMessage `json:"attestation,omitempty"`
}

func (s *Service) handleRegister(w http.ResponseWriter, r *http.Request) {
	var b registerBody
	if !s.readJSON(w, r, &b) {
		return
	}
	if b.Token == "" || b.Algorithm == "" || len(b.PublicKey) == 0 || len(b.Signature) == 0 {
		s.fail(w, r, ErrInvalidRequest.withMessage("token, algorithm, publicKey and signature are required"))
		return
	}
	if len(b.Attestation) > 0 && b.Attestation[0] != '{' && string(b.Attestation) != "null" {
		s.fail(w, r, ErrInvalidRequest.withMessage("attestation must be an object"))
		return
	}
	c, err := s.Register(r.Context(), Registration{
		Token: b.Token, Algorithm: b.Algorithm, PublicKey: b.PublicKey, SignatureFormat: b.SignatureFormat,
		Signature: b.Signature, Name: b.Name, Platform: b.Platform, PushToken: b.PushToken, Attestation: b.Attestation, ClientIP: s.ClientIP(r),
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

// respondBody is the JSON of POST /v1/challenges/{id}/response.
type respondBody struct {
	CredentialID     string    `json:"credentialId"`
	Decision         string    `json:"decision"`
	DenyReason       string    `json:"denyReason,omitempty"`
	VerificationCode string    `json:"verificationCode,omitempty"`
	SignatureFormat  string    `json:"signatureFormat,omitempty"`
	Signature        base64URL `json:"signature"`
}

func (s *Service) handleRespond(w http.ResponseWriter, r *http.Request) {
	var b respondBody
	if !s.readJSON(w, r, &b) {
		return
	}
	if b.CredentialID == "" || b.Decision == "" || len(b.Signature) == 0 {
		s.fail(w, r, ErrInvalidRequest.withMessage("credentialId, decision and signature are required"))
		return
	}
	res, err := s.Respond(r.Context(), DeviceAnswer{
		ChallengeID: r.PathValue("id"), CredentialID: b.CredentialID, Decision: b.Decision,
		DenyReason: b.DenyReason, VerificationCode: b.VerificationCode, SignatureFormat: b.SignatureFormat,
		Signature: b.Signature, ClientIP: s.ClientIP(r),
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Service) handleFetch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var ch store.Challenge
	dev, _, err := s.authenticateDeviceWith(w, r, id, &ch)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var v ChallengeView
	if ch.ID != "" {
		// Read with the device's key, in the same store call.
		v, err = s.fetched(dev, ch)
	} else {
		v, err = s.fetchChallenge(r.Context(), dev, id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// PendingList is the JSON of GET /v1/challenges.
type PendingList struct {
	Challenges []ChallengeView `json:"challenges"`
}

func (s *Service) handlePending(w http.ResponseWriter, r *http.Request) {
	dev, err := s.authenticateDevice(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	vs, err := s.pendingChallenges(r.Context(), dev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, PendingList{Challenges: vs})
}

func (s *Service) handleRemoveSelf(w http.ResponseWriter, r *http.Request) {
	dev, err := s.authenticateDevice(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.PathValue("id") != dev.CredentialID {
		// A device removes only itself; other removals go through the web
		// with step-up.
		s.fail(w, r, ErrNotFound)
		return
	}
	if err := s.removeSelf(r.Context(), dev); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// pushTokenBody is the JSON of PUT /v1/credentials/{id}/push-token.
type pushTokenBody struct {
	PushToken *string `json:"pushToken"`
}

func (s *Service) handleSetPushToken(w http.ResponseWriter, r *http.Request) {
	dev, body, err := s.authenticateDeviceBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.PathValue("id") != dev.CredentialID {
		s.fail(w, r, ErrNotFound) // a device sets only its own token
		return
	}
	var b pushTokenBody
	if err := decodeJSON(body, &b); err != nil {
		s.fail(w, r, err)
		return
	}
	if b.PushToken == nil {
		s.fail(w, r, ErrInvalidRequest.withMessage(`pushToken is required ("" removes it)`))
		return
	}
	if err := s.setPushToken(r.Context(), dev, *b.PushToken); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

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
