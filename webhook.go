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
	"net/url"
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
// VerifyWebhook (package webhook's Receiver also drops repeated event IDs)
// and forwards it to APNs, FCM or anything else. The body carries IDs
// only: eventId, type, challengeId and credentialIds (and newCredentialId
// for a new credential). Redirects are not followed: a 3xx answer is an
// error, so a webhook and its signature never reach another host.
type WebhookNotifier struct {
	URL string
	// Secrets sign each webhook; every one of them, so the receiver may
	// hold any. At least one, each of at least MinKeyBytes (32) bytes: New
	// refuses a Config whose Notifier breaks this, and so does Notify.
	Secrets [][]byte
	// Client sends the requests; nil means a client with a 10 s timeout.
	// Its redirect policy is replaced by one that follows none.
	Client *http.Client
	// Now is the clock for the timestamp; nil means time.Now.
	Now func() time.Time
}

// check reports what is wrong with w's configuration.
func (w *WebhookNotifier) check() error {
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("deviceauth: webhook URL must be an absolute http or https URL")
	}
	return checkWebhookSecrets(w.Secrets)
}

// checkWebhookSecrets refuses no secret and secrets under MinKeyBytes: a
// short HMAC secret can be guessed offline from one signed webhook.
func checkWebhookSecrets(secrets [][]byte) error {
	if len(secrets) == 0 {
		return errors.New("deviceauth: webhook has no secret")
	}
	for i, s := range secrets {
		if len(s) < MinKeyBytes {
			return fmt.Errorf("deviceauth: webhook secret %d is %d bytes; at least %d random bytes are required", i, len(s), MinKeyBytes)
		}
	}
	return nil
}

// Notify implements Notifier. A non-2xx answer (a redirect too) is an
// error; no error carries the URL's query, where a receiver's own secret
// may be.
func (w *WebhookNotifier) Notify(ctx context.Context, n Notification) error {
	if err := w.check(); err != nil {
		return err
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
		return errors.New(redactURLs(err.Error()))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(WebhookSignatureHeader, SignWebhook(now(), body, w.Secrets...))
	client := &http.Client{Timeout: 10 * time.Second}
	if w.Client != nil {
		c := *w.Client
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			ue.URL = redactURLs(ue.URL)
		}
		return fmt.Errorf("deviceauth: webhook: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("deviceauth: webhook answered %d", resp.StatusCode)
	}
	return nil
}

// redactURLs removes the user info, query and fragment of every URL in
// s (an error's text), which may hold a receiver's secret: failure reasons
// go to logs and events.
func redactURLs(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + 3 + strings.IndexAny(s[i+3:]+" ", " \t\r\n\"'<>`")
		b.WriteString(s[:i+3])
		rest := s[i+3 : end]
		s = s[end:]
		authority := rest
		if a := strings.IndexAny(rest, "/?#"); a >= 0 {
			authority = rest[:a]
		}
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			rest = rest[at+1:]
		}
		if q := strings.IndexAny(rest, "?#"); q >= 0 {
			rest = rest[:q]
		}
		b.WriteString(rest)
	}
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
// No secret, or one under MinKeyBytes (32) bytes, is an error (neither
// ErrWebhookSignature nor ErrWebhookTimestamp): a configuration mistake.
// A verified webhook may still be a replay within the tolerance: drop an
// eventId seen before (package webhook's Receiver does).
func VerifyWebhook(header string, body []byte, now time.Time, secrets ...[]byte) error {
	if err := checkWebhookSecrets(secrets); err != nil {
		return err
	}
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
