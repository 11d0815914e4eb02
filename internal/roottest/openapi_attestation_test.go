package roottest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/attest"
	"github.com/deviceauth/deviceauth/device"
)

// openapiAttestation exercises the attestation responses: an attested
// registration, its refusals, and an approval refused for want of one.
func openapiAttestation(t *testing.T, c *oasCheck) {
	ctx := context.Background()
	root := newTestRoot(t, newClock().Now())
	e := newEnv(t, headerUsers, noRateLimits, withAttestation(root.verifier(t), "android"))
	base := e.srv.URL + "/deviceauth"
	jsonHeader := map[string]string{"Content-Type": "application/json"}

	tokens := mintTokens(t, e, "alice", 1)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c.Expect("register: no attestation where required", 403, "attestation_required", true,
		c.Send("POST", base+"/v1/credentials", string(registerBody(t, key, tokens[0], "android", nil)), jsonHeader))
	other := root.chain(t, &key.PublicKey, attest.AndroidChallenge("drt_another"), e.clock.Now())
	c.Expect("register: attestation for another token", 403, "attestation_failed", true,
		c.Send("POST", base+"/v1/credentials", string(registerBody(t, key, tokens[0], "android", androidAttestation(other))), jsonHeader))
	chain := root.chain(t, &key.PublicKey, attest.AndroidChallenge(tokens[0]), e.clock.Now())
	ex := c.Expect("register: attested", 201, "", true,
		c.Send("POST", base+"/v1/credentials", string(registerBody(t, key, tokens[0], "android", androidAttestation(chain))), jsonHeader))
	var cred struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(ex.Body, &cred); err != nil || cred.ID == "" {
		t.Fatalf("attested registration: %s, %v", ex.Body, err)
	}

	// bob's only device is not attested: it cannot approve a transfer that
	// requires an attested key.
	bobToken := mintTokens(t, e, "bob", 1)[0]
	bob := c.newDevice(e)
	c.Expect("register: not attested, platform without the rule", 201, "", true, func() { bob.Register(ctx, bobToken, "phone", "web") })
	res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "bob", Action: "transfer", Details: transferDetails,
		Attestation: deviceauth.AttestationRequirement{HardwareBacked: true}})
	if err != nil {
		t.Fatal(err)
	}
	var ch device.Challenge
	c.Expect("fetch", 200, "", true, func() { ch, _ = bob.Challenge(ctx, res.ChallengeID) })
	c.Expect("respond: approval by an unattested device", 403, "attestation_required", true, func() { bob.Approve(ctx, ch, "") })
}
