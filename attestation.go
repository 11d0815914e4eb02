package deviceauth

import (
	"context"
	"crypto"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/store"
)

// Hardware key attestation (docs/attestation.md): a device may prove at
// registration where its key lives. Package attest verifies Android Key
// Attestation chains and Apple App Attest objects offline; it plugs in
// through Config.Attestation, so applications without attestation never
// compile it. Each credential records an Attestation, "none" when nothing
// vouched for its key, and an action can require one (WithAttestation,
// TrackRequest.Attestation).

// AttestationVerifier verifies the attestation a device sends with its
// registration. Package attest implements it (attest.NewVerifier).
type AttestationVerifier interface {
	// VerifyAttestation verifies attestation, the JSON of the registration's
	// "attestation" member, for reg, whose key (parsed from reg.PublicKey)
	// signed message, the registration proof of possession, at the
	// Service's clock instant at. It returns what the attestation
	// established; any error refuses the registration (attestation_failed,
	// with the error's text as the message: it must not hold secrets).
	VerifyAttestation(ctx context.Context, reg Registration, key crypto.PublicKey, message []byte, at time.Time) (Attestation, error)
}

// Attestation is what a hardware attestation established about a
// credential's key. A credential registered without one is "not attested":
// Kind "none", levels "unknown", nothing claimed — never equal to an
// attested one.
type Attestation struct {
	// Kind is "none", "android-key" or "apple-appattest".
	Kind string `json:"kind"`
	// SecurityLevel is where the key lives: "unknown" (not attested),
	// "software", "tee", "strongbox" (Android) or "secure-enclave" (Apple).
	SecurityLevel string `json:"securityLevel"`
	// HardwareBacked: the key was generated in secure hardware and cannot
	// leave it.
	HardwareBacked bool `json:"hardwareBacked"`
	// UserAuth says whether using the key needs the user: "unknown", "none",
	// "timed" or "per-use"; UserAuthRequired is true for the last two.
	UserAuth         string `json:"userAuth"`
	UserAuthRequired bool   `json:"userAuthRequired"`
	// AppIDs identify the app holding the key (Android package names,
	// Apple "TEAMID.bundleID").
	AppIDs []string `json:"appIds,omitempty"`
	// VerifiedBoot is the device's boot state: "unknown", "verified",
	// "self-signed", "unverified" or "failed".
	VerifiedBoot string `json:"verifiedBoot"`
	// Record is the verifier's whole result (JSON of attest.Result), kept
	// with the credential for audits; never sent by the endpoints.
	Record json.RawMessage `json:"-"`
}

// attested reports whether an attestation vouched for the key.
func (a Attestation) attested() bool {
	return a.Kind != "" && a.Kind != attestationNone
}

const attestationNone = "none"

// notAttested is the Attestation of a credential registered without one.
var notAttested = Attestation{Kind: attestationNone, SecurityLevel: "unknown", UserAuth: "unknown", VerifiedBoot: "unknown"}

// AttestationRequirement is what the credential that answers a challenge
// must have been attested with. Each field set narrows it; the zero value
// requires nothing. Passkeys are never attested, so they cannot answer a
// challenge with a requirement.
type AttestationRequirement struct {
	// Attested: any verified attestation.
	Attested bool
	// HardwareBacked: the key was generated in secure hardware (implies
	// Attested).
	HardwareBacked bool
	// UserAuthRequired: the attestation proves that using the key needs the
	// user's authentication (implies Attested).
	UserAuthRequired bool
}

// WithAttestation requires the device that approves this route's
// challenges to meet req, e.g. AttestationRequirement{HardwareBacked: true,
// UserAuthRequired: true} for transfers: other devices of the user cannot
// approve them (attestation_required) and do not see them pending, and a
// token of a challenge tracked without req does not pass.
func WithAttestation(req AttestationRequirement) RequireOption {
	return func(c *requireConfig) { c.attestation = req }
}

// Encoding of a requirement on the challenge record
// (store.Challenge.AttestationRequired): the names of its flags, in this
// order, joined by commas; "" for none.
const (
	reqAttested       = "attested"
	reqHardwareBacked = "hardware"
	reqUserAuth       = "user-auth"
)

func (r AttestationRequirement) encode() string {
	var parts []string
	if r.Attested || r.HardwareBacked || r.UserAuthRequired {
		parts = append(parts, reqAttested)
	}
	if r.HardwareBacked {
		parts = append(parts, reqHardwareBacked)
	}
	if r.UserAuthRequired {
		parts = append(parts, reqUserAuth)
	}
	return strings.Join(parts, ",")
}

// decodeRequirement reads a stored requirement. A flag it does not know
// (written by a newer release) requires what nothing here can meet, so the
// challenge fails closed.
func decodeRequirement(s string) (r AttestationRequirement, known bool) {
	if s == "" {
		return r, true
	}
	known = true
	for p := range strings.SplitSeq(s, ",") {
		switch p {
		case reqAttested:
			r.Attested = true
		case reqHardwareBacked:
			r.HardwareBacked = true
		case reqUserAuth:
			r.UserAuthRequired = true
		default:
			known = false
		}
	}
	return r, known
}

