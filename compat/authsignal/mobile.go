package authsignal

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// The mobile SDKs' device endpoints (iOS, Android, and React Native and
// Flutter, which wrap them): a key per namespace (push, qr-code, in-app),
// found by its public key, signing challenge IDs.

// credentialResponse is a device credential as the SDKs decode it (their
// decoders need userAuthenticatorId, userId and verifiedAt).
type credentialResponse struct {
	UserAuthenticatorID string `json:"userAuthenticatorId"`
	UserID              string `json:"userId"`
	VerifiedAt          string `json:"verifiedAt"`
	LastVerifiedAt      string `json:"lastVerifiedAt,omitempty"`
}

func credentialOf(c store.Credential) credentialResponse {
	return credentialResponse{UserAuthenticatorID: c.ID, UserID: c.UserID, VerifiedAt: stamp(c.CreatedAt), LastVerifiedAt: stamp(c.LastUsedAt)}
}

// device wraps a device endpoint: the tenant's Basic header first.
func (h *Handler) device(w http.ResponseWriter, r *http.Request, f func() error) {
	if !h.tenant(r) {
		writeError(w, errUnauthorized)
		return
	}
	if err := f(); err != nil {
		writeError(w, err)
	}
}

// clientIP is r's client IP as the Service sees it.
func (h *Handler) clientIP(r *http.Request) string {
	ip := h.svc.ClientIP(r)
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}

// getCredential is GET /v1/client/user-authenticators/{ns}?publicKey=:
// the credential of a key, which the SDK asks before it adds one.
func (h *Handler) getCredential(w http.ResponseWriter, r *http.Request) {
	h.device(w, r, func() error {
		id, err := h.queryCredential(r)
		if err != nil {
			return err
		}
		c, err := seam.Compat.Credential(h.svc, r.Context(), id)
		if err != nil {
			return err
		}
		writeOK(w, credentialOf(c))
		return nil
	})
}

// queryCredential returns the credential ID of r's publicKey query,
// counting the lookup against the fetch rate limit.
func (h *Handler) queryCredential(r *http.Request) (string, error) {
	if err := seam.Compat.Limit(h.svc, r.Context(), "fetch", h.clientIP(r)); err != nil {
		return "", err
	}
	key, ok := queryPublicKey(r)
	if !ok {
		return "", errInvalid.describe("publicKey must be the device's public key")
	}
	id, ok := credentialIDOf(key)
	if !ok {
		return "", errInvalid.describe("publicKey must be the device's public key")
	}
	return id, nil
}

// addBody is addCredential's body. performAttestation is tolerated and
// ignored: Play Integrity cannot be verified offline, and an unverified
// attestation proves nothing (docs/compat-authsignal.md).
type addBody struct {
	PublicKey          string          `json:"publicKey"`
	DeviceName         string          `json:"deviceName"`
	DevicePlatform     string          `json:"devicePlatform"`
	PushToken          string          `json:"pushToken"`
	PerformAttestation json.RawMessage `json:"performAttestation"`
}

// addCredential is POST /v1/client/user-authenticators/{ns} with the
// client token of a track: adds the key for the token's user with no
// proof of possession. A user who has a credential needs a token tracked
// with scope add:authenticators whose challenge was approved (the
// step-up, consumed here).
func (h *Handler) addCredential(ns string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.add(w, r, ns); err != nil {
			writeError(w, err)
		}
	}
}

func (h *Handler) add(w http.ResponseWriter, r *http.Request, ns string) error {
	tok, ok := bearer(r)
	if !ok {
		return errUnauthorized
	}
	t, err := h.openClient(tok, seam.Compat.Now(h.svc))
	if err != nil {
		return err
	}
	var b addBody
	if err := h.readJSON(w, r, &b, false); err != nil {
		return err
	}
	spki, ok := decodeKey(b.PublicKey)
	if !ok {
		return errInvalid.describe("publicKey must be the base64 of the key's SPKI DER")
	}
	reg := h.stepUp(t, seam.CompatRegistration{UserID: t.UserID, PublicKey: spki, Name: truncate(b.DeviceName, 64),
		Platform: b.DevicePlatform, PushToken: b.PushToken, Data: []byte(ns), ClientIP: h.clientIP(r)})
	c, err := seam.Compat.Register(h.svc, r.Context(), reg)
	if err != nil {
		return err
	}
	writeOK(w, credentialOf(c))
	return nil
}

