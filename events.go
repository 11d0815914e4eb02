package deviceauth

import (
	"context"
	"log/slog"

	"github.com/deviceauth/deviceauth/event"
)

// Emit logs e and hands it to Config.OnEvent, as the Service does for its
// own events: for extensions (package passkey reports sign-ins and refused
// assertions) and applications that want one audit trail. e must carry IDs
// only.
func (s *Service) Emit(ctx context.Context, e event.Event) { s.emit(ctx, e) }

// emit logs e and hands it to Config.OnEvent.
func (s *Service) emit(ctx context.Context, e event.Event) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	level := slog.LevelInfo
	switch e.Type {
	case event.ChallengeCreated, event.QRClaimed, event.ChallengeApproved, event.ChallengeValidated, event.RegistrationTokenIssued:
		level = slog.LevelDebug // routine: every cycle has them; OnEvent sees them all
	case event.StoreError:
		level = slog.LevelError
	case event.PasskeyClone, event.PushFailed, event.FraudReported, event.PushMuted, event.SignatureRejected, event.RateLimited, event.WrongCode, event.ValidationFailed, event.ActionBlocked, event.ChallengeFailed:
		level = slog.LevelWarn
	}
	if s.log.Enabled(ctx, level) {
		attrs := make([]slog.Attr, 0, 7)
		add := func(k, v string) {
			if v != "" {
				attrs = append(attrs, slog.String(k, v))
			}
		}
		add("userId", e.UserID)
		add("credentialId", e.CredentialID)
		add("challengeId", e.ChallengeID)
		add("action", e.Action)
		add("clientIp", e.ClientIP)
		add("reason", e.Reason)
		add("operator", e.Operator)
		s.log.LogAttrs(ctx, level, "deviceauth: "+string(e.Type), attrs...)
	}
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ctx, e)
	}
}
