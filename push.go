package deviceauth

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/redact"
	"github.com/deviceauth/deviceauth/store"
)

// Notifier tells a user's devices that something awaits them: a push
// challenge to answer, or a credential added to their account. The
// Service calls it after the challenge is stored, on a goroutine of its
// own with Config.NotifyTimeout, so a failing or hanging notifier never
// blocks Track nor loses the challenge: devices can always find it by
// listing their pending challenges.
//
// A Notification carries IDs only. To reach APNs or FCM, look up the
// devices' push tokens with Service.PushTokens.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, n Notification) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, n Notification) error { return f(ctx, n) }

// NotificationType says why devices are notified.
type NotificationType string

// Notification types.
const (
	// NotificationChallenge: a push challenge awaits an answer.
	NotificationChallenge NotificationType = "challenge.pending"
	// NotificationCredentialAdded: a new credential was added to the
	// account; the other devices may warn the user.
	NotificationCredentialAdded NotificationType = "credential.added"
	// NotificationCredentialRemoved: a credential was removed from the
	// account (RemovedCredentialID); the other devices may warn the user,
	// and the removed device learns it was signed out.
	NotificationCredentialRemoved NotificationType = "credential.removed"
	// NotificationRecoveryCodeUsed: a recovery code was used on the
	// account; the devices may warn the user.
	NotificationRecoveryCodeUsed NotificationType = "recoveryCode.used"
	// NotificationReviewDecided: an operator decided the user's action
	// held for review (ChallengeID is the action's ID, Review the decision,
	// APPROVED or REJECTED, and Operator who); the devices may tell the
	// user, and the application's webhook learns it.
	NotificationReviewDecided NotificationType = "review.decided"
)

// Notification is what a Notifier sends. It never carries details,
// verification codes, tokens or nonces.
type Notification struct {
	EventID     string           `json:"eventId"`
	Type        NotificationType `json:"type"`
	ChallengeID string           `json:"challengeId,omitempty"`
	// CredentialIDs are the devices to notify.
	CredentialIDs []string `json:"credentialIds"`
	// NewCredentialID is the credential added (NotificationCredentialAdded).
	NewCredentialID string `json:"newCredentialId,omitempty"`
	// RemovedCredentialID is the credential removed
	// (NotificationCredentialRemoved). RemovedPushToken is its push token,
	// which PushTokens no longer knows, when it did not remove itself: a
	// device address for the Notifier, not a secret of the account.
	RemovedCredentialID string `json:"removedCredentialId,omitempty"`
	RemovedPushToken    string `json:"removedPushToken,omitempty"`
	// Review and Operator are an operator's decision
	// (NotificationReviewDecided).
	Review   string `json:"review,omitempty"`
	Operator string `json:"operator,omitempty"`
}

// pushRules applies the push flow (docs/architecture.md#flows) and the push-fatigue defences to a push
// challenge that was just created: one pending push per user (older ones
// are superseded), and notification unless the user muted pushes by
// denying one as not_me.
func (s *Service) pushRules(ctx context.Context, ch store.Challenge, creds []store.Credential) {
	if !s.cfg.KeepOlderPushes {
		pending, err := s.store.ListPendingChallenges(ctx, ch.UserID, s.now())
		if err != nil {
			s.storeFailed(ctx, err)
		}
		for _, old := range pending {
			if old.ID == ch.ID || !slices.Contains(old.Methods, string(MethodPush)) {
				continue
			}
			_, err := s.store.TransitionChallenge(ctx, old.ID, store.Transition{From: store.StatePending, To: store.StateSuperseded, UserID: ch.UserID}, s.now())
			switch {
			case err == nil:
				s.emit(ctx, event.Event{Type: event.PushSuperseded, UserID: ch.UserID, ChallengeID: old.ID, Action: old.Action})
			case !errors.Is(err, store.ErrConflict):
				s.storeFailed(ctx, err)
			}
		}
	}
	muted, err := s.store.Counter(ctx, s.muteKey(ch.UserID), s.now())
	if err != nil {
		s.storeFailed(ctx, err)
		return // the challenge stands; devices find it by polling
	}
	if muted > 0 {
		s.emit(ctx, event.Event{Type: event.PushMuted, UserID: ch.UserID, ChallengeID: ch.ID, Action: ch.Action})
		return
	}
	s.notify(Notification{Type: NotificationChallenge, ChallengeID: ch.ID, CredentialIDs: deviceIDs(ableToApprove(creds, ch), "")}, ch.UserID)
}

