package authsignal

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth/internal/seam"
)

// The client token: what a track hands the client SDKs as "token". It is
// sealed (a MAC under the Service's keys), never stored: it names the
// user, the action, the challenge the track created (if any) and whether
// it may add an authenticator (scope add:authenticators), until it
// expires. It is not the token /validate takes: that one, the challenge
// token (dat_…), reaches the app only once a device approved.

// clientTokenPrefix starts every client token.
const clientTokenPrefix = "asct_"

// purposeClient is the sealing purpose of client tokens.
const purposeClient = "authsignal-client"

// clientToken is a client token's content.
type clientToken struct {
	UserID      string `json:"u"`
	Action      string `json:"a"`
	ChallengeID string `json:"c,omitempty"`
	AddScope    bool   `json:"s,omitempty"`
	Expires     int64  `json:"e"` // Unix seconds
}

// sealClient returns the client token of t.
func (h *Handler) sealClient(t clientToken) string {
	b, _ := json.Marshal(t)
	return clientTokenPrefix + seam.Compat.Seal(h.svc, purposeClient, b)
}

// openClient returns the content of client token s: errUnauthorized when
// it is not one, errExpiredToken (which the browser SDK reports to
// onTokenExpired) when it has expired at now.
func (h *Handler) openClient(s string, now time.Time) (clientToken, error) {
	rest, ok := strings.CutPrefix(s, clientTokenPrefix)
	if !ok {
		return clientToken{}, errUnauthorized
	}
	b, ok := seam.Compat.Open(h.svc, purposeClient, rest)
	var t clientToken
	if !ok || json.Unmarshal(b, &t) != nil {
		return clientToken{}, errUnauthorized
	}
	if now.Unix() >= t.Expires {
		return clientToken{}, errExpiredToken
	}
	return t, nil
}
