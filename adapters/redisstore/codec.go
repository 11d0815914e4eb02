package redisstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// Records are Redis hashes. A field that is absent holds the zero value
// (empty string or bytes, zero time, 0), so records stay small and "cleared"
// and "never set" read alike. Times are unix milliseconds; byte slices are
// stored as they are (Redis strings are binary safe). The Lua scripts read
// and write some fields by these names.
const (
	fieldID = "id"
	// challenges
	fieldUser          = "u"
	fieldAction        = "a"
	fieldState         = "s"
	fieldMethod        = "m"
	fieldMethods       = "ms" // JSON array
	fieldNonce         = "n"
	fieldDetails       = "d"
	fieldDetailsDigest = "dd"
	fieldCode          = "vc"
	fieldIdempotency   = "ik"
	fieldClientIP      = "ip"
	fieldUserAgent     = "ua"
	fieldOrigin        = "o"
	fieldCreatedAt     = "ca"
	fieldExpiresAt     = "ea"
	fieldCredentialID  = "ci"
	fieldDenyReason    = "dr"
	fieldAnsweredAt    = "aa"
	fieldAttempts      = "at"
	fieldClaimedBy     = "cb"
	fieldClaimSecret   = "csh"
	fieldBrowserBind   = "bbh"
	fieldPasskey       = "pk"
	// fieldAttestationRequired and fieldAttestation were added with
	// attestation: records written before lack them and read as "none".
	fieldAttestationRequired = "ar"
	// credentials (and fieldID, fieldUser, fieldCreatedAt, fieldPasskey)
	fieldKind        = "k"
	fieldAlgorithm   = "al"
	fieldPublicKey   = "pub"
	fieldName        = "nm"
	fieldPlatform    = "pl"
	fieldPushToken   = "pt"
	fieldLastUsedAt  = "lu"
	fieldSignCount   = "sc"
	fieldFlags       = "f"
	fieldAttestation = "att"
	// registration tokens (and fieldUser, fieldCreatedAt, fieldExpiresAt);
	// absent in tokens of earlier releases, which read as false
	fieldFirstDevice = "fd"
	// ceremonies (and fieldID, fieldUser, fieldKind, fieldFirstDevice,
	// fieldCreatedAt, fieldExpiresAt)
	fieldData = "dat"
	// counters
	fieldCounterValue = "v"
	fieldWindowEnd    = "e"
)

// fields collects the field-value pairs of a record, leaving zero values
// out.
type fields []any

func (f *fields) str(name, v string) {
	if v != "" {
		*f = append(*f, name, v)
	}
}

func (f *fields) bytes(name string, v []byte) {
	if len(v) > 0 {
		*f = append(*f, name, v)
	}
}

func (f *fields) time(name string, v time.Time) {
	if !v.IsZero() {
		*f = append(*f, name, v.UnixMilli())
	}
}

func (f *fields) int(name string, v int64) {
	if v != 0 {
		*f = append(*f, name, v)
	}
}

func encodeChallenge(c store.Challenge) (fields, error) {
	f := fields{fieldID, c.ID}
	f.str(fieldUser, c.UserID)
	f.str(fieldAction, c.Action)
	f.str(fieldState, string(c.State))
	f.str(fieldMethod, c.Method)
	if len(c.Methods) > 0 {
		methods, err := json.Marshal(c.Methods)
		if err != nil {
			return nil, err
		}
		f.bytes(fieldMethods, methods)
	}
	f.bytes(fieldNonce, c.Nonce)
	f.bytes(fieldDetails, c.Details)
	f.bytes(fieldDetailsDigest, c.DetailsDigest)
	f.str(fieldCode, c.VerificationCode)
	f.str(fieldIdempotency, c.IdempotencyKey)
	f.str(fieldClientIP, c.ClientIP)
	f.str(fieldUserAgent, c.UserAgent)
	f.str(fieldOrigin, c.Origin)
	f.time(fieldCreatedAt, c.CreatedAt)
	f.time(fieldExpiresAt, c.ExpiresAt)
	f.str(fieldCredentialID, c.CredentialID)
	f.str(fieldDenyReason, c.DenyReason)
	f.time(fieldAnsweredAt, c.AnsweredAt)
	f.int(fieldAttempts, int64(c.Attempts))
	f.str(fieldClaimedBy, c.ClaimedBy)
	f.bytes(fieldClaimSecret, c.ClaimSecretHash)
	f.bytes(fieldBrowserBind, c.BrowserBindingHash)
	f.bytes(fieldPasskey, c.Passkey)
	f.str(fieldAttestationRequired, c.AttestationRequired)
	return f, nil
}

