package deviceauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WebhookSignatureHeader carries a webhook's signature:
//
//	Deviceauth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t "." body)>[,v1=…]
//
// with one v1 entry per active secret, so a receiver can rotate secrets.
const WebhookSignatureHeader = "Deviceauth-Signature"

// WebhookTolerance is how old (or how far in the future) a webhook's
// timestamp may be for VerifyWebhook.
const WebhookTolerance = 5 * time.Minute

// WebhookNotifier is a Notifier that POSTs each Notification as JSON to
// URL, signed with every secret in Secrets. The receiver verifies it with
// VerifyWebhook and forwards it to APNs, FCM or anything else. The body
// carries IDs only: eventId, type, challengeId and credentialIds (and
// newCredentialId for a new credential).
type WebhookNotifier struct {
	URL string
	// Secrets sign each webhook; every one of them, so the receiver may
	// hold any. At least one, of at least 32 bytes.
	Secrets [][]byte
	// Client sends the requests; nil means a client with a 10 s timeout.
	Client *http.Client
	// Now is the clock for the timestamp; nil means time.Now.
	Now func() time.Time
}

// Notify implements Notifier. A non-2xx answer is an error.
func (w *WebhookNotifier) Notify(ctx context.Context, n Notification) error {
	if len(w.Secrets) == 0 {
		return errors.New("deviceauth: webhook has no secret")
	}
	body, err := json.Marshal(n)
	if err != nil {
		return err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(WebhookSignatureHeader, SignWebhook(now(), body, w.Secrets...))
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("deviceauth: webhook: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("deviceauth: webhook answered %d", resp.StatusCode)
	}
	return nil
}

// SignWebhook returns the Deviceauth-Signature value for body sent at t,
// with one v1 entry per secret.
func SignWebhook(t time.Time, body []byte, secrets ...[]byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(webhookMAC(s, ts, body)))
	}
	return b.String()
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Errors of VerifyWebhook.
var (
	ErrWebhookSignature = errors.New("deviceauth: webhook signature does not verify")
	ErrWebhookTimestamp = errors.New("deviceauth: webhook timestamp outside the tolerance")
)

// VerifyWebhook checks a Deviceauth-Signature header value against body:
// some v1 entry must be the HMAC of one of secrets (constant-time), and the
// timestamp within WebhookTolerance of now. Receivers call it before
// trusting a webhook; pass every secret still active during a rotation.
func VerifyWebhook(header string, body []byte, now time.Time, secrets ...[]byte) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrWebhookSignature
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, sig)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrWebhookSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > WebhookTolerance || d < -WebhookTolerance {
		return ErrWebhookTimestamp
	}
	for _, s := range secrets {
		want := webhookMAC(s, ts, body)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	return ErrWebhookSignature
}
