package roottest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/webhook"
)

// notifierRecorder records notifications on a channel.
type notifierRecorder struct {
	got chan deviceauth.Notification
	err error
}

func newRecorder() *notifierRecorder {
	return &notifierRecorder{got: make(chan deviceauth.Notification, 64)}
}

func (n *notifierRecorder) Notify(_ context.Context, x deviceauth.Notification) error {
	n.got <- x
	return n.err
}

// next waits for the next notification; the timeout only bounds a failure.
func (n *notifierRecorder) next(t *testing.T) deviceauth.Notification {
	t.Helper()
	select {
	case x := <-n.got:
		return x
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
		return deviceauth.Notification{}
	}
}

// none checks that no notification is pending once the Service's
// goroutines have finished.
func (n *notifierRecorder) none(t *testing.T, e *env) {
	t.Helper()
	e.svc.Close(context.Background())
	select {
	case x := <-n.got:
		t.Fatalf("unexpected notification %+v", x)
	default:
	}
}

func pushEnv(t *testing.T, n deviceauth.Notifier, opts ...envOption) *env {
	return newEnv(t, append([]envOption{func(c *deviceauth.Config) { c.Notifier = n }}, opts...)...)
}

func trackPush(t *testing.T, e *env, user string) deviceauth.TrackResult {
	t.Helper()
	res, err := e.svc.Track(context.Background(), deviceauth.TrackRequest{UserID: user, Action: "signIn", Methods: []deviceauth.Method{deviceauth.MethodPush},
		Details: deviceauth.Details{Message: "Sign in from Firefox"}, VerificationCode: true})
	if err != nil || res.ChallengeID == "" {
		t.Fatalf("Track push: %+v, %v", res, err)
	}
	return res
}

func TestPush_NotifiesDevicesWithIDsOnly(t *testing.T) {
	rec := newRecorder()
	// Codes long enough that finding one in the notification is no chance
	// match with its random IDs.
	e := pushEnv(t, rec, func(c *deviceauth.Config) { c.VerificationCodeDigits = 8 })
	phone := e.enrol("alice", "ES256")
	e.clock.Advance(time.Second)
	g, _ := e.svc.MintRegistrationToken(context.Background(), "alice", stepUpFor(t, e, "alice", phone))
	tablet := e.device("EdDSA")
	if _, err := tablet.Register(context.Background(), g.Token, "tablet", "android"); err != nil {
		t.Fatal(err)
	}
	n := rec.next(t)
	if n.Type != deviceauth.NotificationCredentialAdded || n.NewCredentialID != tablet.CredentialID ||
		len(n.CredentialIDs) != 1 || n.CredentialIDs[0] != phone.CredentialID {
		t.Fatalf("new credential notification %+v, want phone told about tablet", n)
	}

	res := trackPush(t, e, "alice")
	n = rec.next(t)
	if n.Type != deviceauth.NotificationChallenge || n.ChallengeID != res.ChallengeID || len(n.CredentialIDs) != 2 || n.EventID == "" {
		t.Fatalf("push notification %+v", n)
	}
	body, _ := json.Marshal(n)
	for _, secret := range []string{res.Token, res.VerificationCode, "Firefox", "signIn"} {
		if bytes.Contains(body, []byte(secret)) {
			t.Fatalf("the notification %s carries %q", body, secret)
		}
	}
	// Devices find the challenge by polling too.
	pending, err := tablet.Pending(context.Background())
	if err != nil || len(pending) != 1 || pending[0].ID != res.ChallengeID {
		t.Fatalf("tablet pending %+v, %v", pending, err)
	}
	if _, err := tablet.Approve(context.Background(), pending[0], res.VerificationCode); err != nil {
		t.Fatalf("the second device approving: %v", err)
	}
}

// stepUpFor returns an approved addAuthenticator token for user, approved by d.
func stepUpFor(t *testing.T, e *env, user string, d *device.Client) string {
	t.Helper()
	res := e.track(user, deviceauth.ActionAddAuthenticator, deviceauth.Details{}, false)
	approve(t, d, res.ChallengeID, res.VerificationCode)
	return res.Token
}

