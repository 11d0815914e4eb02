package roottest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/internal/httpsig"
	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/internal/protocol"
)

func noRateLimits(c *deviceauth.Config) {
	off := deviceauth.Rate{Limit: -1}
	c.RateLimits = deviceauth.RateLimits{Register: off, Fetch: off, Respond: off, Challenges: off}
}

// keyedDevice is a P-256 device whose private key the test holds, so it can
// sign messages by hand.
type keyedDevice struct {
	*device.Client
	key *ecdsa.PrivateKey
}

func (e *env) enrolKeyed(user string) keyedDevice {
	e.t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c, err := device.New(e.srv.URL+"/deviceauth", key)
	if err != nil {
		e.t.Fatal(err)
	}
	c.Now = e.clock.Now
	g, err := e.svc.MintRegistrationToken(context.Background(), user, "")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.Register(context.Background(), g.Token, "keyed", "test"); err != nil {
		e.t.Fatal(err)
	}
	return keyedDevice{c, key}
}

// signDER signs msg with ES256 and returns the DER signature.
func (d keyedDevice) signDER(t testing.TB, msg []byte) []byte {
	h := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, d.key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// response builds a Service-level response signed by d over the given
// decision, optionally signing another decision or details than it sends.
func (d keyedDevice) response(t testing.TB, ch device.Challenge, decision, code string) deviceauth.DeviceAnswer {
	msg := d.ResponseMessage(ch, decision, "", code)
	return deviceauth.DeviceAnswer{ChallengeID: ch.ID, CredentialID: d.CredentialID, Decision: decision,
		VerificationCode: code, SignatureFormat: "der", Signature: d.signDER(t, msg)}
}

// postJSON posts body to the handler path and returns status and error code.
func (e *env) postJSON(path string, body []byte) (int, string) {
	e.t.Helper()
	resp, err := http.Post(e.srv.URL+"/deviceauth"+path, "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b deviceauth.DenialBody
	json.NewDecoder(resp.Body).Decode(&b)
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		e.t.Errorf("POST %s: Cache-Control %q, want no-store", path, cc)
	}
	return resp.StatusCode, b.Error
}

func TestExactlyOnce_Validate(t *testing.T) {
	e := newEnv(t, noRateLimits)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	for round := range 100 {
		res := e.track("alice", "transfer", transferDetails, false)
		ch, err := d.Challenge(ctx, res.ChallengeID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Approve(ctx, ch, ""); err != nil {
			t.Fatal(err)
		}
		var valid, invalid atomic.Int64
		race(64, func(int) {
			v, err := e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: "alice", Action: "transfer", Details: transferDetails})
			switch {
			case err != nil:
				t.Errorf("Validate: %v", err)
			case v.Valid:
				valid.Add(1)
			default:
				invalid.Add(1)
			}
		})
		if valid.Load() != 1 || invalid.Load() != 63 {
			t.Fatalf("round %d: %d valid, %d invalid; want exactly 1 and 63", round, valid.Load(), invalid.Load())
		}
	}
}

func TestExactlyOnce_Respond(t *testing.T) {
	e := newEnv(t, noRateLimits)
	ctx := context.Background()
	d := e.enrolKeyed("alice")
	for round := range 100 {
		res := e.track("alice", "transfer", deviceauth.Details{}, false)
		ch, err := d.Challenge(ctx, res.ChallengeID)
		if err != nil {
			t.Fatal(err)
		}
		// Half the racers approve, half deny, each with its own signature.
		rs := make([]deviceauth.DeviceAnswer, 64)
		for i := range rs {
			dec := "approve"
			if i%2 == 1 {
				dec = "deny"
			}
			rs[i] = d.response(t, ch, dec, "")
		}
		var won, closed atomic.Int64
		var winner atomic.Value
		race(64, func(i int) {
			r, err := e.svc.Respond(ctx, rs[i])
			switch {
			case err == nil:
				won.Add(1)
				winner.Store(r.State)
			case strings.Contains(err.Error(), "challenge_closed"):
				closed.Add(1)
			default:
				t.Errorf("Respond: %v", err)
			}
		})
		if won.Load() != 1 || closed.Load() != 63 {
			t.Fatalf("round %d: %d won, %d closed", round, won.Load(), closed.Load())
		}
		got, _ := d.Challenge(ctx, ch.ID)
		if got.State != winner.Load().(string) {
			t.Fatalf("round %d: stored state %s, winner saw %s", round, got.State, winner.Load())
		}
	}
}

