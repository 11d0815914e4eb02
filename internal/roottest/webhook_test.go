package roottest_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/store/memstore"
)

func TestWebhook_ShortSecretsRefusedOnBothSides(t *testing.T) {
	short, good := bytes.Repeat([]byte{1}, 31), bytes.Repeat([]byte{2}, 32)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()

	cfg := deviceauth.Config{Store: memstore.New(), Keys: [][]byte{good}, PublicURL: "https://app.example/deviceauth",
		Notifier: &deviceauth.WebhookNotifier{URL: srv.URL, Secrets: [][]byte{good, short}}}
	if _, err := deviceauth.New(cfg); err == nil || !strings.Contains(err.Error(), "Config.Notifier webhook secret 1 is 31 bytes") {
		t.Fatalf("New with a 31-byte webhook secret: %v, want Config.Notifier refused", err)
	}
	cfg.Notifier = &deviceauth.WebhookNotifier{URL: srv.URL}
	if _, err := deviceauth.New(cfg); err == nil || !strings.Contains(err.Error(), "Config.Notifier webhook has no secret") {
		t.Fatalf("New with no webhook secret: %v", err)
	}

	wh := &deviceauth.WebhookNotifier{URL: srv.URL, Secrets: [][]byte{short}}
	if err := wh.Notify(context.Background(), deviceauth.Notification{EventID: "ev1"}); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("Notify with a 31-byte secret: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatal("a webhook signed with a short secret was sent")
	}

	now := time.Unix(1767225600, 0)
	body := []byte(`{"eventId":"ev1"}`)
	header := deviceauth.SignWebhook(now, body, short) // a true signature by the short secret
	for _, secrets := range [][][]byte{{short}, {good, short}, nil} {
		err := deviceauth.VerifyWebhook(header, body, now, secrets...)
		if err == nil || errors.Is(err, deviceauth.ErrWebhookSignature) || errors.Is(err, deviceauth.ErrWebhookTimestamp) {
			t.Fatalf("VerifyWebhook with secrets of %d: %v, want a configuration error", len(secrets), err)
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
		wh := &deviceauth.WebhookNotifier{URL: redirect.URL, Secrets: [][]byte{secret}, Client: client}
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
	wh := &deviceauth.WebhookNotifier{URL: url, Secrets: [][]byte{secret}}
	err := wh.Notify(context.Background(), deviceauth.Notification{EventID: "ev1"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), down.URL+"/hook") {
		t.Fatalf("Notify error %v: want the URL without its query", err)
	}

	// Whatever a Notifier's error says, the event's reason has no query
	// or user info of any URL in it.
	leaky := deviceauth.NotifierFunc(func(context.Context, deviceauth.Notification) error {
		return errors.New(`post "https://user:pa55@push.example/v1/send?key=s3cr3t&x=1": 500; retry https://push.example/q#s3cr3t`)
	})
	e := pushEnv(t, leaky)
	e.enrol("alice", "ES256")
	trackPush(t, e, "alice")
	e.svc.Close(context.Background())
	var reasons []string
	for _, ev := range e.events.all() {
		if ev.Type == deviceauth.EventPushFailed {
			reasons = append(reasons, ev.Reason)
		}
	}
	want := `post "https://push.example/v1/send": 500; retry https://push.example/q`
	if len(reasons) != 1 || reasons[0] != want {
		t.Fatalf("push.failed reasons %q, want [%q]", reasons, want)
	}
	if strings.Contains(e.logs.String(), "s3cr3t") || strings.Contains(e.logs.String(), "pa55") {
		t.Fatal("a URL's secret reached the logs")
	}
}