func TestPush_NewerSupersedesOlder(t *testing.T) {
	rec := newRecorder()
	e := pushEnv(t, rec)
	phone := e.enrol("alice", "ES256")
	first := trackPush(t, e, "alice")
	second := trackPush(t, e, "alice")
	pending, _ := phone.Pending(context.Background())
	if len(pending) != 1 || pending[0].ID != second.ChallengeID {
		t.Fatalf("pending %+v, want only the newer push", pending)
	}
	ch, _ := phone.Challenge(context.Background(), first.ChallengeID)
	if ch.State != "SUPERSEDED" {
		t.Fatalf("older push state %s", ch.State)
	}
	if _, err := phone.Approve(context.Background(), ch, first.VerificationCode); apiCode(err) != "challenge_closed" {
		t.Fatalf("approving a superseded push: %v", err)
	}
	if n := e.events.count(event.PushSuperseded); n != 1 {
		t.Fatalf("%d superseded events", n)
	}
	// A non-push challenge is not superseded by a push.
	inApp := e.track("alice", "transfer", deviceauth.Details{}, false)
	trackPush(t, e, "alice")
	if ch, _ := phone.Challenge(context.Background(), inApp.ChallengeID); ch.State != "PENDING" {
		t.Fatalf("in-app challenge became %s", ch.State)
	}
}

func TestPush_ConcurrentPushesKeepsOlder(t *testing.T) {
	e := pushEnv(t, newRecorder(), func(c *deviceauth.Config) { c.KeepOlderPushes = true })
	phone := e.enrol("alice", "ES256")
	trackPush(t, e, "alice")
	trackPush(t, e, "alice")
	if pending, _ := phone.Pending(context.Background()); len(pending) != 2 {
		t.Fatalf("%d pending, want 2", len(pending))
	}
}

func TestPush_PerUserLimit(t *testing.T) {
	e := pushEnv(t, newRecorder(), func(c *deviceauth.Config) { c.RateLimits.Pushes = deviceauth.Rate{Limit: 2, Window: time.Hour} })
	e.enrol("alice", "ES256")
	e.enrol("bob", "ES256")
	trackPush(t, e, "alice")
	trackPush(t, e, "alice")
	push := deviceauth.TrackRequest{UserID: "alice", Action: "signIn", Methods: []deviceauth.Method{deviceauth.MethodPush}}
	if _, err := e.svc.Track(context.Background(), push); !errors.Is(err, deviceauth.ErrRateLimited) {
		t.Fatalf("third push in the hour: %v", err)
	}
	trackPush(t, e, "bob") // per user
	e.clock.Advance(time.Hour + time.Second)
	trackPush(t, e, "alice")
}

func TestPush_NotMeMutesPushes(t *testing.T) {
	rec := newRecorder()
	e := pushEnv(t, rec)
	phone := e.enrol("alice", "ES256") // the first device: nobody else to tell
	res := trackPush(t, e, "alice")
	rec.next(t)
	ch, _ := phone.Challenge(context.Background(), res.ChallengeID)
	if _, err := phone.Deny(context.Background(), ch, deviceauth.DenyReasonNotMe); err != nil {
		t.Fatal(err)
	}
	if n := e.events.count(event.FraudReported); n != 1 {
		t.Fatalf("%d fraud events", n)
	}
	muted := trackPush(t, e, "alice") // still created, findable by polling, but not pushed
	if pending, _ := phone.Pending(context.Background()); len(pending) != 1 || pending[0].ID != muted.ChallengeID {
		t.Fatalf("pending while muted %+v", pending)
	}
	if n := e.events.count(event.PushMuted); n != 1 {
		t.Fatalf("%d muted events", n)
	}
	e.clock.Advance(time.Hour + time.Second)
	after := trackPush(t, e, "alice")
	if n := rec.next(t); n.ChallengeID != after.ChallengeID {
		t.Fatalf("after the mute: %+v", n)
	}
	rec.none(t, e)
}

