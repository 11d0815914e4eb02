package device

import (
	"encoding/json"

	"github.com/deviceauth/deviceauth/internal/protocol"
)

// The server writes the JSON of a fetched challenge, of an in-app payload
// and of a response's result by hand, in one shape each (members in order,
// no whitespace, strings without escapes where their values need none).
// The client reads those shapes with a protocol.Scanner and anything else
// (another server, a proxy that re-encoded the JSON, escaped strings)
// with encoding/json, to the same values (FuzzScanAsDecoder).

// decode reads data into out.
func decode(data []byte, out any) error {
	switch v := out.(type) {
	case *Result:
		if v.scan(data) {
			return nil
		}
	case *challengeJSON:
		if v.scanFetched(data) {
			return nil
		}
	}
	return json.Unmarshal(data, out)
}

// scan reads a result as the server writes it; false leaves r unchanged.
func (r *Result) scan(data []byte) bool {
	sc := protocol.NewScanner(data)
	var v Result
	v.ChallengeID = sc.Member(`{"challengeId":`)
	v.State = sc.Member(`,"state":`)
	if !sc.End() {
		return false
	}
	*r = v
	return true
}

// scanFetched reads a challenge as the server writes it for a signed
// fetch; false leaves v unchanged.
func (v *challengeJSON) scanFetched(data []byte) bool {
	sc := protocol.NewScanner(data)
	var c challengeJSON
	c.ID = sc.Member(`{"challengeId":`)
	c.Action = sc.Member(`,"action":`)
	c.State = sc.Member(`,"state":`)
	c.Nonce = sc.Member(`,"nonce":`)
	sc.Lit(`,"details":`)
	c.Details = sc.Details()
	sc.Lit(`,"verificationCodeRequired":`)
	c.VerificationCodeRequired = sc.Bool()
	c.Method = sc.Member(`,"method":`)
	c.ClientIP = sc.OptionalMember(`,"clientIp":`)
	c.UserAgent = sc.OptionalMember(`,"userAgent":`)
	c.Origin = sc.OptionalMember(`,"origin":`)
	sc.Lit(`,"createdAt":`)
	c.CreatedAt = sc.Time()
	sc.Lit(`,"expiresAt":`)
	c.ExpiresAt = sc.Time()
	if !sc.End() {
		return false
	}
	*v = c
	return true
}

// scanInApp reads an in-app payload as the server writes it
// (deviceauth.InAppChallenge's MarshalJSON); false leaves v unchanged.
func (v *challengeJSON) scanInApp(data []byte) bool {
	sc := protocol.NewScanner(data)
	var c challengeJSON
	c.ID = sc.Member(`{"challengeId":`)
	c.Action = sc.Member(`,"action":`)
	sc.Lit(`,"details":`)
	c.Details = sc.Details()
	sc.Lit(`,"expiresAt":`)
	c.ExpiresAt = sc.Time()
	c.CredentialID = sc.OptionalMember(`,"credentialId":`)
	c.Nonce = sc.Member(`,"nonce":`)
	if !sc.End() {
		return false
	}
	*v = c
	return true
}
