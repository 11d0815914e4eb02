package deviceauth

import (
	"context"
	"net/netip"

	"github.com/deviceauth/deviceauth/internal/seam"
)

// The steps without a public face, for this module's own tests and tools
// (internal/seam.Steps).
func init() {
	st := &seam.Steps
	st.PasskeyOptions = func(svc any, ctx context.Context, userID, id string) ([]byte, error) {
		return svc.(*Service).passkeyOptions(ctx, userID, id)
	}
	st.RespondPasskey = func(svc any, ctx context.Context, clientIP, userID, id string, response []byte) (any, error) {
		s := svc.(*Service)
		ip, _ := netip.ParseAddr(clientIP)
		if err := s.limitIP(ctx, "respond", ip, s.cfg.RateLimits.Respond); err != nil {
			return AnswerResult{}, err
		}
		return s.respondPasskey(ctx, userID, id, response, clientIP)
	}
	st.UsePasskey = func(svc any, ctx context.Context, userID, credentialID string, signCount, flags uint32) error {
		return svc.(*Service).usePasskey(ctx, userID, credentialID, signCount, flags)
	}
	st.BeginPasskeyRegistration = func(svc any, ctx context.Context, userID, stepUpToken string) (string, error) {
		_, c, err := svc.(*Service).beginPasskeyRegistration(ctx, userID, "passkey", stepUpToken)
		return c.ID, err
	}
	st.FinishPasskeyRegistration = func(svc any, ctx context.Context, id, userID string, response []byte) (any, error) {
		return svc.(*Service).finishPasskeyRegistration(ctx, id, userID, response, "")
	}
	st.BeginCeremony = func(svc any, ctx context.Context, kind, userID string, data []byte) (string, error) {
		c, err := svc.(*Service).beginCeremony(ctx, kind, userID, data, false)
		return c.ID, err
	}
	st.TakeCeremony = func(svc any, ctx context.Context, id, kind, userID string) ([]byte, error) {
		c, err := svc.(*Service).takeCeremony(ctx, id, kind, userID)
		return c.Data, err
	}
	st.CookieName = func(svc any, name string) string { return svc.(*Service).cookieName(name) }
	st.FetchChallenge = func(svc any, ctx context.Context, dev seam.Device, id string) (any, error) {
		return svc.(*Service).fetchChallenge(ctx, dev, id)
	}
	st.ClaimQR = func(svc any, ctx context.Context, dev seam.Device, id, secret string) (any, error) {
		return svc.(*Service).claimQR(ctx, dev, id, secret)
	}
}
