package main

import (
	"context"
	"log/slog"

	"github.com/deviceauth/deviceauth"
)

// logNotifier is the demo's deviceauth.Notifier: instead of sending a push
// through APNs or FCM it logs what the push would carry — IDs only, never
// details, codes or tokens. The phone (the terminal one, or the simulator
// at /phone) finds the challenge by listing its pending challenges, as a
// real app does once the push wakes it up. A real notifier looks up the
// devices' push tokens with Service.PushTokens, or uses
// webhook.Notifier.
func logNotifier(log *slog.Logger) deviceauth.Notifier {
	return deviceauth.NotifierFunc(func(ctx context.Context, n deviceauth.Notification) error {
		attrs := []any{"type", string(n.Type), "eventId", n.EventID, "credentialIds", n.CredentialIDs}
		if n.ChallengeID != "" {
			attrs = append(attrs, "challengeId", n.ChallengeID)
		}
		if n.NewCredentialID != "" {
			attrs = append(attrs, "newCredentialId", n.NewCredentialID)
		}
		log.InfoContext(ctx, "example: push notification (a real app sends this through APNs or FCM)", attrs...)
		return nil
	})
}
