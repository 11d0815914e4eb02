package roottest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/attest"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/protocol"
)

// The registration end to end uses a test root: no real vector carries this
// protocol's binding (attest's known-answer tests check the binding itself),
// so the test makes an Android-style chain — a leaf for the device's key
// with a KeyDescription whose attestationChallenge is
// attest.AndroidChallenge(token) — below a root it pins with
// AndroidConfig.ExtraRootKeys.

const testApp = "com.example.bank"

var testAppDigest = sha256.Sum256([]byte("signing certificate of " + testApp))

// testRoot is a root key pinned for the test and its self-signed
// certificate.
type testRoot struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	der  []byte
}

func newTestRoot(t testing.TB, now time.Time) testRoot {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test attestation root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testRoot{key: key, cert: cert, der: der}
}

// verifier is an attest.Verifier that trusts r (and Google's roots) and
// accepts testApp only.
func (r testRoot) verifier(t testing.TB) *attest.Verifier {
	t.Helper()
	v, err := attest.NewVerifier(attest.Config{Android: &attest.AndroidConfig{
		ExtraRootKeys: [][]byte{r.cert.RawSubjectPublicKeyInfo},
		Apps:          []attest.AndroidApp{{Package: testApp, SigningCertDigests: [][]byte{testAppDigest[:]}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// explicit is v in the explicit context-specific tag of an
// AuthorizationList entry.
func explicit(t testing.TB, tag int, v any, params string) asn1.RawValue {
	t.Helper()
	inner, err := asn1.MarshalWithParams(v, params)
	if err != nil {
		t.Fatal(err)
	}
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: true, Bytes: inner}
}

func sequenceOf(t testing.TB, items ...asn1.RawValue) asn1.RawValue {
	t.Helper()
	var body []byte
	for _, it := range items {
		b, err := asn1.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		body = append(body, b...)
	}
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: body}
}

// chain is an Android-style attestation chain for key: a TEE key generated
// in hardware, usable only after biometric authentication each time, on a
// locked device with verified boot, made by testApp, with challenge.
func (r testRoot) chain(t testing.TB, key *ecdsa.PublicKey, challenge []byte, now time.Time) [][]byte {
	t.Helper()
	appID, err := asn1.Marshal(struct {
		Packages []struct {
			Name    []byte
			Version int64
		} `asn1:"set"`
		Digests [][]byte `asn1:"set"`
	}{Packages: []struct {
		Name    []byte
		Version int64
	}{{[]byte(testApp), 7}}, Digests: [][]byte{testAppDigest[:]}})
	if err != nil {
		t.Fatal(err)
	}
	rootOfTrust := struct {
		Key    []byte
		Locked bool
		State  asn1.Enumerated
		Hash   []byte
	}{bytes.Repeat([]byte{1}, 32), true, 0, bytes.Repeat([]byte{2}, 32)}
	hw := sequenceOf(t,
		explicit(t, 1, []int{2}, "set"), // purpose SIGN
		explicit(t, 2, 3, ""),           // algorithm EC
		explicit(t, 504, 2, ""),         // userAuthType biometric, no timeout: per use
		explicit(t, 702, 0, ""),         // origin GENERATED
		explicit(t, 704, rootOfTrust, ""),
	)
	sw := sequenceOf(t, explicit(t, 709, appID, ""))
	kd, err := asn1.Marshal(struct {
		AttestationVersion       int64
		AttestationSecurityLevel asn1.Enumerated
		KeymasterVersion         int64
		KeymasterSecurityLevel   asn1.Enumerated
		Challenge, UniqueID      []byte
		SW, HW                   asn1.RawValue
	}{300, 1, 300, 1, challenge, []byte{}, sw, hw})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Android Keystore Key"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: attest.OIDKeyDescription, Value: kd}}}
	leaf, err := x509.CreateCertificate(rand.Reader, tmpl, r.cert, key, r.key)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{leaf, r.der}
}

// registerBody is the JSON of POST /v1/credentials by key with attestation
// (nil for none).
func registerBody(t testing.TB, key *ecdsa.PrivateKey, token, platform string, attestation any) []byte {
	t.Helper()
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	name := "attested phone"
	msg := protocol.RegistrationMessage(token, "ES256", spki, name, platform)
	h := sha256.Sum256(msg)
	sig, _ := ecdsa.SignASN1(rand.Reader, key, h[:])
	b64 := base64.RawURLEncoding.EncodeToString
	body := map[string]any{"token": token, "algorithm": "ES256", "publicKey": b64(spki), "signature": b64(sig),
		"name": name, "platform": platform}
	if attestation != nil {
		body["attestation"] = attestation
	}
	out, _ := json.Marshal(body)
	return out
}

func androidAttestation(chain [][]byte) map[string]any {
	certs := make([]string, len(chain))
	for i, c := range chain {
		certs[i] = base64.RawURLEncoding.EncodeToString(c)
	}
	return map[string]any{"format": "android-key", "chain": certs}
}

// postRegistration posts body and decodes the credential or error.
func (e *env) postRegistration(body []byte) (int, map[string]any) {
	e.t.Helper()
	resp, err := http.Post(e.srv.URL+"/deviceauth/v1/credentials", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, out
}

func withAttestation(v deviceauth.AttestationVerifier, required ...string) envOption {
	return func(c *deviceauth.Config) { c.Attestation, c.AttestationRequired = v, required }
}

// enrolAttestedSecond adds an attested Android key as user's second
// device, through a step-up approved by first, and returns its client.
func (e *env) enrolAttestedSecond(root testRoot, first *device.Client, user string) *device.Client {
	e.t.Helper()
	res := e.track(user, deviceauth.ActionAddAuthenticator, deviceauth.Details{}, true)
	approve(e.t, first, res.ChallengeID, res.VerificationCode)
	grant, err := e.svc.MintRegistrationToken(context.Background(), user, res.Token)
	if err != nil {
		e.t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	chain := root.chain(e.t, &key.PublicKey, attest.AndroidChallenge(grant.Token), e.clock.Now())
	status, out := e.postRegistration(registerBody(e.t, key, grant.Token, "android", androidAttestation(chain)))
	if status != http.StatusCreated {
		e.t.Fatalf("attested registration: %d %v", status, out)
	}
	d, err := device.New(e.srv.URL+"/deviceauth", key)
	if err != nil {
		e.t.Fatal(err)
	}
	d.Now, d.CredentialID = e.clock.Now, out["id"].(string)
	return d
}

// TestAttestation_RegistrationOverHTTP: an Android key attested for this
// registration registers and is labelled with what the attestation says;
// without one, or with one bound to another token, a platform that
// requires it is refused, and the refusal leaves the token usable.
func TestAttestation_RegistrationOverHTTP(t *testing.T) {
	root := newTestRoot(t, newClock().Now()) // the env's clock starts at the same instant
	e := newEnv(t, withAttestation(root.verifier(t), "android"))
	clk := e.clock
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g, err := e.svc.MintRegistrationToken(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := e.svc.MintRegistrationToken(ctx, "bob", "")

	// Refused: none on a platform that requires one; one bound to another
	// token; another key's attestation.
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, tc := range map[string]struct {
		attestation any
		code        string
	}{
		"none":          {nil, "attestation_required"},
		"other token":   {androidAttestation(root.chain(t, &key.PublicKey, attest.AndroidChallenge(other.Token), clk.Now())), "attestation_failed"},
		"other key":     {androidAttestation(root.chain(t, &otherKey.PublicKey, attest.AndroidChallenge(g.Token), clk.Now())), "attestation_failed"},
		"unknown field": {map[string]any{"format": "android-key", "chain": []string{}, "extra": 1}, "attestation_failed"},
	} {
		status, out := e.postRegistration(registerBody(t, key, g.Token, "android", tc.attestation))
		if status != http.StatusForbidden || out["error"] != tc.code {
			t.Errorf("%s: %d %v, want 403 %s", name, status, out, tc.code)
		}
	}

	// Accepted, with the same token: the refusals did not consume it.
	chain := root.chain(t, &key.PublicKey, attest.AndroidChallenge(g.Token), clk.Now())
	status, out := e.postRegistration(registerBody(t, key, g.Token, "android", androidAttestation(chain)))
	if status != http.StatusCreated {
		t.Fatalf("attested registration: %d %v", status, out)
	}
	want := map[string]any{"kind": "android-key", "securityLevel": "tee", "hardwareBacked": true, "userAuth": "per-use",
		"userAuthRequired": true, "appIds": []any{testApp}, "verifiedBoot": "verified"}
	if got, _ := json.Marshal(out["attestation"]); !jsonEqual(t, got, want) {
		t.Fatalf("attestation = %s, want %v", got, want)
	}
	creds, err := e.svc.Credentials(ctx, "alice")
	if err != nil || len(creds) != 1 {
		t.Fatalf("Credentials = %v, %v", creds, err)
	}
	a := creds[0].Attestation
	if a.Kind != "android-key" || !a.HardwareBacked || !a.UserAuthRequired || a.VerifiedBoot != "verified" ||
		!slices.Equal(a.AppIDs, []string{testApp}) || len(a.Record) == 0 {
		t.Fatalf("Credentials' attestation = %+v", a)
	}
	var record attest.Result
	if err := json.Unmarshal(a.Record, &record); err != nil || record.Android == nil ||
		!bytes.Equal(record.Android.AttestationChallenge, attest.AndroidChallenge(g.Token)) {
		t.Fatalf("Record = %s, %v: want the whole KeyDescription", a.Record, err)
	}

	// A platform that does not require it registers without, labelled "none".
	d := e.enrol("bob", "ES256") // platform "test"
	creds, _ = e.svc.Credentials(ctx, "bob")
	if len(creds) != 1 || creds[0].ID != d.CredentialID || creds[0].Attestation.Kind != "none" ||
		creds[0].Attestation.SecurityLevel != "unknown" || creds[0].Attestation.HardwareBacked || creds[0].Attestation.UserAuthRequired {
		t.Fatalf("unattested credential = %+v", creds)
	}
}

func jsonEqual(t testing.TB, got []byte, want any) bool {
	t.Helper()
	w, _ := json.Marshal(want)
	var a, b any
	json.Unmarshal(got, &a)
	json.Unmarshal(w, &b)
	ga, _ := json.Marshal(a)
	gb, _ := json.Marshal(b)
	return bytes.Equal(ga, gb)
}

// TestAttestation_NotConfigured: a server without Config.Attestation
// refuses a registration that carries one rather than recording a claim it
// did not check, and New refuses AttestationRequired without a verifier.
func TestAttestation_NotConfigured(t *testing.T) {
	e := newEnv(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g, _ := e.svc.MintRegistrationToken(context.Background(), "alice", "")
	status, out := e.postRegistration(registerBody(t, key, g.Token, "android", map[string]any{"format": "android-key", "chain": []string{}}))
	if status != http.StatusForbidden || out["error"] != "attestation_failed" {
		t.Fatalf("registration with an attestation: %d %v", status, out)
	}
	if _, err := deviceauth.New(deviceauth.Config{Store: e.store, Keys: [][]byte{bytes.Repeat([]byte{7}, 32)},
		PublicURL: "https://app.example", AttestationRequired: []string{"*"}}); err == nil {
		t.Fatal("New accepted AttestationRequired without Attestation")
	}
}

// TestAttestation_RequiredPerAction: a challenge tracked with an
// attestation requirement can be approved only by a device that meets it;
// the others do not see it pending, cannot approve it (attestation_required)
// but can deny it; and a token of a challenge tracked without the
// requirement does not validate where it is asked.
func TestAttestation_RequiredPerAction(t *testing.T) {
	root := newTestRoot(t, newClock().Now())
	e := newEnv(t, withAttestation(root.verifier(t)))
	ctx := context.Background()
	plain := e.enrolKeyed("alice")
	attested := e.enrolAttestedSecond(root, plain.Client, "alice")

	req := deviceauth.AttestationRequirement{HardwareBacked: true, UserAuthRequired: true}
	tr, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails, Attestation: req})
	if err != nil || tr.ChallengeID == "" {
		t.Fatalf("Track = %+v, %v", tr, err)
	}
	if p, err := plain.Pending(ctx); err != nil || len(p) != 0 {
		t.Fatalf("the unattested device's pending list = %+v, %v; want it hidden", p, err)
	}
	if p, err := attested.Pending(ctx); err != nil || len(p) != 1 || p[0].ID != tr.ChallengeID {
		t.Fatalf("the attested device's pending list = %+v, %v", p, err)
	}
	ch, err := plain.Challenge(ctx, tr.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Approve(ctx, ch, ""); apiCode(err) != "attestation_required" {
		t.Fatalf("unattested approval: %v, want attestation_required", err)
	}
	if v := e.validateWith(tr.Token, req); v.Valid {
		t.Fatal("a challenge the unattested device tried to approve validated")
	}
	// The refused approval left the challenge pending: the attested device approves it.
	tr, _ = e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails, Attestation: req})
	approve(t, attested, tr.ChallengeID, tr.VerificationCode)
	if v := e.validateWith(tr.Token, req); !v.Valid || v.CredentialID != attested.CredentialID {
		t.Fatalf("Validate of the attested approval = %+v", v)
	}

	// Any device may deny.
	tr, _ = e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails, Attestation: req})
	ch, _ = plain.Challenge(ctx, tr.ChallengeID)
	if r, err := plain.Deny(ctx, ch, "not_me"); err != nil || r.State != "DENIED" {
		t.Fatalf("unattested denial = %+v, %v", r, err)
	}

	// A challenge tracked without the requirement, approved by the plain
	// device, does not pass where the requirement is asked.
	tr = e.track("alice", "transfer", transferDetails, false)
	approve(t, plain.Client, tr.ChallengeID, tr.VerificationCode)
	if v := e.validateWith(tr.Token, req); v.Valid {
		t.Fatal("a token tracked without the requirement validated with it")
	}
	if n := e.events.count(event.ValidationFailed); n < 2 {
		t.Fatalf("%d validation failures reported, want at least 2", n)
	}
}

func (e *env) validateWith(token string, req deviceauth.AttestationRequirement) deviceauth.Validation {
	e.t.Helper()
	v, err := e.svc.Validate(context.Background(), deviceauth.ValidateRequest{Token: token, UserID: "alice", Action: "transfer",
		Details: transferDetails, Attestation: req})
	if err != nil {
		e.t.Fatalf("Validate: %v", err)
	}
	return v
}

// TestAttestation_RequireRoute: a route gated WithAttestation tracks its
// challenges with the requirement, so an unattested device cannot approve
// them, the attested one can, and the route runs with its token; a token
// approved by the unattested device for the same action and details through
// a route without the requirement does not open it.
func TestAttestation_RequireRoute(t *testing.T) {
	root := newTestRoot(t, newClock().Now())
	req := deviceauth.AttestationRequirement{HardwareBacked: true, UserAuthRequired: true}
	g := newGatedEnv(t, []deviceauth.RequireOption{deviceauth.WithAttestation(req)}, withAttestation(root.verifier(t)))
	ctx := context.Background()
	plain := g.enrol("alice", "ES256")
	attested := g.enrolAttestedSecond(root, plain, "alice")

	b := denialOf(t, g.transfer("alice", "", "10"))
	ch, err := plain.Challenge(ctx, b.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Approve(ctx, ch, b.VerificationCode); apiCode(err) != "attestation_required" {
		t.Fatalf("unattested approval on the gated route: %v", err)
	}
	approve(t, attested, b.ChallengeID, b.VerificationCode)
	if rec := g.transfer("alice", b.Token, "10"); rec.Code != http.StatusOK || g.ran != 1 || g.lastV.CredentialID != attested.CredentialID {
		t.Fatalf("with the attested approval: %d %s ran=%d", rec.Code, rec.Body, g.ran)
	}

	// The same action and details tracked without the requirement (another
	// route, or the API), approved by the unattested device.
	other := g.track("alice", "transfer", deviceauth.Details{Message: "Transfer",
		Fields: []deviceauth.Field{{Label: "Amount", Value: "10"}, {Label: "Payee", Value: "Bob"}}}, false)
	approve(t, plain, other.ChallengeID, other.VerificationCode)
	if rec := g.transfer("alice", other.Token, "10"); rec.Code != http.StatusForbidden || g.ran != 1 {
		t.Fatalf("a token without the requirement: %d %s ran=%d", rec.Code, rec.Body, g.ran)
	}
}

// TestAttestation_PasskeysCannotMeetARequirement: passkeys are never
// attested, so a challenge with a requirement offers them nothing, even
// when tracked for PASSKEY, and a passkey is listed as not attested.
func TestAttestation_PasskeysCannotMeetARequirement(t *testing.T) {
	e := newEnv(t, headerUsers, func(c *deviceauth.Config) { c.Passkeys = fakePasskeys{} })
	ctx := context.Background()
	cred := addFakePasskey(t, e, "alice", []byte("raw-1"), 5)
	res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails,
		Methods: []deviceauth.Method{deviceauth.MethodPasskey}, Attestation: deviceauth.AttestationRequirement{Attested: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := passkeyOptions(e.svc, ctx, "alice", res.ChallengeID); !errors.Is(err, deviceauth.ErrInvalidRequest) {
		t.Fatalf("PasskeyOptions: %v, want invalid_request", err)
	}
	req, _ := http.NewRequest("POST", "/", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	b, _ := json.Marshal(fakeAssertion{ID: cred.ID, Challenge: []byte("any"), SignCount: 6})
	if _, err := respondPasskey(e.svc, ctx, req, "alice", res.ChallengeID, b); !errors.Is(err, deviceauth.ErrInvalidRequest) {
		t.Fatalf("RespondPasskey: %v, want invalid_request", err)
	}
	creds, _ := e.svc.Credentials(ctx, "alice")
	if len(creds) != 1 || creds[0].Attestation.Kind != "none" {
		t.Fatalf("passkey credential = %+v", creds)
	}
}

// TestAttestation_PushGoesToDevicesThatCanApprove: a push challenge with a
// requirement notifies only the devices that meet it.
func TestAttestation_PushGoesToDevicesThatCanApprove(t *testing.T) {
	root := newTestRoot(t, newClock().Now())
	rec := newRecorder()
	e := pushEnv(t, rec, withAttestation(root.verifier(t)))
	plain := e.enrol("alice", "ES256")
	attested := e.enrolAttestedSecond(root, plain, "alice")
	if n := rec.next(t); n.Type != deviceauth.NotificationCredentialAdded {
		t.Fatalf("first notification %+v, want the new credential", n)
	}
	_, err := e.svc.Track(context.Background(), deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails,
		Methods: []deviceauth.Method{deviceauth.MethodPush}, Attestation: deviceauth.AttestationRequirement{HardwareBacked: true}})
	if err != nil {
		t.Fatal(err)
	}
	n := rec.next(t)
	if n.Type != deviceauth.NotificationChallenge || !slices.Equal(n.CredentialIDs, []string{attested.CredentialID}) {
		t.Fatalf("push %+v, want only the attested device %s", n, attested.CredentialID)
	}
	rec.none(t, e)
}

// mapMemory is a StepUpMemory in a map, for one browser.
type mapMemory struct{ last map[string]deviceauth.StepUp }

func (m *mapMemory) Recall(_ *http.Request, user, action string, digest []byte, _ time.Time) (deviceauth.StepUp, bool, error) {
	su, ok := m.last[user+"\x00"+action+"\x00"+string(digest)]
	return su, ok, nil
}

func (m *mapMemory) Remember(_ http.ResponseWriter, _ *http.Request, su deviceauth.StepUp) error {
	m.last[su.UserID+"\x00"+su.Action+"\x00"+string(su.DetailsDigest)] = su
	return nil
}

// TestAttestation_RememberedStepUpMeetsTheRequirement: a step-up remembered
// from a route without the requirement, approved by an unattested device,
// does not open a route with it; one approved by the attested device does.
func TestAttestation_RememberedStepUpMeetsTheRequirement(t *testing.T) {
	root := newTestRoot(t, newClock().Now())
	mem := &mapMemory{last: map[string]deviceauth.StepUp{}}
	g := newGatedEnv(t, []deviceauth.RequireOption{deviceauth.WithStepUpMemory(mem)}, withAttestation(root.verifier(t)))
	plain := g.enrol("alice", "ES256")
	attested := g.enrolAttestedSecond(root, plain, "alice")
	strict := g.svc.Require("transfer", transferDetailsFunc, deviceauth.WithStepUpMemory(mem),
		deviceauth.WithAttestation(deviceauth.AttestationRequirement{HardwareBacked: true}))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	strictTransfer := func(amount string) int {
		req := httptest.NewRequest(http.MethodPost, "/transfer", strings.NewReader(`{"amount":"`+amount+`","payee":"Bob"}`))
		req.Header.Set("X-User", "alice")
		rec := httptest.NewRecorder()
		strict.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, d := range []struct {
		approver *device.Client
		amount   string // each step-up its own details
		want     int
	}{{plain, "10", http.StatusUnauthorized}, {attested, "20", http.StatusOK}} {
		b := denialOf(t, g.transfer("alice", "", d.amount))
		approve(t, d.approver, b.ChallengeID, b.VerificationCode)
		if rec := g.transfer("alice", b.Token, d.amount); rec.Code != http.StatusOK {
			t.Fatalf("the lenient route with its token: %d", rec.Code)
		}
		if got := strictTransfer(d.amount); got != d.want {
			t.Fatalf("the strict route on a step-up remembered from %s: %d, want %d", d.approver.CredentialID, got, d.want)
		}
	}
}
