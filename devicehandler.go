package deviceauth

import (
	"encoding/json"
	"net/http"

	"github.com/deviceauth/deviceauth/internal/protocol"
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

// scan reads data when it is a response body as the device package
// writes it (members in the protocol's order, no whitespace, strings
// without escapes), and reports false, with b unchanged, for anything
// else, which the strict decoder then reads. It accepts nothing the strict
// decoder refuses, and decodes what it accepts to the same values
// (FuzzRespondBodyScanAsStrict).
func (b *respondBody) scan(data []byte) bool {
	sc := protocol.NewScanner(data)
	var v respondBody
	v.CredentialID = sc.Member(`{"credentialId":`)
	v.Decision = sc.Member(`,"decision":`)
	v.DenyReason = sc.OptionalMember(`,"denyReason":`)
	v.VerificationCode = sc.OptionalMember(`,"verificationCode":`)
	v.SignatureFormat = sc.OptionalMember(`,"signatureFormat":`)
	sig := sc.Member(`,"signature":`)
	if !sc.End() {
		return false
	}
	var err error
	if v.Signature, err = protocol.DecodeBase64(sig); err != nil {
		return false
	}
	*b = v
	return true
}

func (s *Service) handleRespond(w http.ResponseWriter, r *http.Request) {
	var b respondBody
	body, err := s.readBody(w, r)
	if err == nil && !b.scan(body) {
		err = decodeJSON(body, &b)
	}
	if err != nil {
		s.fail(w, r, err)
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
	writeRaw(w, http.StatusOK, res.appendJSON(make([]byte, 0, 64+len(res.ChallengeID))))
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
	writeView(w, &v)
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
