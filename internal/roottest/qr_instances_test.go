package roottest_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/adapters/redisstore"
	"github.com/deviceauth/deviceauth/device"
)

// TestQR_WakeUpAcrossInstances: a browser long-polls instance A; the
// phone claims and approves through instance B; A's waiter learns it
// through the store's wake-up channel alone (polling is off), before its
// deadline on the injected clock.
func TestQR_WakeUpAcrossInstances(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	clk := newClock()
	instance := func() (*deviceauth.Service, *httptest.Server) {
		client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { client.Close() })
		st, err := redisstore.New(ctx, client)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		mux := http.NewServeMux()
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		svc, err := deviceauth.New(deviceauth.Config{Store: st, Keys: [][]byte{bytes.Repeat([]byte{4}, 32)},
			PublicURL: srv.URL + "/deviceauth", Now: clk.Now, Timer: clk.After, PollInterval: -1,
			SignIn: func(http.ResponseWriter, *http.Request, string) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close(ctx) })
		mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))
		return svc, srv
	}
	a, srvA := instance()
	_, srvB := instance()

	g, _ := a.MintRegistrationToken(ctx, "alice", "")
	key, _ := device.NewP256Key()
	phone, _ := device.New(srvB.URL+"/deviceauth", key)
	phone.Now = clk.Now
	if _, err := phone.Register(ctx, g.Token, "phone", "ios"); err != nil {
		t.Fatal(err)
	}
	q := &qrEnv{env: &env{t: t, srv: srvA, clock: clk}}
	browser := q.browser()
	qc := q.createQR(t, browser, "")
	code, _ := device.ParseQRPayload(qc.Payload)
	code.BaseURL = srvB.URL + "/deviceauth"
	ch, err := phone.Claim(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan deviceauth.QRStatus, 1)
	go func() {
		var st deviceauth.QRStatus
		q.call(t, browser, "GET", "/v1/qr/"+qc.ChallengeID+"?since=PENDING&wait=25s", "", &st)
		done <- st
	}()
	waitForTimers(t, clk, 1) // A's waiter is subscribed and blocked
	if _, err := phone.Approve(ctx, ch, qc.VerificationCode); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-done:
		if st.State != "APPROVED" {
			t.Fatalf("A's long-poll returned %+v", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("A's waiter was not woken by B's approval")
	}
}