// truncate cuts s to at most n bytes at a character boundary (the SDKs
// send the OS's device name, which may be longer than a name may be).
func truncate(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// signedBody is the body of the requests a device signs: the key that
// signs and its signature, with the challenge for those about one.
type signedBody struct {
	ChallengeID      string `json:"challengeId"`
	PublicKey        string `json:"publicKey"`
	Signature        string `json:"signature"`
	Approved         *bool  `json:"approved"`
	VerificationCode string `json:"verificationCode"`
}

// readSigned reads a signedBody with the members want names (others
// must be absent) and returns it with the key's credential ID and the
// decoded signature.
func (h *Handler) readSigned(w http.ResponseWriter, r *http.Request, challenge, approved bool) (signedBody, string, []byte, error) {
	var b signedBody
	if err := h.readJSON(w, r, &b, false); err != nil {
		return b, "", nil, err
	}
	id, okKey := credentialIDOf(b.PublicKey)
	sig, okSig := decodeSignature(b.Signature)
	switch {
	case !okKey:
		return b, "", nil, errInvalid.describe("publicKey must be the base64 of the key's SPKI DER")
	case !okSig:
		// Malformed or wrong, a signature that does not verify gets one
		// answer.
		return b, "", nil, deviceauth.ErrInvalidResponse
	case challenge != (b.ChallengeID != ""):
		return b, "", nil, errInvalid.describe("challengeId is required here, and only here")
	case approved != (b.Approved != nil):
		return b, "", nil, errInvalid.describe("approved is required here, and only here")
	case b.VerificationCode != "":
		// No compat challenge carries a code: the browser SDK cannot show
		// one.
		return b, "", nil, errInvalid.describe("verificationCode is not asked for")
	}
	return b, id, sig, nil
}

// removeCredential is POST /v1/client/user-authenticators/{ns}/remove:
// the key removes itself, signing the current ten-minute window
// (floor(unix/600) as the SDKs print a Double, "2945376.0"); the window
// before is accepted too (a request made at a window's end), once.
func (h *Handler) removeCredential(w http.ResponseWriter, r *http.Request) {
	h.device(w, r, func() error {
		_, id, sig, err := h.readSigned(w, r, false, false)
		if errors.Is(err, deviceauth.ErrInvalidResponse) {
			err = deviceauth.ErrUnauthorized
		}
		if err != nil {
			return err
		}
		win := seam.Compat.Now(h.svc).Unix() / 600
		msgs := [][]byte{[]byte(strconv.FormatInt(win, 10) + ".0"), []byte(strconv.FormatInt(win-1, 10) + ".0")}
		if err := seam.Compat.Remove(h.svc, r.Context(), id, msgs, sig, "remove", h.clientIP(r)); err != nil {
			return err
		}
		writeOK(w, map[string]string{"removedAuthenticatorId": id})
		return nil
	})
}

// pushSign is POST /v1/client/user-authenticators/push/challenge/sign:
// the message a device signs to fetch its pending push challenge.
func (h *Handler) pushSign(w http.ResponseWriter, r *http.Request) {
	h.device(w, r, func() error {
		id, err := h.queryCredential(r)
		if err != nil {
			return err
		}
		if err := h.readJSON(w, r, &struct{}{}, true); err != nil {
			return err
		}
		msg, err := seam.Compat.PushMessage(h.svc, r.Context(), id, h.clientIP(r))
		if err != nil {
			return err
		}
		writeOK(w, map[string]string{"message": msg})
		return nil
	})
}

// pushChallengeResponse is a device's pending push challenge; Android
// needs userAuthenticatorId even when there is none.
type pushChallengeResponse struct {
	UserAuthenticatorID string `json:"userAuthenticatorId"`
	ChallengeID         string `json:"challengeId,omitempty"`
	UserID              string `json:"userId,omitempty"`
	ActionCode          string `json:"actionCode,omitempty"`
	IdempotencyKey      string `json:"idempotencyKey,omitempty"`
	UserAgent           string `json:"userAgent,omitempty"`
	IPAddress           string `json:"ipAddress,omitempty"`
}

// pushChallenge is GET /v1/client/user-authenticators/push/challenge: the
// device's newest pending challenge, signed over the message of pushSign
// (X-Authsignal-Signature). Unsigned only with
// Config.AllowUnsignedPushFetch.
func (h *Handler) pushChallenge(w http.ResponseWriter, r *http.Request) {
	h.device(w, r, func() error {
		id, err := h.queryCredential(r)
		if err != nil {
			return err
		}
		switch sig := r.Header.Get("X-Authsignal-Signature"); {
		case sig != "":
			raw, ok := decodeSignature(sig)
			if !ok {
				return deviceauth.ErrUnauthorized
			}
			if err := seam.Compat.PushFetch(h.svc, r.Context(), id, raw, h.clientIP(r)); err != nil {
				return err
			}
		case !h.cfg.AllowUnsignedPushFetch:
			return deviceauth.ErrUnauthorized
		}
		ch, ok, err := seam.Compat.Pending(h.svc, r.Context(), id)
		if errors.Is(err, deviceauth.ErrNotFound) {
			return deviceauth.ErrUnauthorized
		}
		if err != nil {
			return err
		}
		out := pushChallengeResponse{UserAuthenticatorID: id}
		if ok {
			out.ChallengeID, out.UserID, out.ActionCode, out.IdempotencyKey = ch.ID, ch.UserID, ch.Action, ch.IdempotencyKey
			out.UserAgent, out.IPAddress = ch.UserAgent, ch.ClientIP
		}
		writeOK(w, out)
		return nil
	})
}

// updateChallenge is POST /v1/client/user-authenticators/{push,qr-code}/challenge:
// approve or deny, both signed over the challenge ID alone.
func (h *Handler) updateChallenge(w http.ResponseWriter, r *http.Request) {
	h.device(w, r, func() error {
		b, id, sig, err := h.readSigned(w, r, true, true)
		if err != nil {
			return err
		}
		if _, err := seam.Compat.Answer(h.svc, r.Context(), seam.CompatAnswer{ChallengeID: b.ChallengeID, CredentialID: id,
			Approve: *b.Approved, Signature: sig, ClientIP: h.clientIP(r)}); err != nil {
			return err
		}
		writeOK(w, map[string]bool{"isVerified": *b.Approved})
		return nil
	})
}

// claimResponse is what a device learns when it claims a QR challenge.
type claimResponse struct {
	Success    bool   `json:"success"`
	IPAddress  string `json:"ipAddress,omitempty"`
	UserAgent  string `json:"userAgent,omitempty"`
	ActionCode string `json:"actionCode,omitempty"`
}

// claimChallenge is POST /v1/client/user-authenticators/qr-code/challenge/claim:
// the scanned QR challenge becomes the device's user's.
func (h *Handler) claimChallenge(w http.ResponseWriter, r *http.Request) {
	h.device(w, r, func() error {
		b, id, sig, err := h.readSigned(w, r, true, false)
		if err != nil {
			return err
		}
		ch, err := seam.Compat.Claim(h.svc, r.Context(), seam.CompatAnswer{ChallengeID: b.ChallengeID, CredentialID: id, Signature: sig, ClientIP: h.clientIP(r)})
		if err != nil {
			return err
		}
		writeOK(w, claimResponse{Success: true, IPAddress: ch.ClientIP, UserAgent: ch.UserAgent, ActionCode: ch.Action})
		return nil
	})
}

// challengeBody is POST /v1/client/challenge's body; idempotencyKey (SDK
// 1.21) is tolerated and ignored.
type challengeBody struct {
	Action         string          `json:"action"`
	IdempotencyKey json.RawMessage `json:"idempotencyKey"`
}

// challenge is POST /v1/client/challenge: with the client token, the
// challenge its track created; with the tenant's Basic header and an
// action, a new in-app challenge without a user until a device answers it
// (for an action of the Service's QRActions).
func (h *Handler) challenge(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		var b challengeBody
		if tok, ok := bearer(r); ok {
			t, err := h.openClient(tok, seam.Compat.Now(h.svc))
			if err != nil {
				return err
			}
			if err := h.readJSON(w, r, &b, true); err != nil {
				return err
			}
			if t.ChallengeID == "" || (b.Action != "" && b.Action != t.Action) {
				return errNotFound.describe("the track created no challenge for this action")
			}
			writeOK(w, map[string]string{"challengeId": t.ChallengeID})
			return nil
		}
		if !h.tenant(r) {
			return errUnauthorized
		}
		if err := h.readJSON(w, r, &b, false); err != nil {
			return err
		}
		ch, _, err := seam.Compat.Create(h.svc, r.Context(), false, b.Action, h.clientIP(r), r.UserAgent())
		if err != nil {
			return err
		}
		writeOK(w, map[string]string{"challengeId": ch.ID})
		return nil
	}()
	if err != nil {
		writeError(w, err)
	}
}