func TestExactlyOnce_RegistrationToken(t *testing.T) {
	e := newEnv(t, noRateLimits, func(c *deviceauth.Config) { c.MaxCredentialsPerUser = 1000 })
	ctx := context.Background()
	for round := range 100 {
		user := "user" + string(rune('A'+round%26)) + strings.Repeat("x", round/26)
		g, err := e.svc.MintRegistrationToken(ctx, user, "")
		if err != nil {
			t.Fatal(err)
		}
		regs := make([]deviceauth.Registration, 64)
		for i := range regs {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			pub := append([]byte{4}, key.PublicKey.X.FillBytes(make([]byte, 32))...)
			pub = append(pub, key.PublicKey.Y.FillBytes(make([]byte, 32))...)
			h := sha256.Sum256(protocol.RegistrationMessage(g.Token, "ES256", pub, "racer", "test"))
			sig, _ := ecdsa.SignASN1(rand.Reader, key, h[:])
			regs[i] = deviceauth.Registration{Token: g.Token, Algorithm: "ES256", PublicKey: pub, Signature: sig, Name: "racer", Platform: "test"}
		}
		var won, refused atomic.Int64
		race(64, func(i int) {
			_, err := e.svc.Register(ctx, regs[i])
			switch {
			case err == nil:
				won.Add(1)
			case strings.Contains(err.Error(), "registration_failed"):
				refused.Add(1)
			default:
				t.Errorf("Register: %v", err)
			}
		})
		creds, _ := e.svc.Credentials(ctx, user)
		if won.Load() != 1 || refused.Load() != 63 || len(creds) != 1 {
			t.Fatalf("round %d: %d registered, %d refused, %d credentials; want 1, 63, 1", round, won.Load(), refused.Load(), len(creds))
		}
	}
}

// race runs f(0..n-1) on n goroutines released together.
var race = instancetest.Race

func TestBinding_TokenBoundToUserActionDetails(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	e.enrol("bob", "ES256")
	res := e.track("alice", "transfer", transferDetails, false)
	ch, _ := d.Challenge(ctx, res.ChallengeID)
	if _, err := d.Approve(ctx, ch, ""); err != nil {
		t.Fatal(err)
	}
	changed := deviceauth.Details{Message: transferDetails.Message, Fields: []deviceauth.Field{{Label: "Amount", Value: "9999.00 EUR"}, {Label: "Payee", Value: "Bob"}}}
	cases := []struct {
		name, user, action string
		details            deviceauth.Details
	}{
		{"another user", "bob", "transfer", transferDetails},
		{"another action", "alice", "signIn", transferDetails},
		{"changed details", "alice", "transfer", changed},
		{"no details", "alice", "transfer", deviceauth.Details{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if v := e.validate(res.Token, c.user, c.action, c.details); v.Valid || v.State != deviceauth.StateChallengeFailed {
				t.Fatalf("Validate = %+v, want CHALLENGE_FAILED", v)
			}
		})
	}
	// None of those burnt the token for its rightful use.
	if v := e.validate(res.Token, "alice", "transfer", transferDetails); !v.Valid {
		t.Fatal("the right validation failed after wrong ones")
	}
	// A forged token (right shape, wrong MAC) and garbage are invalid.
	forged := "dat_" + protocol.EncodeBase64(append([]byte(res.ChallengeID), make([]byte, 32)...))
	for _, tok := range []string{forged, "", "dat_", "dat_!!!", res.Token + "x", strings.Repeat("a", 1000)} {
		if v := e.validate(tok, "alice", "transfer", transferDetails); v.Valid {
			t.Fatalf("token %q validated", tok)
		}
	}
}

