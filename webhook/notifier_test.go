package webhook_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/store/memstore"
	"github.com/deviceauth/deviceauth/webhook"
)

func TestWebhook_ShortSecretsRefusedOnBothSides(t *testing.T) {
	short, good := bytes.Repeat([]byte{1}, 31), bytes.Repeat([]byte{2}, 32)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()

	cfg := deviceauth.Config{Store: memstore.New(), Keys: [][]byte{good}, PublicURL: "https://app.example/deviceauth",
		Notifier: &webhook.Notifier{URL: srv.URL, Secrets: [][]byte{good, short}}}
	if _, err := deviceauth.New(cfg); err == nil || !strings.Contains(err.Error(), "Config.Notifier webhook: secret 1 is 31 bytes") {
		t.Fatalf("New with a 31-byte webhook secret: %v, want Config.Notifier refused", err)
	}
	cfg.Notifier = &webhook.Notifier{URL: srv.URL}
	if _, err := deviceauth.New(cfg); err == nil || !strings.Contains(err.Error(), "Config.Notifier webhook: no secret") {
		t.Fatalf("New with no webhook secret: %v", err)
	}

	wh := &webhook.Notifier{URL: srv.URL, Secrets: [][]byte{short}}
	if err := wh.Notify(context.Background(), deviceauth.Notification{EventID: "ev1"}); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("Notify with a 31-byte secret: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatal("a webhook signed with a short secret was sent")
	}

	now := time.Unix(1767225600, 0)
	body := []byte(`{"eventId":"ev1"}`)
	header := webhook.Sign(now, body, short) // a true signature by the short secret
	for _, secrets := range [][][]byte{{short}, {good, short}, nil} {
		err := webhook.Verify(header, body, now, secrets...)
		if err == nil || errors.Is(err, webhook.ErrSignature) || errors.Is(err, webhook.ErrTimestamp) {
			t.Fatalf("Verify with secrets of %d: %v, want a configuration error", len(secrets), err)
		}
	}
}

func TestWebhook_DoesNotFollowRedirects(t *testing.T) {
	var reached atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer target.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	secret := bytes.Repeat([]byte{1}, 32)
	for _, client := range []*http.Client{nil, {}, {CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}} {
		wh := &webhook.Notifier{URL: redirect.URL, Secrets: [][]byte{secret}, Client: client}
		if err := wh.Notify(context.Background(), deviceauth.Notification{EventID: "ev1"}); err == nil || !strings.Contains(err.Error(), "307") {
			t.Fatalf("Notify to a redirect: %v, want an error naming 307", err)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the redirect target got %d webhooks, want 0", n)
	}
}

func TestWebhook_FailureReasonCarriesNoURLQuery(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL + "/hook?token=s3cr3tQuery#frag"
	down.Close() // connection refused: the client's error names the URL
	secret := bytes.Repeat([]byte{1}, 32)
	wh := &webhook.Notifier{URL: url, Secrets: [][]byte{secret}}
	err := wh.Notify(context.Background(), deviceauth.Notification{EventID: "ev1"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), down.URL+"/hook") {
		t.Fatalf("Notify error %v: want the URL without its query", err)
	}

}

// TestSign_ProtocolVector: the webhook vector in docs/protocol.md is what
// Sign gives for its secret, time and body, and Verify accepts it.
func TestSign_ProtocolVector(t *testing.T) {
	doc, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)### Webhook signature\n\n- secret: `([0-9a-f]+)`, time `([0-9]+)`\n- body: `([^`]+)`\n- `Deviceauth-Signature: ([^`]+)`").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/protocol.md has no webhook vector")
	}
	secret, err := hex.DecodeString(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	sec, err := strconv.ParseInt(string(m[2]), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(sec, 0)
	if got := webhook.Sign(at, m[3], secret); got != string(m[4]) {
		t.Fatalf("Sign = %s, the document says %s", got, m[4])
	}
	if err := webhook.Verify(string(m[4]), m[3], at, secret); err != nil {
		t.Fatalf("Verify of the documented vector: %v", err)
	}
}