// decodeChallenge reads a challenge hash; as of now, a challenge whose
// ExpiresAt has passed and whose state is not final reads as EXPIRED.
func decodeChallenge(h map[string]string, now time.Time) (store.Challenge, error) {
	d := decoder{h: h}
	c := store.Challenge{
		ID:                  d.str(fieldID),
		UserID:              d.str(fieldUser),
		Action:              d.str(fieldAction),
		State:               store.State(d.str(fieldState)),
		Method:              d.str(fieldMethod),
		Nonce:               d.bytes(fieldNonce),
		Details:             d.bytes(fieldDetails),
		DetailsDigest:       d.bytes(fieldDetailsDigest),
		VerificationCode:    d.str(fieldCode),
		IdempotencyKey:      d.str(fieldIdempotency),
		ClientIP:            d.str(fieldClientIP),
		UserAgent:           d.str(fieldUserAgent),
		Origin:              d.str(fieldOrigin),
		CreatedAt:           d.time(fieldCreatedAt),
		ExpiresAt:           d.time(fieldExpiresAt),
		CredentialID:        d.str(fieldCredentialID),
		DenyReason:          d.str(fieldDenyReason),
		AnsweredAt:          d.time(fieldAnsweredAt),
		Attempts:            int(d.int(fieldAttempts, 0)),
		ClaimedBy:           d.str(fieldClaimedBy),
		ClaimSecretHash:     d.bytes(fieldClaimSecret),
		BrowserBindingHash:  d.bytes(fieldBrowserBind),
		Passkey:             d.bytes(fieldPasskey),
		AttestationRequired: d.str(fieldAttestationRequired),
	}
	if m := d.str(fieldMethods); m != "" {
		if err := json.Unmarshal([]byte(m), &c.Methods); err != nil {
			d.fail(fieldMethods, err)
		}
	}
	if d.err != nil {
		return store.Challenge{}, fmt.Errorf("redisstore: challenge %q: %w", c.ID, d.err)
	}
	c.State = c.StateAt(now)
	return c, nil
}

func encodeCredential(c store.Credential) fields {
	f := fields{fieldID, c.ID}
	f.str(fieldUser, c.UserID)
	f.str(fieldKind, string(c.Kind))
	f.str(fieldAlgorithm, c.Algorithm)
	f.bytes(fieldPublicKey, c.PublicKey)
	f.str(fieldName, c.Name)
	f.str(fieldPlatform, c.Platform)
	f.str(fieldPushToken, c.PushToken)
	f.time(fieldCreatedAt, c.CreatedAt)
	f.time(fieldLastUsedAt, c.LastUsedAt)
	f.int(fieldSignCount, int64(c.SignCount))
	f.int(fieldFlags, int64(c.Flags))
	f.bytes(fieldPasskey, c.Passkey)
	f.bytes(fieldAttestation, c.Attestation)
	return f
}

func decodeCredential(h map[string]string) (store.Credential, error) {
	d := decoder{h: h}
	c := store.Credential{
		ID:          d.str(fieldID),
		UserID:      d.str(fieldUser),
		Kind:        store.CredentialKind(d.str(fieldKind)),
		Algorithm:   d.str(fieldAlgorithm),
		PublicKey:   d.bytes(fieldPublicKey),
		Name:        d.str(fieldName),
		Platform:    d.str(fieldPlatform),
		PushToken:   d.str(fieldPushToken),
		CreatedAt:   d.time(fieldCreatedAt),
		LastUsedAt:  d.time(fieldLastUsedAt),
		SignCount:   uint32(d.int(fieldSignCount, 32)),
		Flags:       uint32(d.int(fieldFlags, 32)),
		Passkey:     d.bytes(fieldPasskey),
		Attestation: d.bytes(fieldAttestation),
	}
	if d.err != nil {
		return store.Credential{}, fmt.Errorf("redisstore: credential %q: %w", c.ID, d.err)
	}
	return c, nil
}

