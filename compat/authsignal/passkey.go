package authsignal

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// Passkeys, as the browser SDK (passkey.signUp, signIn,
// isAvailableOnDevice) and the mobile SDKs call them, served when the
// Service has Config.Passkeys (docs/compat-authsignal.md#passkeys). The
// Service does the WebAuthn work with the same verifier as its own
// passkey endpoints; this file translates. A passkey added here is an
// ordinary passkey of the user's, and an assertion here is a real
// signature over a challenge the Service chose for the compat challenge
// (its ID, nonce, action and details), so its approval is not weak: the
// backend's /v1/validate reports PASSKEY.

// maxCredentialIDs caps the credential IDs one isAvailableOnDevice asks
// about.
const maxCredentialIDs = 32

// registrationOptionsBody is POST …/passkey/registration-options' body.
// The members are tolerated and ignored: the passkey's WebAuthn user names
// come from passkey.Config.UserNames, as for the Service's own passkeys,
// and its authenticator selection from passkey.Config.
type registrationOptionsBody struct {
	Username                json.RawMessage `json:"username"`
	DisplayName             json.RawMessage `json:"displayName"`
	AuthenticatorAttachment json.RawMessage `json:"authenticatorAttachment"`
}

// registrationOptionsResponse is a passkey registration's start: the
// ceremony's ID as challengeId, and the bare
// PublicKeyCredentialCreationOptionsJSON.
type registrationOptionsResponse struct {
	ChallengeID string          `json:"challengeId"`
	Options     json.RawMessage `json:"options"`
}

// passkeyRegistrationOptions is POST
// /v1/client/user-authenticators/passkey/registration-options with the
// client token: begins adding a passkey for the token's user, under the
// rules of adding a device key (a user who has a credential needs a token
// tracked with scope add:authenticators whose challenge was approved;
// consumed here).
func (h *Handler) passkeyRegistrationOptions(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		t, err := h.clientToken(r)
		if err != nil {
			return err
		}
		if err := h.readJSON(w, r, &registrationOptionsBody{}, true); err != nil {
			return err
		}
		reg := h.stepUp(t, seam.CompatRegistration{UserID: t.UserID, ClientIP: h.clientIP(r)})
		opts, id, err := seam.Compat.BeginPasskey(h.svc, r.Context(), reg)
		if err != nil {
			return err
		}
		bare, err := unwrapOptions(opts)
		if err != nil {
			return err
		}
		writeOK(w, registrationOptionsResponse{ChallengeID: id, Options: bare})
		return nil
	}()
	if err != nil {
		writeError(w, err)
	}
}

// stepUp returns reg with the step-up of client token t: the challenge
// token of its track's challenge when the track asked for scope
// add:authenticators, admitting a compat key's approval of it for
// Config.WeakActions.
func (h *Handler) stepUp(t clientToken, reg seam.CompatRegistration) seam.CompatRegistration {
	if t.AddScope && t.ChallengeID != "" {
		reg.StepUpToken, reg.StepUpAction, reg.WeakStepUp = seam.Compat.Token(h.svc, t.ChallengeID), t.Action, h.weak(t.Action)
	}
	return reg
}

// addPasskeyBody is POST …/passkey's body. conditionalCreate (browser) and
// deviceId (Android) are tolerated and ignored.
type addPasskeyBody struct {
	ChallengeID            string          `json:"challengeId"`
	RegistrationCredential json.RawMessage `json:"registrationCredential"`
	ConditionalCreate      json.RawMessage `json:"conditionalCreate"`
	DeviceID               json.RawMessage `json:"deviceId"`
}

// addPasskeyResponse is a registered passkey. It carries no accessToken:
// adding a passkey verifies nothing about the track's action
// (docs/compat-authsignal.md#passkeys).
type addPasskeyResponse struct {
	IsVerified          bool          `json:"isVerified"`
	UserAuthenticatorID string        `json:"userAuthenticatorId"`
	UserID              string        `json:"userId"`
	UserAuthenticator   authenticator `json:"userAuthenticator"`
}

