package attest

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/deviceauth/deviceauth"
)

// Config is the operator's attestation policy for a Service, fixed at start-up. Whether
// registrations must carry an attestation is the Service's deviceauth.Config.AttestationRequired.
type Config struct {
	// Android accepts Android Key Attestation chains under this policy (its revocation list,
	// app allow-list, AcceptExpiredIntermediates). Nil refuses them.
	Android *AndroidConfig
	// AppAttest accepts Apple App Attest attestations for these app IDs and this environment.
	// Nil refuses them.
	AppAttest *AppAttestConfig
}

// Verifier verifies the attestation member of registrations for a deviceauth.Service: set it
// as deviceauth.Config.Attestation.
type Verifier struct {
	cfg Config
}

// NewVerifier checks cfg and returns its Verifier. At least one of Android and AppAttest must
// be set, and AppAttest needs an app ID.
func NewVerifier(cfg Config) (*Verifier, error) {
	switch {
	case cfg.Android == nil && cfg.AppAttest == nil:
		return nil, errors.New("attest: Config needs Android, AppAttest or both")
	case cfg.AppAttest != nil && len(cfg.AppAttest.AppIDs) == 0:
		return nil, errors.New("attest: Config.AppAttest needs at least one app ID")
	}
	if cfg.Android != nil {
		if _, err := withExtraRoots(nil, cfg.Android.ExtraRootKeys); err != nil {
			return nil, err
		}
	}
	return &Verifier{cfg: cfg}, nil
}

// wireAttestation is the "attestation" member of a registration (docs/attestation.md).
type wireAttestation struct {
	Format string   `json:"format"`
	Chain  []string `json:"chain,omitempty"`  // android-key: DER certificates, leaf first
	KeyID  string   `json:"keyId,omitempty"`  // apple-appattest
	Object string   `json:"object,omitempty"` // apple-appattest: the CBOR attestation object
}

// VerifyAttestation implements deviceauth.AttestationVerifier: it decodes the attestation
// member, checks it with VerifyAndroidKey (challenge AndroidChallenge(reg.Token)) or
// VerifyAppAttest (clientDataHash AppAttestClientDataHash(message)) at at, and returns the
// result for the credential. Errors wrap one of the Err* reasons.
func (v *Verifier) VerifyAttestation(_ context.Context, reg deviceauth.Registration, key crypto.PublicKey, message []byte, at time.Time) (deviceauth.Attestation, error) {
	var w wireAttestation
	dec := json.NewDecoder(bytes.NewReader(reg.Attestation))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return deviceauth.Attestation{}, fmt.Errorf("%w: the attestation member: %v", ErrMalformed, err)
	}
	var r Result
	var err error
	switch w.Format {
	case string(KindAndroidKey):
		if v.cfg.Android == nil {
			return deviceauth.Attestation{}, fmt.Errorf("%w: this server does not accept android-key attestations", ErrMalformed)
		}
		if len(w.Chain) > maxChainLen {
			return deviceauth.Attestation{}, fmt.Errorf("%w: %d certificates, at most %d", ErrMalformed, len(w.Chain), maxChainLen)
		}
		chain := make([][]byte, len(w.Chain))
		for i, c := range w.Chain {
			if chain[i], err = unb64(c); err != nil {
				return deviceauth.Attestation{}, fmt.Errorf("%w: chain[%d]: %v", ErrMalformed, i, err)
			}
		}
		r, err = VerifyAndroidKey(chain, AndroidChallenge(reg.Token), key, *v.cfg.Android, at)
	case string(KindAppleAppAttest):
		if v.cfg.AppAttest == nil {
			return deviceauth.Attestation{}, fmt.Errorf("%w: this server does not accept apple-appattest attestations", ErrMalformed)
		}
		keyID, kerr := unb64(w.KeyID)
		object, oerr := unb64(w.Object)
		if err := errors.Join(kerr, oerr); err != nil || len(keyID) == 0 || len(object) == 0 {
			return deviceauth.Attestation{}, fmt.Errorf("%w: keyId and object must be base64url without padding", ErrMalformed)
		}
		r, err = VerifyAppAttest(object, keyID, AppAttestClientDataHash(message), *v.cfg.AppAttest, at)
	default:
		return deviceauth.Attestation{}, fmt.Errorf("%w: unknown attestation format %q", ErrMalformed, w.Format)
	}
	if err != nil {
		return deviceauth.Attestation{}, err
	}
	return ToAttestation(r)
}

// ToAttestation is r as a deviceauth.Credential records it, with r itself as the Record.
func ToAttestation(r Result) (deviceauth.Attestation, error) {
	record, err := json.Marshal(r)
	if err != nil {
		return deviceauth.Attestation{}, err
	}
	return deviceauth.Attestation{
		Kind: string(r.Kind), SecurityLevel: string(r.SecurityLevel), HardwareBacked: r.HardwareBacked,
		UserAuth: string(r.UserAuth), UserAuthRequired: r.UserAuthRequired(), AppIDs: r.AppIDs,
		VerifiedBoot: string(r.VerifiedBoot), Record: record,
	}, nil
}

func unb64(s string) ([]byte, error) { return base64.RawURLEncoding.Strict().DecodeString(s) }
