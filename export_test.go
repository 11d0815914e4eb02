package deviceauth

import (
	"context"
	"net/http"
)

// Test hooks: the passkey plumbing is unexported (its public face is
// Handler's endpoints); the package's external tests reach it here.

var (
	ErrPasskeyAssertion = errPasskeyAssertion
	ErrPasskeyClone     = errPasskeyClone
)

// PasskeyOptions is the step-up options endpoint without HTTP.
func (s *Service) PasskeyOptions(ctx context.Context, userID, id string) ([]byte, error) {
	return s.passkeyOptions(ctx, userID, id)
}

// RespondPasskey is the step-up answer endpoint without HTTP.
func (s *Service) RespondPasskey(ctx context.Context, r *http.Request, userID, id string, response []byte) (ResponseResult, error) {
	ip := s.ClientIP(r)
	if err := s.limitIP(ctx, "respond", ip, s.cfg.RateLimits.Respond); err != nil {
		return ResponseResult{}, err
	}
	return s.respondPasskey(ctx, userID, id, response, ipString(ip))
}

// UsePasskey records a use of a passkey as a sign-in does.
func (s *Service) UsePasskey(ctx context.Context, userID, credentialID string, signCount, flags uint32) error {
	return s.usePasskey(ctx, userID, credentialID, signCount, flags)
}

// RegisterPasskey runs a whole registration ceremony for userID with the
// verifier's response, as the two registration endpoints do.
func (s *Service) RegisterPasskey(ctx context.Context, userID, stepUpToken string, response []byte) (Credential, error) {
	_, c, err := s.beginPasskeyRegistration(ctx, userID, "passkey", stepUpToken)
	if err != nil {
		return Credential{}, err
	}
	return s.finishPasskeyRegistration(ctx, c.ID, userID, response, "")
}

// BeginPasskeyRegistration and FinishPasskeyRegistration are the two
// registration endpoints without HTTP.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, userID, stepUpToken string) (string, error) {
	_, c, err := s.beginPasskeyRegistration(ctx, userID, "passkey", stepUpToken)
	return c.ID, err
}

func (s *Service) FinishPasskeyRegistration(ctx context.Context, id, userID string, response []byte) (Credential, error) {
	return s.finishPasskeyRegistration(ctx, id, userID, response, "")
}

// BeginCeremony and TakeCeremony are the ceremony store without HTTP.
func (s *Service) BeginCeremony(ctx context.Context, kind, userID string, data []byte) (string, error) {
	c, err := s.beginCeremony(ctx, kind, userID, data, false)
	return c.ID, err
}

func (s *Service) TakeCeremony(ctx context.Context, id, kind, userID string) ([]byte, error) {
	c, err := s.takeCeremony(ctx, id, kind, userID)
	return c.Data, err
}

const (
	CeremonyPasskeyRegistration = ceremonyRegistration
	CeremonyPasskeyLogin        = ceremonyLogin
)

// QRBindingCookie is the binding cookie's name over plain http.
func QRBindingCookie(challengeID string) string { return qrBindingCookie(challengeID) }