func TestPush_FailingOrHangingNotifierLosesNothing(t *testing.T) {
	t.Run("failing", func(t *testing.T) {
		rec := newRecorder()
		rec.err = errors.New("APNs is down")
		e := pushEnv(t, rec)
		phone := e.enrol("alice", "ES256")
		res := trackPush(t, e, "alice")
		if _, err := phone.Challenge(context.Background(), res.ChallengeID); err != nil {
			t.Fatalf("fetch after a failed push: %v", err)
		}
		e.svc.Close(context.Background())
		if n := e.events.count(event.PushFailed); n != 1 {
			t.Fatalf("%d push.failed events, want 1", n)
		}
	})
	t.Run("hanging", func(t *testing.T) {
		release := make(chan struct{})
		hang := deviceauth.NotifierFunc(func(ctx context.Context, _ deviceauth.Notification) error {
			<-release
			return nil
		})
		e := pushEnv(t, hang)
		phone := e.enrol("alice", "ES256")
		res := trackPush(t, e, "alice") // returns although the notifier hangs
		ch, err := phone.Challenge(context.Background(), res.ChallengeID)
		if err != nil || ch.State != "PENDING" {
			t.Fatalf("fetch while the notifier hangs: %+v, %v", ch, err)
		}
		if _, err := phone.Approve(context.Background(), ch, res.VerificationCode); err != nil {
			t.Fatal(err)
		}
		close(release)
		if err := e.svc.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestWebhook_SignsAndVerifies(t *testing.T) {
	secret, retired := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	now := time.Unix(1767225600, 0)
	var gotBody []byte
	var gotSig string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotBody, _ = io.ReadAll(r.Body)
		gotSig = r.Header.Get(webhook.SignatureHeader)
	}))
	defer srv.Close()
	wh := &webhook.Notifier{URL: srv.URL, Secrets: [][]byte{secret, retired}, Now: func() time.Time { return now }}
	n := deviceauth.Notification{EventID: "ev1", Type: deviceauth.NotificationChallenge, ChallengeID: "ch1", CredentialIDs: []string{"c1", "c2"}}
	if err := wh.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if string(gotBody) != `{"eventId":"ev1","type":"challenge.pending","challengeId":"ch1","credentialIds":["c1","c2"]}` {
		t.Fatalf("body %s", gotBody)
	}
	if !strings.HasPrefix(gotSig, "t=1767225600,v1=") || strings.Count(gotSig, "v1=") != 2 {
		t.Fatalf("signature header %q", gotSig)
	}
	cases := []struct {
		name    string
		body    []byte
		now     time.Time
		secrets [][]byte
		want    error
	}{
		{"valid", gotBody, now, [][]byte{secret}, nil},
		{"valid with the other active secret", gotBody, now, [][]byte{retired}, nil},
		{"valid at the tolerance", gotBody, now.Add(5 * time.Minute), [][]byte{secret}, nil},
		{"tampered body", bytes.Replace(gotBody, []byte("c2"), []byte("c3"), 1), now, [][]byte{secret}, webhook.ErrSignature},
		{"old timestamp", gotBody, now.Add(5*time.Minute + time.Second), [][]byte{secret}, webhook.ErrTimestamp},
		{"future timestamp", gotBody, now.Add(-5*time.Minute - time.Second), [][]byte{secret}, webhook.ErrTimestamp},
		{"unknown secret", gotBody, now, [][]byte{bytes.Repeat([]byte{3}, 32)}, webhook.ErrSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := webhook.Verify(gotSig, c.body, c.now, c.secrets...); !errors.Is(err, c.want) {
				t.Fatalf("webhook.Verify = %v, want %v", err, c.want)
			}
		})
	}
	// A header signed only by a secret the receiver retired is refused.
	onlyRetired := webhook.Sign(now, gotBody, retired)
	if err := webhook.Verify(onlyRetired, gotBody, now, secret); !errors.Is(err, webhook.ErrSignature) {
		t.Fatalf("retired secret: %v", err)
	}
	for _, h := range []string{"", "t=abc,v1=00", "v1=zz", "garbage", "t=1767225600"} {
		if err := webhook.Verify(h, gotBody, now, secret); err == nil {
			t.Fatalf("header %q verified", h)
		}
	}
}

func TestWebhook_Non2xxIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer srv.Close()
	wh := &webhook.Notifier{URL: srv.URL, Secrets: [][]byte{bytes.Repeat([]byte{1}, 32)}}
	if err := wh.Notify(context.Background(), deviceauth.Notification{}); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("Notify = %v", err)
	}
}

func TestPush_FailureReasonCarriesNoURLQuery(t *testing.T) {
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
		if ev.Type == event.PushFailed {
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
