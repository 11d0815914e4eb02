package deviceauth

import (
	"context"
	"log/slog"
	"time"
)

// EventType names what happened.
type EventType string

// Event types.
const (
	EventRegistrationTokenIssued EventType = "registrationToken.issued"
	EventCredentialRegistered    EventType = "credential.registered"
	EventCredentialRemoved       EventType = "credential.removed"
	EventChallengeCreated        EventType = "challenge.created"
	EventChallengeApproved       EventType = "challenge.approved"
	EventChallengeDenied         EventType = "challenge.denied"
	EventChallengeFailed         EventType = "challenge.failed" // the wrong-code limit was reached
	EventWrongCode               EventType = "challenge.wrongCode"
	EventChallengeValidated      EventType = "challenge.validated"
	EventValidationFailed        EventType = "challenge.validationFailed"
	EventActionBlocked           EventType = "action.blocked"
	EventRateLimited             EventType = "rateLimited"
	EventSignatureRejected       EventType = "signature.rejected"
	EventStoreError              EventType = "store.error"
	EventPushSent                EventType = "push.sent"
	EventPushFailed              EventType = "push.failed"
	EventPushSuperseded          EventType = "push.superseded" // an older pending push gave way to a newer one
	EventPushMuted               EventType = "push.muted"      // not sent: the user reported not_me recently
	EventFraudReported           EventType = "fraud.reported"  // a device denied with reason not_me
	EventQRClaimed               EventType = "qr.claimed"
	EventSignedIn                EventType = "signedIn"      // a QR or passkey sign-in completed
	EventPasskeyClone            EventType = "passkey.clone" // a passkey's counter went backwards
)

// Event types of the device lifecycle.
const (
	// EventRegistrationRefused: a token minted for a first device was
	// presented after the user had enrolled one (Reason not_first_device).
	EventRegistrationRefused EventType = "registration.refused"
	// EventEndOtherSessions: a credential was removed (or the user's
	// credentials were reset or recovered); the application should end the
	// user's other sessions, which deviceauth cannot see.
	EventEndOtherSessions EventType = "sessions.endOthers"
	// EventRecoveryCodesIssued: new recovery codes replaced the user's
	// earlier ones.
	EventRecoveryCodesIssued EventType = "recoveryCodes.issued"
	// EventRecoveryCodeUsed: a recovery code stood in for a step-up
	// (Action; Reason left=N, the codes that remain).
	EventRecoveryCodeUsed EventType = "recoveryCode.used"
	// EventCredentialsReset: an operator removed all of the user's
	// credentials (ResetCredentials); Operator says who and Reason why.
	EventCredentialsReset EventType = "credentials.reset"
)

// Event is one thing that happened, for audit trails and metrics. It
// carries IDs only — never tokens, nonces, codes, details or signatures.
type Event struct {
	Type         EventType
	Time         time.Time
	UserID       string
	CredentialID string
	ChallengeID  string
	Action       string
	ClientIP     string
	// Reason is a short machine-readable reason, e.g. an error code; for
	// EventCredentialsReset, the reason the application gave.
	Reason string
	// Operator is who acted, as the application named them
	// (EventCredentialsReset).
	Operator string
}

// Emit logs e and hands it to Config.OnEvent, as the Service does for its
// own events: for extensions (package passkey reports sign-ins and refused
// assertions) and applications that want one audit trail. e must carry IDs
// only.
func (s *Service) Emit(ctx context.Context, e Event) { s.emit(ctx, e) }

// emit logs e and hands it to Config.OnEvent.
func (s *Service) emit(ctx context.Context, e Event) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	level := slog.LevelInfo
	switch e.Type {
	case EventChallengeCreated, EventQRClaimed, EventChallengeApproved, EventChallengeValidated, EventRegistrationTokenIssued:
		level = slog.LevelDebug // routine: every cycle has them; OnEvent sees them all
	case EventStoreError:
		level = slog.LevelError
	case EventPasskeyClone, EventPushFailed, EventFraudReported, EventPushMuted, EventSignatureRejected, EventRateLimited, EventWrongCode, EventValidationFailed, EventActionBlocked, EventChallengeFailed:
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