// meets reports whether a credential attested with a meets the stored
// requirement enc.
func meetsRequirement(a Attestation, enc string) bool {
	r, known := decodeRequirement(enc)
	switch {
	case !known:
		return false
	case r == AttestationRequirement{}:
		return true
	}
	return a.attested() && (!r.HardwareBacked || a.HardwareBacked) && (!r.UserAuthRequired || a.UserAuthRequired)
}

// covers reports whether the stored requirement enc includes every flag of
// want: a challenge tracked with enc may pass a gate that asks for want.
func coversRequirement(enc string, want AttestationRequirement) bool {
	have, known := decodeRequirement(enc)
	if !known {
		return false
	}
	want.Attested = want.Attested || want.HardwareBacked || want.UserAuthRequired
	return (!want.Attested || have.Attested || have.HardwareBacked || have.UserAuthRequired) &&
		(!want.HardwareBacked || have.HardwareBacked) && (!want.UserAuthRequired || have.UserAuthRequired)
}

// Errors of attestation.
var (
	// errAttestationRequired: the registration carries no attestation where
	// Config.AttestationRequired asks for one, or the credential answering a
	// challenge does not meet its AttestationRequirement.
	errAttestationRequired = &Error{Code: "attestation_required", Status: http.StatusForbidden, Message: "a hardware-attested device key is required"}
	// errAttestationFailed: the registration's attestation does not verify.
	errAttestationFailed = &Error{Code: "attestation_failed", Status: http.StatusForbidden, Message: "the attestation does not verify"}
)

// storedAttestation is the JSON of store.Credential.Attestation.
type storedAttestation struct {
	Attestation
	Record json.RawMessage `json:"record,omitempty"`
}

// encodeAttestation is the store form of a; nil for a credential that is
// not attested.
func encodeAttestation(a Attestation) ([]byte, error) {
	if !a.attested() {
		return nil, nil
	}
	return json.Marshal(storedAttestation{Attestation: a, Record: a.Record})
}

// credentialAttestation is the attestation a credential record holds. A
// record without one (registered before attestation existed, or without
// it), or whose attestation does not decode, is not attested.
func credentialAttestation(c store.Credential) Attestation {
	if len(c.Attestation) == 0 {
		return notAttested
	}
	var st storedAttestation
	if err := json.Unmarshal(c.Attestation, &st); err != nil || !st.attested() {
		return notAttested
	}
	a := st.Attestation
	a.Record = st.Record
	return a
}

// attestationRequiredFor reports whether Config.AttestationRequired asks
// registrations from platform to carry an attestation.
func (s *Service) attestationRequiredFor(platform string) bool {
	for _, p := range s.cfg.AttestationRequired {
		if p == "*" || strings.EqualFold(p, platform) {
			return true
		}
	}
	return false
}

// verifyAttestation is Register's attestation step, after the proof of
// possession verified and before the token is consumed (so a refused
// attestation leaves the token for a retry).
func (s *Service) verifyAttestation(ctx context.Context, reg Registration, key crypto.PublicKey, msg []byte) (Attestation, error) {
	present := len(reg.Attestation) > 0 && string(reg.Attestation) != "null"
	switch {
	case !present && s.attestationRequiredFor(reg.Platform):
		return Attestation{}, errAttestationRequired.withMessage("this server requires a hardware attestation of the key from platform " + reg.Platform)
	case !present:
		return notAttested, nil
	case s.cfg.Attestation == nil:
		return Attestation{}, errAttestationFailed.withMessage("this server does not verify attestations")
	}
	a, err := s.cfg.Attestation.VerifyAttestation(ctx, reg, key, msg, s.now())
	if err != nil {
		s.emit(ctx, event.Event{Type: event.SignatureRejected, ClientIP: reg.ClientIP.String(), Reason: "attestation"})
		return Attestation{}, errAttestationFailed.with(err).withMessage("the attestation does not verify: " + err.Error())
	}
	if !a.attested() {
		return Attestation{}, errAttestationFailed.withMessage("the verifier vouched for nothing")
	}
	return a, nil
}

// ableToApprove filters creds down to those that meet ch's attestation
// requirement: the devices worth notifying.
func ableToApprove(creds []store.Credential, ch store.Challenge) []store.Credential {
	if ch.AttestationRequired == "" {
		return creds
	}
	var out []store.Credential
	for _, c := range creds {
		if meetsRequirement(credentialAttestation(c), ch.AttestationRequired) {
			out = append(out, c)
		}
	}
	return out
}

// visibleTo filters pending challenges down to those cred may answer.
func visibleTo(chs []store.Challenge, cred store.Credential) []store.Challenge {
	a := credentialAttestation(cred)
	out := chs[:0:0]
	for _, ch := range chs {
		if meetsRequirement(a, ch.AttestationRequired) {
			out = append(out, ch)
		}
	}
	return out
}
