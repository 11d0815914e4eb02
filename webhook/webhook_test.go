package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/webhook"
)

// seenSet is a Seen hook over a map.
type seenSet struct {
	mu    sync.Mutex
	ids   map[string]bool
	calls int
}

func (s *seenSet) Seen(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	seen := s.ids[id]
	s.ids[id] = true
	return seen, nil
}

func request(body []byte, header string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/deviceauth", bytes.NewReader(body))
	r.Header.Set(webhook.SignatureHeader, header)
	return r
}

func TestReceiver_DropsRepeatedEventIDs(t *testing.T) {
	secret := bytes.Repeat([]byte{1}, 32)
	now := time.Unix(1767225600, 0)
	set := &seenSet{ids: map[string]bool{}}
	rc := &webhook.Receiver{Secrets: [][]byte{secret}, Seen: set.Seen, Now: func() time.Time { return now }}
	body := []byte(`{"eventId":"ev_1","type":"challenge.pending","challengeId":"ch_1","credentialIds":["cr_1"]}`)
	header := webhook.Sign(now, body, secret)

	n, err := rc.Receive(request(body, header))
	if err != nil || n.EventID != "ev_1" || n.ChallengeID != "ch_1" || n.Type != deviceauth.NotificationChallenge {
		t.Fatalf("first delivery: %+v, %v", n, err)
	}
	if _, err := rc.Receive(request(body, header)); !errors.Is(err, webhook.ErrReplayed) {
		t.Fatalf("second delivery of the same event: %v, want ErrReplayed", err)
	}
	// Re-signed later (a new timestamp), the same event ID is still a replay.
	later := now.Add(time.Minute)
	rc.Now = func() time.Time { return later }
	if _, err := rc.Receive(request(body, webhook.Sign(later, body, secret))); !errors.Is(err, webhook.ErrReplayed) {
		t.Fatalf("same event re-signed: %v, want ErrReplayed", err)
	}
	// A forgery never reaches Seen.
	calls := set.calls
	forged := []byte(`{"eventId":"ev_2","type":"challenge.pending","credentialIds":[]}`)
	if _, err := rc.Receive(request(forged, header)); !errors.Is(err, webhook.ErrSignature) {
		t.Fatalf("forged body: %v, want ErrSignature", err)
	}
	if set.calls != calls {
		t.Fatal("Seen was asked about an unverified webhook")
	}
}

func TestReceiver_RefusesMisconfiguration(t *testing.T) {
	now := time.Unix(1767225600, 0)
	body := []byte(`{"eventId":"ev_1"}`)
	short := bytes.Repeat([]byte{1}, 16)
	set := &seenSet{ids: map[string]bool{}}
	cases := []struct {
		name string
		rc   *webhook.Receiver
	}{
		{"short secret", &webhook.Receiver{Secrets: [][]byte{short}, Seen: set.Seen, Now: func() time.Time { return now }}},
		{"no Seen", &webhook.Receiver{Secrets: [][]byte{bytes.Repeat([]byte{1}, 32)}, Now: func() time.Time { return now }}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := c.rc.Receive(request(body, webhook.Sign(now, body, c.rc.Secrets[0]))); err == nil {
				t.Fatal("Receive succeeded")
			}
		})
	}
	if set.calls != 0 {
		t.Fatal("Seen was asked although the secret is too short")
	}
}
