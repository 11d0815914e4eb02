package roottest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/seam"
)

// Typed wrappers of the Service's steps that have no public face
// (internal/seam.Steps).

// passkeyOptions is the step-up options endpoint without HTTP.
func passkeyOptions(svc *deviceauth.Service, ctx context.Context, userID, id string) ([]byte, error) {
	return seam.Steps.PasskeyOptions(svc, ctx, userID, id)
}

// respondPasskey is the step-up answer endpoint without HTTP, for a
// request from r's remote address.
func respondPasskey(svc *deviceauth.Service, ctx context.Context, r *http.Request, userID, id string, response []byte) (deviceauth.AnswerResult, error) {
	ip, _, _ := strings.Cut(r.RemoteAddr, ":")
	res, err := seam.Steps.RespondPasskey(svc, ctx, ip, userID, id, response)
	return res.(deviceauth.AnswerResult), err
}

// usePasskey records a passkey's use as a sign-in does.
func usePasskey(svc *deviceauth.Service, ctx context.Context, userID, credentialID string, signCount, flags uint32) error {
	return seam.Steps.UsePasskey(svc, ctx, userID, credentialID, signCount, flags)
}

// registerPasskey runs a whole registration ceremony.
func registerPasskey(svc *deviceauth.Service, ctx context.Context, userID, stepUpToken string, response []byte) (deviceauth.Credential, error) {
	id, err := seam.Steps.BeginPasskeyRegistration(svc, ctx, userID, stepUpToken)
	if err != nil {
		return deviceauth.Credential{}, err
	}
	return finishPasskeyRegistration(svc, ctx, id, userID, response)
}

func beginPasskeyRegistration(svc *deviceauth.Service, ctx context.Context, userID, stepUpToken string) (string, error) {
	return seam.Steps.BeginPasskeyRegistration(svc, ctx, userID, stepUpToken)
}

func finishPasskeyRegistration(svc *deviceauth.Service, ctx context.Context, id, userID string, response []byte) (deviceauth.Credential, error) {
	c, err := seam.Steps.FinishPasskeyRegistration(svc, ctx, id, userID, response)
	return c.(deviceauth.Credential), err
}

// qrBindingCookie is the binding cookie's name over plain http.
func qrBindingCookie(challengeID string) string { return seam.QRBindingCookiePrefix + challengeID }

// isCode reports whether err is a deviceauth error with the given code
// (for the sentinels that are not exported).
func isCode(err error, code string) bool {
	var e *deviceauth.Error
	return errors.As(err, &e) && e.Code == code
}