// inAppResponse is what an in-app verification returns: the token the
// app hands its backend, which validates it.
type inAppResponse struct {
	Token               string `json:"token"`
	UserID              string `json:"userId"`
	UserAuthenticatorID string `json:"userAuthenticatorId"`
}

// verifyInApp is POST /v1/client/verify/in-app: the device approves a
// challenge of POST /v1/client/challenge by signing its ID (claiming it
// first when it has no user yet).
func (h *Handler) verifyInApp(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		var t clientToken
		if tok, ok := bearer(r); ok {
			var err error
			if t, err = h.openClient(tok, seam.Compat.Now(h.svc)); err != nil {
				return err
			}
		} else if !h.tenant(r) {
			return errUnauthorized
		}
		b, id, sig, err := h.readSigned(w, r, true, false)
		if err != nil {
			return err
		}
		if t.UserID != "" && b.ChallengeID != t.ChallengeID {
			return deviceauth.ErrInvalidResponse
		}
		a := seam.CompatAnswer{ChallengeID: b.ChallengeID, CredentialID: id, Approve: true, Signature: sig, ClientIP: h.clientIP(r)}
		ch, err := seam.Compat.Challenge(h.svc, r.Context(), b.ChallengeID)
		if errors.Is(err, deviceauth.ErrNotFound) {
			return deviceauth.ErrInvalidResponse
		}
		if err != nil {
			return err
		}
		if ch.State == store.StateUnclaimed {
			if _, err := seam.Compat.Claim(h.svc, r.Context(), a); err != nil {
				return err
			}
		}
		done, err := seam.Compat.Answer(h.svc, r.Context(), a)
		if err != nil {
			return err
		}
		writeOK(w, inAppResponse{Token: seam.Compat.Token(h.svc, done.ID), UserID: done.UserID, UserAuthenticatorID: id})
		return nil
	}()
	if err != nil {
		writeError(w, err)
	}
}