// notify hands n to the Notifier on a goroutine the Service owns.
func (s *Service) notify(n Notification, userID string) {
	if s.cfg.Notifier == nil || (len(n.CredentialIDs) == 0 && n.RemovedPushToken == "") {
		return
	}
	n.EventID = "ev_" + protocol.NewID()
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.NotifyTimeout)
		defer cancel()
		err := callNotifier(ctx, s.cfg.Notifier, n)
		e := event.Event{Type: event.PushSent, UserID: userID, ChallengeID: n.ChallengeID, Reason: string(n.Type)}
		if err != nil {
			e.Type, e.Reason = event.PushFailed, redact.URLs(err.Error())
		}
		s.emit(ctx, e)
	})
}

// callNotifier calls nt, turning a panic into an error and giving up when
// ctx ends even if nt ignores it.
func callNotifier(ctx context.Context, nt Notifier, n Notification) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("notifier panicked: %v", r)
			}
		}()
		done <- nt.Notify(ctx, n)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("notifier: %w", ctx.Err())
	}
}

// deviceIDs lists the IDs of the device credentials in creds but skip.
func deviceIDs(creds []store.Credential, skip string) []string {
	ids := []string{}
	for _, c := range creds {
		if c.Kind == store.KindDevice && c.ID != skip {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// PushTokens returns the push tokens of the given credentials of userID
// (credential ID → token), for a Notifier that talks to APNs or FCM.
// Credentials without a token, of another user, or gone are left out.
func (s *Service) PushTokens(ctx context.Context, userID string, credentialIDs []string) (map[string]string, error) {
	creds, err := s.store.ListCredentials(ctx, userID)
	if err != nil {
		return nil, s.storeFailed(ctx, err)
	}
	out := make(map[string]string)
	for _, c := range creds {
		if c.PushToken != "" && slices.Contains(credentialIDs, c.ID) {
			out[c.ID] = c.PushToken
		}
	}
	return out, nil
}

// setPushToken replaces the push token of the device that signed the
// request (push tokens change: app reinstalls, OS rotation); "" removes it.
// The RFC 9421 signature over the body is what lets the token be trusted.
func (s *Service) setPushToken(ctx context.Context, dev deviceIdentity, token string) error {
	if len(token) > maxPushToken || !validText(token) {
		return ErrInvalidRequest.withMessage("pushToken must be at most 4096 bytes of printable UTF-8")
	}
	_, err := s.store.UpdateCredential(ctx, dev.UserID, dev.CredentialID, store.CredentialUpdate{PushToken: &token})
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound // removed meanwhile
	}
	if err != nil {
		return s.storeFailed(ctx, err)
	}
	return nil
}

// reportNotMe records a denial with reason not_me: a fraud event, and
// pushes muted for the user for Config.PushMute.
func (s *Service) reportNotMe(ctx context.Context, ch store.Challenge, credentialID string) {
	s.emit(ctx, event.Event{Type: event.FraudReported, UserID: ch.UserID, CredentialID: credentialID, ChallengeID: ch.ID, Action: ch.Action, ClientIP: ch.ClientIP})
	if _, err := s.store.IncrementCounter(ctx, s.muteKey(ch.UserID), s.cfg.PushMute, s.now()); err != nil {
		s.storeFailed(ctx, err)
	}
}

func (s *Service) muteKey(userID string) string { return ids.UserCounterKey("pushmute", userID, "") }

// DenyReasonNotMe is the deny reason a device sends when the user did not
// start the action: it records event.FraudReported and mutes pushes to the
// user for Config.PushMute.
const DenyReasonNotMe = "not_me"

// pushLimit counts a push for userID against RateLimits.Pushes.
func (s *Service) pushLimit(ctx context.Context, userID string) error {
	return s.limit(ctx, "push", userID, s.cfg.RateLimits.Pushes)
}
