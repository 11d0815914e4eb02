// Package webhook sends and receives the Service's notifications as signed
// webhooks. Notifier is a deviceauth.Notifier that POSTs each one, signed
// with HMAC-SHA256 (Sign); Receiver verifies the signature (Verify) and
// drops an event it has seen before.
//
// A signed webhook stays valid for Tolerance either side
// of its timestamp, so whoever obtains one (a proxy's log, a retry that
// did arrive) can deliver it again within that time. Each webhook carries
// a unique eventId inside the signed body; a receiver must act on each
// eventId once. Receiver does this with the Seen hook, which the
// application backs with its own store:
//
//	rc := &webhook.Receiver{Secrets: secrets, Seen: func(ctx context.Context, id string) (bool, error) {
//		// SET webhook:<id> 1 NX EX 600 — true when the key already existed
//	}}
//	http.HandleFunc("POST /hooks/deviceauth", func(w http.ResponseWriter, r *http.Request) {
//		n, err := rc.Receive(r)
//		switch {
//		case errors.Is(err, webhook.ErrReplayed):
//			w.WriteHeader(http.StatusOK) // done before: acknowledge, do nothing
//		case err != nil:
//			http.Error(w, "bad webhook", http.StatusUnauthorized)
//		default:
//			// look up push tokens (Service.PushTokens) and send n on to APNs or FCM
//		}
//	})
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/protocol"
)

// ErrReplayed means the webhook verified but its eventId was seen before:
// acknowledge it and do nothing.
var ErrReplayed = errors.New("webhook: event already received")

// Receiver verifies and de-duplicates webhooks.
type Receiver struct {
	// Secrets verify the signature: every secret still active during a
	// rotation, each of at least 32 bytes.
	Secrets [][]byte
	// Seen records eventID and reports whether it was recorded before, in
	// one atomic step (e.g. Redis SET NX, an INSERT on a unique key) shared
	// by every instance of the receiver. Keep IDs at least twice
	// Tolerance. Required.
	Seen func(ctx context.Context, eventID string) (bool, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxBodyBytes caps the body; 0 means 64 KiB.
	MaxBodyBytes int64
}

// Receive reads r's body and returns its notification once the signature
// verified (ErrSignature, ErrTimestamp otherwise)
// and Seen reported its eventId new (ErrReplayed otherwise). Seen is asked
// only about verified webhooks, so forgeries cannot fill its store.
func (rc *Receiver) Receive(r *http.Request) (deviceauth.Notification, error) {
	if rc.Seen == nil {
		return deviceauth.Notification{}, errors.New("webhook: Receiver.Seen is required")
	}
	limit := rc.MaxBodyBytes
	if limit <= 0 {
		limit = 64 << 10
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return deviceauth.Notification{}, fmt.Errorf("webhook: reading the body: %w", err)
	}
	if int64(len(body)) > limit {
		return deviceauth.Notification{}, errors.New("webhook: body too large")
	}
	now := time.Now
	if rc.Now != nil {
		now = rc.Now
	}
	if err := Verify(r.Header.Get(SignatureHeader), body, now(), rc.Secrets...); err != nil {
		return deviceauth.Notification{}, err
	}
	var n deviceauth.Notification
	if err := json.Unmarshal(body, &n); err != nil || !protocol.ValidID(n.EventID) {
		return deviceauth.Notification{}, errors.New("webhook: the body is not a notification with an eventId")
	}
	seen, err := rc.Seen(r.Context(), n.EventID)
	if err != nil {
		return deviceauth.Notification{}, fmt.Errorf("webhook: Seen: %w", err)
	}
	if seen {
		return deviceauth.Notification{}, ErrReplayed
	}
	return n, nil
}