func encodeRegistrationToken(t store.RegistrationToken) fields {
	f := fields{fieldUser, t.UserID}
	f.time(fieldCreatedAt, t.CreatedAt)
	f.time(fieldExpiresAt, t.ExpiresAt)
	if t.FirstDevice {
		f = append(f, fieldFirstDevice, "1")
	}
	return f
}

func decodeRegistrationToken(h map[string]string, hash []byte) (store.RegistrationToken, error) {
	d := decoder{h: h}
	t := store.RegistrationToken{
		Hash:        append([]byte(nil), hash...),
		UserID:      d.str(fieldUser),
		CreatedAt:   d.time(fieldCreatedAt),
		ExpiresAt:   d.time(fieldExpiresAt),
		FirstDevice: d.int(fieldFirstDevice, 0) == 1,
	}
	if d.err != nil {
		return store.RegistrationToken{}, fmt.Errorf("redisstore: registration token: %w", d.err)
	}
	return t, nil
}

func encodeCeremony(c store.Ceremony) fields {
	f := fields{fieldID, c.ID}
	f.str(fieldUser, c.UserID)
	f.str(fieldKind, c.Kind)
	f.bytes(fieldData, c.Data)
	if c.FirstDevice {
		f = append(f, fieldFirstDevice, "1")
	}
	f.time(fieldCreatedAt, c.CreatedAt)
	f.time(fieldExpiresAt, c.ExpiresAt)
	return f
}

func decodeCeremony(h map[string]string) (store.Ceremony, error) {
	d := decoder{h: h}
	c := store.Ceremony{
		ID:          d.str(fieldID),
		UserID:      d.str(fieldUser),
		Kind:        d.str(fieldKind),
		Data:        d.bytes(fieldData),
		FirstDevice: d.int(fieldFirstDevice, 0) == 1,
		CreatedAt:   d.time(fieldCreatedAt),
		ExpiresAt:   d.time(fieldExpiresAt),
	}
	if d.err != nil {
		return store.Ceremony{}, fmt.Errorf("redisstore: ceremony: %w", d.err)
	}
	return c, nil
}

// decoder reads the fields of a hash, remembering the first malformed one.
type decoder struct {
	h   map[string]string
	err error
}

func (d *decoder) fail(name string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("field %s: %w", name, err)
	}
}

func (d *decoder) str(name string) string { return d.h[name] }

func (d *decoder) bytes(name string) []byte {
	if v, ok := d.h[name]; ok && v != "" {
		return []byte(v)
	}
	return nil
}

func (d *decoder) time(name string) time.Time {
	v, ok := d.h[name]
	if !ok || v == "" {
		return time.Time{}
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		d.fail(name, err)
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// int reads a decimal of bits bits (0: int64, signed; 32: uint32).
func (d *decoder) int(name string, bits int) int64 {
	v, ok := d.h[name]
	if !ok || v == "" {
		return 0
	}
	var n int64
	var err error
	if bits == 32 {
		var u uint64
		u, err = strconv.ParseUint(v, 10, 32)
		n = int64(u)
	} else {
		n, err = strconv.ParseInt(v, 10, 64)
	}
	if err != nil {
		d.fail(name, err)
	}
	return n
}

// reply is a script's {status, …} answer.
type reply struct {
	status string
	rest   []any
}

func parseReply(v any) (reply, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return reply{}, fmt.Errorf("redisstore: unexpected script reply %T", v)
	}
	status, ok := list[0].(string)
	if !ok {
		return reply{}, fmt.Errorf("redisstore: unexpected script status %T", list[0])
	}
	return reply{status: status, rest: list[1:]}, nil
}

// hashOf turns a flat field, value, … list into a map.
func hashOf(flat []any) (map[string]string, error) {
	if len(flat)%2 != 0 {
		return nil, errors.New("redisstore: odd field list in a script reply")
	}
	h := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, ok1 := flat[i].(string)
		v, ok2 := flat[i+1].(string)
		if !ok1 || !ok2 {
			return nil, errors.New("redisstore: non-string field in a script reply")
		}
		h[k] = v
	}
	return h, nil
}
