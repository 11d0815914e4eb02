package authsignal

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// The browser SDK's push and QR flows. Push needs the client token of a
// track; QR needs nothing but the tenant (its user is whoever's device
// claims it), and the browser proves it created the challenge with the
// deviceCode it was given.

// pushBody is POST /v1/client/challenge/push's body; userAuthenticatorId
// (SDK 1.21) is tolerated and ignored: every compat device of the user is
// notified.
type pushBody struct {
	Action              string          `json:"action"`
	UserAuthenticatorID json.RawMessage `json:"userAuthenticatorId"`
}

// browserPush is POST /v1/client/challenge/push: notifies the user's
// devices of the challenge the track created, for the track's action.
func (h *Handler) browserPush(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		t, err := h.clientToken(r)
		if err != nil {
			return err
		}
		var b pushBody
		if err := h.readJSON(w, r, &b, false); err != nil {
			return err
		}
		if t.ChallengeID == "" || b.Action != t.Action {
			return errNotFound.describe("the track created no challenge for this action")
		}
		if err := seam.Compat.Push(h.svc, r.Context(), t.UserID, t.ChallengeID); err != nil {
			return err
		}
		writeOK(w, map[string]string{"challengeId": t.ChallengeID})
		return nil
	}()
	if err != nil {
		writeError(w, err)
	}
}

// clientToken opens r's Bearer client token.
func (h *Handler) clientToken(r *http.Request) (clientToken, error) {
	tok, ok := bearer(r)
	if !ok {
		return clientToken{}, errUnauthorized.describe("a token is required")
	}
	return h.openClient(tok, seam.Compat.Now(h.svc))
}

// verifyResponse is a browser's view of a push challenge.
type verifyResponse struct {
	IsVerified  bool   `json:"isVerified"`
	IsConsumed  bool   `json:"isConsumed"`
	AccessToken string `json:"accessToken,omitempty"`
}

// browserVerifyPush is POST /v1/client/verify/push: whether the device
// approved, with the token the backend validates once it has.
func (h *Handler) browserVerifyPush(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		t, err := h.clientToken(r)
		if err != nil {
			return err
		}
		var b struct {
			ChallengeID string `json:"challengeId"`
		}
		if err := h.readJSON(w, r, &b, false); err != nil {
			return err
		}
		if t.ChallengeID == "" || b.ChallengeID != t.ChallengeID {
			return errNotFound
		}
		if err := seam.Compat.Limit(h.svc, r.Context(), "fetch", h.clientIP(r)); err != nil {
			return err
		}
		ch, err := seam.Compat.Challenge(h.svc, r.Context(), t.ChallengeID)
		if err != nil {
			return err
		}
		out := verifyResponse{IsConsumed: ch.State != store.StatePending}
		if ch.State == store.StateApproved {
			out.IsVerified, out.AccessToken = true, seam.Compat.Token(h.svc, ch.ID)
		}
		writeOK(w, out)
		return nil
	}()
	if err != nil {
		writeError(w, err)
	}
}

// qrBody is POST /v1/client/challenge/qr-code's body. custom is tolerated
// and ignored: the device is shown the action, IP and user agent only.
type qrBody struct {
	Action string          `json:"action"`
	Custom json.RawMessage `json:"custom"`
}

// qrResponse is a new QR challenge; deviceCode binds it to the browser
// that asked.
type qrResponse struct {
	ChallengeID string `json:"challengeId"`
	ExpiresAt   string `json:"expiresAt"`
	DeviceCode  string `json:"deviceCode"`
}

// browserQR is POST /v1/client/challenge/qr-code: a QR challenge for an
// action of the Service's QRActions, without a user until a device claims
// it.
func (h *Handler) browserQR(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if _, err := h.clientToken(r); err != nil && !h.tenant(r) {
			return errUnauthorized
		}
		var b qrBody
		if err := h.readJSON(w, r, &b, false); err != nil {
			return err
		}
		ch, binding, err := seam.Compat.Create(h.svc, r.Context(), true, b.Action, h.clientIP(r), r.UserAgent())
		if err != nil {
			return err
		}
		writeOK(w, qrResponse{ChallengeID: ch.ID, ExpiresAt: ch.ExpiresAt.UTC().Format(time.RFC3339), DeviceCode: binding})
		return nil
	}()
	if err != nil {
		writeError(w, err)
	}
}

// qrStateResponse is a browser's view of its QR challenge.
type qrStateResponse struct {
	IsClaimed   bool   `json:"isClaimed"`
	IsConsumed  bool   `json:"isConsumed"`
	IsVerified  bool   `json:"isVerified"`
	AccessToken string `json:"accessToken,omitempty"`
}

// browserVerifyQR is POST /v1/client/verify/qr-code: the state of the
// browser's QR challenge (claimed, approved with the token, or rejected).
func (h *Handler) browserVerifyQR(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if !h.tenant(r) {
			return errUnauthorized
		}
		var b struct {
			ChallengeID string `json:"challengeId"`
			DeviceCode  string `json:"deviceCode"`
		}
		if err := h.readJSON(w, r, &b, false); err != nil {
			return err
		}
		if err := seam.Compat.Limit(h.svc, r.Context(), "fetch", h.clientIP(r)); err != nil {
			return err
		}
		ch, err := seam.Compat.Bound(h.svc, r.Context(), b.ChallengeID, b.DeviceCode)
		if errors.Is(err, deviceauth.ErrNotFound) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		writeOK(w, qrState(ch, h))
		return nil
	}()
	if err != nil {
		writeError(w, err)
	}
}

// qrState is the SDK's view of QR challenge ch.
func qrState(ch store.Challenge, h *Handler) qrStateResponse {
	out := qrStateResponse{IsClaimed: ch.ClaimedBy != "", IsConsumed: ch.State != store.StateUnclaimed && ch.State != store.StatePending}
	if ch.State == store.StateApproved {
		out.IsVerified, out.AccessToken = true, seam.Compat.Token(h.svc, ch.ID)
	}
	return out
}