// addPasskey is POST /v1/client/user-authenticators/passkey with the
// client token: finishes the registration the ceremony challengeId began
// for the token's user, once.
func (h *Handler) addPasskey(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		t, err := h.clientToken(r)
		if err != nil {
			return err
		}
		var b addPasskeyBody
		if err := h.readJSON(w, r, &b, false); err != nil {
			return err
		}
		if b.ChallengeID == "" || len(b.RegistrationCredential) == 0 {
			return errInvalid.describe("challengeId and registrationCredential are required")
		}
		c, err := seam.Compat.FinishPasskey(h.svc, r.Context(), b.ChallengeID, t.UserID, b.RegistrationCredential, h.clientIP(r))
		if err != nil {
			return err
		}
		writeOK(w, addPasskeyResponse{IsVerified: true, UserAuthenticatorID: c.ID, UserID: c.UserID, UserAuthenticator: authenticatorOf(c)})
		return nil
	}()
	if err != nil {
		writeError(w, err)
	}
}

// passkeyCaller is who asks for a passkey answer: the client token's user
// and its track's challenge, or (tenant is true) anyone with the tenant's
// Basic header, for a challenge of POST /v1/client/challenge.
type passkeyCaller struct {
	token  clientToken
	tenant bool
}

// passkeyCallerOf returns r's caller: the client token when r has a Bearer
// header, else the tenant's Basic header.
func (h *Handler) passkeyCallerOf(r *http.Request) (passkeyCaller, error) {
	if _, ok := bearer(r); ok {
		t, err := h.clientToken(r)
		return passkeyCaller{token: t}, err
	}
	if !h.tenant(r) {
		return passkeyCaller{}, errUnauthorized
	}
	return passkeyCaller{tenant: true}, nil
}

// challenge returns the compat challenge the caller answers and its user
// ("" when the passkey will name it): the token's own challenge (which
// challengeID, when sent, must name), or challengeID.
func (c passkeyCaller) challenge(challengeID string) (id, userID string, err error) {
	if c.tenant {
		if challengeID == "" {
			return "", "", errInvalid.describe("challengeId is required: sign in with an action, or with the track's token")
		}
		return challengeID, "", nil
	}
	if c.token.ChallengeID == "" || (challengeID != "" && challengeID != c.token.ChallengeID) {
		return "", "", errNotFound.describe("the track created no such challenge")
	}
	return c.token.ChallengeID, c.token.UserID, nil
}

// authenticationOptionsResponse is what a passkey answer is asked with:
// the bare PublicKeyCredentialRequestOptionsJSON and the challenge's ID.
type authenticationOptionsResponse struct {
	Options     json.RawMessage `json:"options"`
	ChallengeID string          `json:"challengeId"`
}

// passkeyAuthenticationOptions is POST
// /v1/client/user-authenticators/passkey/authentication-options: the
// request options of a passkey answer to the caller's challenge, whose
// WebAuthn challenge the Service derives from it (nothing is stored).
func (h *Handler) passkeyAuthenticationOptions(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		caller, err := h.passkeyCallerOf(r)
		if err != nil {
			return err
		}
		var b struct {
			ChallengeID string `json:"challengeId"`
		}
		if err := h.readJSON(w, r, &b, true); err != nil {
			return err
		}
		id, userID, err := caller.challenge(b.ChallengeID)
		if err != nil {
			return err
		}
		opts, err := seam.Compat.PasskeyOptions(h.svc, r.Context(), id, userID, h.clientIP(r))
		if err != nil {
			return err
		}
		bare, err := unwrapOptions(opts)
		if err != nil {
			return err
		}
		writeOK(w, authenticationOptionsResponse{Options: bare, ChallengeID: id})
		return nil
	}()
	if err != nil {
		writeError(w, err)
	}
}

// verifyPasskeyBody is POST /v1/client/verify/passkey's body. deviceId
// (the browser's anonymous cookie ID, the mobile SDKs' device ID) is
// tolerated and ignored.
type verifyPasskeyBody struct {
	ChallengeID              string          `json:"challengeId"`
	AuthenticationCredential json.RawMessage `json:"authenticationCredential"`
	DeviceID                 json.RawMessage `json:"deviceId"`
}

// verifyPasskeyResponse is an approval by passkey, with the token the
// backend validates once.
type verifyPasskeyResponse struct {
	IsVerified          bool   `json:"isVerified"`
	AccessToken         string `json:"accessToken"`
	UserID              string `json:"userId"`
	UserAuthenticatorID string `json:"userAuthenticatorId"`
}

