package webhook

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

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/redact"
)

// SignatureHeader carries a webhook's signature:
//
//	Deviceauth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t "." body)>[,v1=…]
//
// with one v1 entry per active secret, so a receiver can rotate secrets.
const SignatureHeader = "Deviceauth-Signature"

// Tolerance is how old (or how far in the future) a webhook's
// timestamp may be for Verify.
const Tolerance = 5 * time.Minute

// Notifier is a deviceauth.Notifier that POSTs each Notification as JSON to
// URL, signed with every secret in Secrets. The receiver verifies it with
// Verify (Receiver also drops repeated event IDs)
// and forwards it to APNs, FCM or anything else. The body carries IDs
// only: eventId, type, challengeId and credentialIds (and newCredentialId
// for a new credential). Redirects are not followed: a 3xx answer is an
// error, so a webhook and its signature never reach another host.
type Notifier struct {
	URL string
	// Secrets sign each webhook; every one of them, so the receiver may
	// hold any. At least one, each of at least deviceauth.MinKeyBytes (32) bytes: New
	// refuses a Config whose Notifier breaks this, and so does Notify.
	Secrets [][]byte
	// Client sends the requests; nil means a client with a 10 s timeout.
	// Its redirect policy is replaced by one that follows none.
	Client *http.Client
	// Now is the clock for the timestamp; nil means time.Now.
	Now func() time.Time
}

// Check reports what is wrong with w's configuration; deviceauth.New
// calls it, so a Service never starts with a webhook it cannot sign.
func (w *Notifier) Check() error {
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("webhook: URL must be an absolute http or https URL")
	}
	return checkSecrets(w.Secrets)
}

// checkSecrets refuses no secret and secrets under deviceauth.MinKeyBytes: a
// short HMAC secret can be guessed offline from one signed webhook.
func checkSecrets(secrets [][]byte) error {
	if len(secrets) == 0 {
		return errors.New("webhook: no secret")
	}
	for i, s := range secrets {
		if len(s) < deviceauth.MinKeyBytes {
			return fmt.Errorf("webhook: secret %d is %d bytes; at least %d random bytes are required", i, len(s), deviceauth.MinKeyBytes)
		}
	}
	return nil
}

// Notify implements deviceauth.Notifier. A non-2xx answer (a redirect too) is an
// error; no error carries the URL's query, where a receiver's own secret
// may be.
func (w *Notifier) Notify(ctx context.Context, n deviceauth.Notification) error {
	if err := w.Check(); err != nil {
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
		return errors.New(redact.URLs(err.Error()))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(now(), body, w.Secrets...))
	client := &http.Client{Timeout: 10 * time.Second}
	if w.Client != nil {
		c := *w.Client
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			ue.URL = redact.URLs(ue.URL)
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}

// Sign returns the Deviceauth-Signature value for body sent at t,
// with one v1 entry per secret.
func Sign(t time.Time, body []byte, secrets ...[]byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Errors of Verify.
var (
	// ErrSignature: no v1 entry is the HMAC of the body by a secret.
	ErrSignature = errors.New("webhook signature does not verify")
	// ErrTimestamp: the timestamp is not within Tolerance of now.
	ErrTimestamp = errors.New("webhook timestamp outside the tolerance")
)

// Verify checks a Deviceauth-Signature header value against body:
// some v1 entry must be the HMAC of one of secrets (constant-time), and the
// timestamp within Tolerance of now. Receivers call it before
// trusting a webhook; pass every secret still active during a rotation.
// No secret, or one under deviceauth.MinKeyBytes (32) bytes, is an error (neither
// ErrSignature nor ErrTimestamp): a configuration mistake.
// A verified webhook may still be a replay within the tolerance: drop an
// eventId seen before (Receiver does).
func Verify(header string, body []byte, now time.Time, secrets ...[]byte) error {
	if err := checkSecrets(secrets); err != nil {
		return err
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrSignature
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
		return ErrSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return ErrTimestamp
	}
	for _, s := range secrets {
		want := mac(s, ts, body)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	return ErrSignature
}