func TestBinding_TokenFromRotatedKeysStillVerifies(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{9}, 32)
	e := newEnv(t)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	res := e.track("alice", "transfer", deviceauth.Details{}, false)
	ch, _ := d.Challenge(ctx, res.ChallengeID)
	d.Approve(ctx, ch, "")
	rotated, err := deviceauth.New(deviceauth.Config{Store: e.store, Keys: [][]byte{newKey, oldKey}, PublicURL: e.srv.URL, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	dropped, _ := deviceauth.New(deviceauth.Config{Store: e.store, Keys: [][]byte{newKey}, PublicURL: e.srv.URL, Now: e.clock.Now})
	req := deviceauth.ValidateRequest{Token: res.Token, UserID: "alice", Action: "transfer"}
	if v, _ := dropped.Validate(ctx, req); v.Valid {
		t.Fatal("a token signed by a dropped key validated")
	}
	if v, _ := rotated.Validate(ctx, req); !v.Valid {
		t.Fatal("a token signed by the old key did not validate after rotation")
	}
}

func TestBinding_ResponseSignatures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.enrolKeyed("alice")
	bob := e.enrolKeyed("bob")
	res := e.track("alice", "transfer", transferDetails, false)
	ch, err := alice.Challenge(ctx, res.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	otherDetails := ch
	otherDetails.Details = deviceauth.Details{Message: "Send 1 EUR to Bob", Fields: []deviceauth.Field{}}

	approveSig := alice.signDER(t, alice.ResponseMessage(ch, "approve", "", ""))
	denySig := alice.signDER(t, alice.ResponseMessage(ch, "deny", "", ""))
	cases := []struct {
		name string
		r    deviceauth.DeviceAnswer
	}{
		{"bob's device signs alice's challenge", bob.response(t, ch, "approve", "")},
		{"bob's signature under alice's credential ID", func() deviceauth.DeviceAnswer {
			r := bob.response(t, ch, "approve", "")
			r.CredentialID = alice.CredentialID
			return r
		}()},
		{"signature over other details", alice.response(t, otherDetails, "approve", "")},
		{"approve signature sent as deny", deviceauth.DeviceAnswer{ChallengeID: ch.ID, CredentialID: alice.CredentialID, Decision: "deny", Signature: approveSig}},
		{"deny signature sent as approve", deviceauth.DeviceAnswer{ChallengeID: ch.ID, CredentialID: alice.CredentialID, Decision: "approve", Signature: denySig}},
		{"unknown credential", func() deviceauth.DeviceAnswer {
			r := alice.response(t, ch, "approve", "")
			r.CredentialID = "unknownCredential"
			return r
		}()},
		{"unknown challenge", func() deviceauth.DeviceAnswer {
			r := alice.response(t, ch, "approve", "")
			r.ChallengeID = "unknownChallenge"
			return r
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.svc.Respond(ctx, c.r)
			if !errorsIs(err, deviceauth.ErrInvalidResponse) {
				t.Fatalf("Respond: %v, want invalid_response", err)
			}
			if got, _ := alice.Challenge(ctx, ch.ID); got.State != "PENDING" {
				t.Fatalf("state %s after a refused response", got.State)
			}
		})
	}
}

func errorsIs(err error, target deviceauth.Sentinel) bool {
	return errors.Is(err, target)
}

func TestReplay_ResponseAndMalleableTwin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.enrolKeyed("alice")
	res := e.track("alice", "transfer", deviceauth.Details{}, false)
	ch, _ := d.Challenge(ctx, res.ChallengeID)
	r := d.response(t, ch, "approve", "")
	if _, err := e.svc.Respond(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Respond(ctx, r); !errorsIs(err, deviceauth.ErrChallengeClosed) {
		t.Fatalf("replayed response: %v, want challenge_closed", err)
	}
	// (r, n−s) is the other valid signature of the same message: it verifies,
	// and is refused by the challenge's state, not by remembered bytes.
	var sig struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(r.Signature, &sig); err != nil {
		t.Fatal(err)
	}
	sig.S.Sub(elliptic.P256().Params().N, sig.S)
	twin, _ := asn1.Marshal(sig)
	r.Signature = twin
	if _, err := e.svc.Respond(ctx, r); !errorsIs(err, deviceauth.ErrChallengeClosed) {
		t.Fatalf("malleated twin: %v, want challenge_closed", err)
	}
	if v := e.validate(res.Token, "alice", "transfer", deviceauth.Details{}); !v.Valid {
		t.Fatal("the approval did not validate")
	}
	// After validation, both the replay and the twin still fail.
	if _, err := e.svc.Respond(ctx, r); !errorsIs(err, deviceauth.ErrChallengeClosed) {
		t.Fatalf("twin after validation: %v", err)
	}
}

// signedGet sends a GET to path signed by d with the given profile
// components, created time and nonce.
func (e *env) signedGet(d keyedDevice, path string, components []string, keyID string, created time.Time, nonce string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/deviceauth"+path, nil)
	var cs []httpsig.Component
	for _, c := range components {
		cs = append(cs, httpsig.Component{Name: c})
	}
	in := httpsig.SignatureInput{Components: cs, Params: sigParams(created, keyID, nonce)}
	sig, err := httpsig.SignMessage(httpsig.RequestMessage(req), "deviceauth", in, "ecdsa-p256-sha256", d.key)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := httpsig.AddSignature(req.Header, sig); err != nil {
		e.t.Fatal(err)
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) (int, string) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b deviceauth.DenialBody
	json.NewDecoder(resp.Body).Decode(&b)
	return resp.StatusCode, b.Error
}

func TestReplay_SignedRequests(t *testing.T) {
	e := newEnv(t)
	d := e.enrolKeyed("alice")
	other := e.enrolKeyed("bob")
	all := []string{"@method", "@authority", "@path", "@query"}
	now := e.clock.Now()
	if st, code := e.signedGet(d, "/v1/challenges", all, d.CredentialID, now, "nonce-000000000001"); st != 200 {
		t.Fatalf("a good signed request: %d %s", st, code)
	}
	cases := []struct {
		name       string
		components []string
		keyID      string
		created    time.Time
		nonce      string
	}{
		{"replayed nonce", all, d.CredentialID, now, "nonce-000000000001"},
		{"stale created", all, d.CredentialID, now.Add(-121 * time.Second), "nonce-000000000002"},
		{"future created", all, d.CredentialID, now.Add(121 * time.Second), "nonce-000000000003"},
		{"missing @method", all[1:], d.CredentialID, now, "nonce-000000000004"},
		{"missing @authority", []string{"@method", "@path", "@query"}, d.CredentialID, now, "nonce-000000000005"},
		{"missing @path", []string{"@method", "@authority", "@query"}, d.CredentialID, now, "nonce-000000000006"},
		{"missing @query", all[:3], d.CredentialID, now, "nonce-000000000007"},
		{"wrong keyid", all, other.CredentialID, now, "nonce-000000000008"},
		{"unknown keyid", all, "unknownCredential", now, "nonce-000000000009"},
		{"missing nonce", all, d.CredentialID, now, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if st, code := e.signedGet(d, "/v1/challenges", c.components, c.keyID, c.created, c.nonce); st != 401 || code != "unauthorized" {
				t.Fatalf("got %d %s, want 401 unauthorized", st, code)
			}
		})
	}
	// At exactly ±skew the request is accepted.
	if st, _ := e.signedGet(d, "/v1/challenges", all, d.CredentialID, now.Add(-120*time.Second), "nonce-000000000010"); st != 200 {
		t.Fatalf("created at -skew: %d", st)
	}
}

func TestReplay_UnsignedFloodDoesNotFillNonceCache(t *testing.T) {
	e := newEnv(t, noRateLimits)
	d := e.enrolKeyed("alice")
	before := e.store.Nonces.Load()
	evil := e.enrolKeyed("mallory")
	for i := range 200 {
		// Signed by mallory's key but claiming alice's keyid: never verifies.
		nonce := protocol.EncodeBase64([]byte{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		st, _ := e.signedGet(evil, "/v1/challenges", []string{"@method", "@authority", "@path", "@query"}, d.CredentialID, e.clock.Now(), nonce)
		if st != 401 {
			t.Fatalf("forged request %d: %d", i, st)
		}
	}
	if got := e.store.Nonces.Load() - before; got != 0 {
		t.Fatalf("%d nonces claimed by unverified requests, want 0", got)
	}
}

func sigParams(created time.Time, keyID, nonce string) *httpsfv.Params {
	p := httpsfv.NewParams()
	p.Add("created", created.Unix())
	p.Add("keyid", keyID)
	if nonce != "" {
		p.Add("nonce", nonce)
	}
	p.Add("tag", "deviceauth")
	return p
}