// verifyPasskey is POST /v1/client/verify/passkey: the passkey's assertion
// approves the caller's challenge (claiming one of POST
// /v1/client/challenge for the passkey's user first).
func (h *Handler) verifyPasskey(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		caller, err := h.passkeyCallerOf(r)
		if err != nil {
			return err
		}
		var b verifyPasskeyBody
		if err := h.readJSON(w, r, &b, false); err != nil {
			return err
		}
		if len(b.AuthenticationCredential) == 0 {
			return errInvalid.describe("authenticationCredential is required")
		}
		id, userID, err := caller.challenge(b.ChallengeID)
		if err != nil {
			return err
		}
		ch, c, err := seam.Compat.AnswerPasskey(h.svc, r.Context(), id, userID, b.AuthenticationCredential, h.clientIP(r))
		if err != nil {
			return err
		}
		writeOK(w, verifyPasskeyResponse{IsVerified: true, AccessToken: seam.Compat.Token(h.svc, ch.ID), UserID: ch.UserID, UserAuthenticatorID: c.ID})
		return nil
	}()
	if err != nil {
		writeError(w, err)
	}
}

// passkeyAuthenticatorResponse is a known passkey, as Android decodes it
// (credentialId and verifiedAt required); the browser reads the status
// only. The user is not named: anyone with the tenant ID may ask.
type passkeyAuthenticatorResponse struct {
	CredentialID        string `json:"credentialId"`
	UserAuthenticatorID string `json:"userAuthenticatorId"`
	VerifiedAt          string `json:"verifiedAt"`
}

// getPasskey is GET /v1/client/user-authenticators/passkey with
// ?credentialIds=<id>,… (browser) or ?credentialId=<id> (mobile), WebAuthn
// credential IDs in base64url: 200 with the first that is a registered
// passkey, 404 when none is.
func (h *Handler) getPasskey(w http.ResponseWriter, r *http.Request) {
	h.device(w, r, func() error {
		if err := seam.Compat.Limit(h.svc, r.Context(), "fetch", h.clientIP(r)); err != nil {
			return err
		}
		ids, err := queryCredentialIDs(r)
		if err != nil {
			return err
		}
		for _, id := range ids {
			raw, _ := base64.RawURLEncoding.DecodeString(id)
			c, err := seam.Compat.Passkey(h.svc, r.Context(), seam.CredentialID(raw))
			if errors.Is(err, deviceauth.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			writeOK(w, passkeyAuthenticatorResponse{CredentialID: id, UserAuthenticatorID: c.ID, VerifiedAt: stamp(c.CreatedAt)})
			return nil
		}
		return errNotFound.describe("no such passkey")
	})
}

// queryCredentialIDs returns the credential IDs of r's query: exactly one
// of credentialIds (comma-separated) and credentialId, nothing else, at
// most maxCredentialIDs IDs of unpadded base64url.
func queryCredentialIDs(r *http.Request) ([]string, error) {
	q := r.URL.Query()
	bad := errInvalid.describe("the query must be credentialIds (comma-separated) or credentialId: base64url WebAuthn credential IDs")
	var ids []string
	switch {
	case len(q) == 1 && len(q["credentialIds"]) == 1:
		ids = strings.Split(q.Get("credentialIds"), ",")
	case len(q) == 1 && len(q["credentialId"]) == 1:
		ids = []string{q.Get("credentialId")}
	default:
		return nil, bad
	}
	if len(ids) > maxCredentialIDs {
		return nil, bad
	}
	for _, id := range ids {
		if raw, err := base64.RawURLEncoding.DecodeString(id); err != nil || len(raw) == 0 || len(raw) > 1023 {
			return nil, bad
		}
	}
	return ids, nil
}

// unwrapOptions returns the options go-webauthn wraps as {"publicKey": …}
// bare, as the SDKs read them.
func unwrapOptions(opts []byte) (json.RawMessage, error) {
	var o struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil || len(o.PublicKey) == 0 {
		return nil, errors.New("authsignal: passkey options without publicKey")
	}
	return o.PublicKey, nil
}

// authenticatorOf is credential c as the SDKs list authenticators.
func authenticatorOf(c store.Credential) authenticator {
	return authenticator{UserID: c.UserID, UserAuthenticatorID: c.ID, VerificationMethod: methodOfCredential(c),
		CreatedAt: stamp(c.CreatedAt), VerifiedAt: stamp(c.CreatedAt), LastVerifiedAt: stamp(c.LastUsedAt),
		DeviceName: c.Name, Platform: c.Platform}
}
