package deviceauth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/deviceauth/deviceauth/internal/protocol"
)

// The JSON answers the HTTP handlers send on every cycle are written by
// hand: each writes the bytes encoding/json writes for the same value but
// for <, > and & left unescaped (FuzzAppendJSONAsEncoder), in one buffer,
// where the encoder walks the type by reflection.

// errJSONTime is the error of a time encoding/json refuses to write.
var errJSONTime = errors.New("deviceauth: a time's year is outside [0,9999]")

// appendJSONTime appends t as encoding/json writes a time.Time: quoted
// RFC 3339 with nanoseconds. A year outside [0,9999] is errJSONTime, as
// encoding/json refuses it.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, errJSONTime
	}
	return append(t.AppendFormat(append(b, '"'), time.RFC3339Nano), '"'), nil
}

// appendDetailsJSON appends d as encoding/json writes Details: as the
// canonical JSON, but with fields null when d has none at all (nil).
func appendDetailsJSON(b []byte, d Details) []byte {
	if d.Fields == nil {
		b = protocol.AppendJSONString(append(b, `{"message":`...), d.Message)
		return append(b, `,"fields":null}`...)
	}
	return protocol.AppendCanonicalJSON(b, d)
}

// appendBase64JSON appends p as base64URL's MarshalJSON writes it.
func appendBase64JSON(b []byte, p []byte) []byte {
	return append(base64.RawURLEncoding.AppendEncode(append(b, '"'), p), '"')
}

// appendJSON appends v as json.Encoder writes it, the newline included.
func (v *ChallengeView) appendJSON(b []byte) ([]byte, error) {
	b = protocol.AppendJSONString(append(b, `{"challengeId":`...), v.ChallengeID)
	b = protocol.AppendJSONString(append(b, `,"action":`...), v.Action)
	b = protocol.AppendJSONString(append(b, `,"state":`...), v.State)
	b = appendBase64JSON(append(b, `,"nonce":`...), v.Nonce)
	b = appendDetailsJSON(append(b, `,"details":`...), v.Details)
	if v.VerificationCodeRequired {
		b = append(b, `,"verificationCodeRequired":true`...)
	} else {
		b = append(b, `,"verificationCodeRequired":false`...)
	}
	b = protocol.AppendJSONString(append(b, `,"method":`...), v.Method)
	b = protocol.AppendOptionalJSONString(b, `,"clientIp":`, v.ClientIP)
	b = protocol.AppendOptionalJSONString(b, `,"userAgent":`, v.UserAgent)
	b = protocol.AppendOptionalJSONString(b, `,"origin":`, v.Origin)
	b, err := appendJSONTime(append(b, `,"createdAt":`...), v.CreatedAt)
	if err != nil {
		return nil, err
	}
	if b, err = appendJSONTime(append(b, `,"expiresAt":`...), v.ExpiresAt); err != nil {
		return nil, err
	}
	return append(b, "}\n"...), nil
}

// jsonSize is about the length of v's JSON, to size its buffer.
func (v *ChallengeView) jsonSize() int {
	n := 256 + len(v.ChallengeID) + len(v.Action) + len(v.State) + base64.RawURLEncoding.EncodedLen(len(v.Nonce)) +
		protocol.CanonicalJSONSize(v.Details) + len(v.Method) + len(v.ClientIP) + len(v.UserAgent) + len(v.Origin)
	return n
}

// appendJSON appends d as json.Encoder writes it, the newline included.
func (d *DenialBody) appendJSON(b []byte) ([]byte, error) {
	b = protocol.AppendJSONString(append(b, `{"error":`...), d.Error)
	b = protocol.AppendJSONString(append(b, `,"message":`...), d.Message)
	b = protocol.AppendOptionalJSONString(b, `,"state":`, string(d.State))
	b = protocol.AppendOptionalJSONString(b, `,"challengeId":`, d.ChallengeID)
	b = protocol.AppendOptionalJSONString(b, `,"token":`, d.Token)
	if !d.ExpiresAt.IsZero() {
		var err error
		if b, err = appendJSONTime(append(b, `,"expiresAt":`...), d.ExpiresAt); err != nil {
			return nil, err
		}
	}
	if len(d.Methods) > 0 {
		b = append(b, `,"methods":[`...)
		for i, m := range d.Methods {
			if i > 0 {
				b = append(b, ',')
			}
			b = protocol.AppendJSONString(b, string(m))
		}
		b = append(b, ']')
	}
	b = protocol.AppendOptionalJSONString(b, `,"verificationCode":`, d.VerificationCode)
	b = protocol.AppendOptionalJSONString(b, `,"actionId":`, d.ActionID)
	return append(b, "}\n"...), nil
}

// jsonSize is about the length of d's JSON, to size its buffer.
func (d *DenialBody) jsonSize() int {
	n := 192 + len(d.Error) + len(d.Message) + len(d.State) + len(d.ChallengeID) + len(d.Token) + len(d.VerificationCode) + len(d.ActionID)
	for _, m := range d.Methods {
		n += len(m) + 3
	}
	return n
}

// writeView answers 200 with v.
func writeView(w http.ResponseWriter, v *ChallengeView) {
	b, err := v.appendJSON(make([]byte, 0, v.jsonSize()))
	if err != nil {
		writeJSON(w, http.StatusOK, v) // encoding/json's answer to a time it refuses
		return
	}
	writeRaw(w, http.StatusOK, b)
}
