package deviceauth

import (
	"context"
	"log/slog"

	"github.com/deviceauth/deviceauth/event"
)

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

// noTrace ends a step when Config.Trace is not set.
func noTrace(string) {}

// trace starts step for action through Config.Trace, or does nothing.
func (s *Service) trace(ctx context.Context, step, action string) (context.Context, func(outcome string)) {
	if s.cfg.Trace == nil {
		return ctx, noTrace
	}
	return s.cfg.Trace(ctx, step, action)
}

// outcomeOf is a step's outcome: the code of err when it failed, else ok.
func outcomeOf(err error, ok string) string {
	if err != nil {
		return asError(err).Code
	}
	return ok
}
