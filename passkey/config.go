package passkey

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	iprotocol "github.com/deviceauth/deviceauth/internal/protocol"
)

// Limits of the configuration that New enforces.
const (
	// MinKeyBytes is the shortest Config.Key New accepts.
	MinKeyBytes = 32
	// MinTimeout and MaxTimeout bound the ceremony timeouts. The upper
	// bound is deviceauth.MaxChallengeTTL: a ceremony's state cannot
	// outlive the Service's challenge TTL anyway.
	MinTimeout = 10 * time.Second
	MaxTimeout = 10 * time.Minute
	// MaxAllowCredentials bounds Config.AllowCredentials.
	MaxAllowCredentials = 32
)

// Attestation conveyance preferences (Config.Attestation).
const (
	AttestationNone       = "none"
	AttestationIndirect   = "indirect"
	AttestationDirect     = "direct"
	AttestationEnterprise = "enterprise"
)

// User verification requirements (Config.UserVerification).
const (
	VerificationRequired    = "required"
	VerificationPreferred   = "preferred"
	VerificationDiscouraged = "discouraged"
)

// Config configures Passkeys. Zero fields take the default their comment
// gives; New validates every field and names the one that is wrong.
type Config struct {
	// RPID is the WebAuthn relying party ID: the registrable domain the
	// passkeys are bound to, e.g. "example.com", or "localhost" for
	// development. Required; lower case, no scheme, port or IP address.
	// Passkeys of one RP ID never work for another, so choose it once.
	RPID string

	// Origins are the web origins whose pages run the ceremonies, e.g.
	// "https://app.example.com". Required. Each is an absolute https origin
	// (scheme and host, optional port, no path) whose host is RPID or a
	// subdomain of it, or http://localhost[:port] for development.
	Origins []string

	// DisplayName is the relying party's name that browsers show, e.g.
	// "Example Bank". Required; 1 to 64 bytes of printable UTF-8.
	DisplayName string

	// Key derives the user handles and the decoy credentials of
	// username-first sign-in (HMAC-SHA256). Required: at least MinKeyBytes
	// random bytes, the same on every instance. A user handle, once
	// registered, is kept with its passkey, so changing Key later only
	// changes the handles of new registrations and the decoys.
	Key []byte

	// Attestation is the attestation conveyance preference of
	// registrations: AttestationNone (the default), AttestationIndirect,
	// AttestationDirect or AttestationEnterprise. Statements that are
	// conveyed are verified, and kept with the passkey.
	Attestation string

	// UserVerification is what ceremonies ask of the authenticator:
	// VerificationRequired (the default: a passkey is then a full second
	// and first factor), VerificationPreferred or VerificationDiscouraged.
	UserVerification string

	// RegistrationTimeout and LoginTimeout are the browser's time for a
	// ceremony, enforced by the server too. Default 5 minutes each;
	// between MinTimeout and MaxTimeout. Keep them within the Service's
	// ChallengeTTL, which bounds the ceremony state in the store.
	RegistrationTimeout time.Duration
	LoginTimeout        time.Duration

	// AllowCredentials is how many credentials a username-first sign-in
	// lists, whether the user is known or not: a known user's passkeys are
	// padded with decoys, an unknown user gets decoys only, so the answer
	// does not tell whether an account exists. Default 4; 1 to
	// MaxAllowCredentials. A user with more passkeys than this gets all of
	// them, so set it to at least the passkeys a user may have.
	AllowCredentials int

	// LookupUsername maps the username typed for a username-first sign-in
	// to the user ID, or "" with a nil error when there is no such user.
	// Default: the username is the user ID.
	LookupUsername func(ctx context.Context, username string) (userID string, err error)

	// UserNames gives the name (e.g. an email address) and display name
	// (e.g. "Ada Lovelace") that a new passkey is stored with on the
	// authenticator and shown in its account picker. Default: the user ID
	// for both.
	UserNames func(ctx context.Context, userID string) (name, displayName string, err error)
}

// Passkeys verifies WebAuthn passkeys with go-webauthn. Set it as
// deviceauth.Config.Passkeys: the Service's Handler then serves the
// registration, sign-in and step-up ceremonies and passkey.js, and calls
// Passkeys for the WebAuthn part of each. It is safe for concurrent use.
// Create it with New.
type Passkeys struct {
	cfg       Config
	wa        *webauthn.WebAuthn
	handleKey []byte // derives user handles
	decoyKey  []byte // derives decoy credential IDs
}

// New validates cfg, fills in its defaults and returns Passkeys.
func New(cfg Config) (*Passkeys, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	handleKey, err := hkdf.Key(sha256.New, cfg.Key, nil, "deviceauth/v1/passkey user handle", 32)
	if err != nil {
		return nil, err
	}
	decoyKey, err := hkdf.Key(sha256.New, cfg.Key, nil, "deviceauth/v1/passkey decoy credentials", 32)
	if err != nil {
		return nil, err
	}
	uv := protocol.UserVerificationRequirement(cfg.UserVerification)
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.DisplayName,
		RPOrigins:             append([]string(nil), cfg.Origins...),
		AttestationPreference: protocol.ConveyancePreference(cfg.Attestation),
		// Discoverable credentials: usernameless sign-in is the main path.
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: protocol.ResidentKeyRequired(),
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   uv,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: cfg.LoginTimeout, TimeoutUVD: cfg.LoginTimeout},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: cfg.RegistrationTimeout, TimeoutUVD: cfg.RegistrationTimeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	cfg.Origins = append([]string(nil), cfg.Origins...)
	cfg.Key = append([]byte(nil), cfg.Key...)
	return &Passkeys{cfg: cfg, wa: wa, handleKey: handleKey, decoyKey: decoyKey}, nil
}

// RPID returns the relying party ID the passkeys are bound to.
func (p *Passkeys) RPID() string { return p.cfg.RPID }

func (c *Config) setDefaults() error {
	bad := func(field, why string) error {
		return fmt.Errorf("passkey: Config.%s %s", field, why)
	}
	if err := validRPID(c.RPID); err != nil {
		return bad("RPID", err.Error())
	}
	if len(c.Origins) == 0 {
		return bad("Origins", "needs at least one origin, e.g. https://"+c.RPID)
	}
	for i, o := range c.Origins {
		if err := validOrigin(o, c.RPID); err != nil {
			return bad(fmt.Sprintf("Origins[%d]", i), fmt.Sprintf("%q %s", o, err))
		}
	}
	if c.DisplayName == "" {
		return bad("DisplayName", "is required (the name browsers show for the site)")
	}
	if len(c.DisplayName) > 64 || !iprotocol.ShownText(c.DisplayName) {
		return bad("DisplayName", "must be at most 64 bytes of printable UTF-8")
	}
	if len(c.Key) < MinKeyBytes {
		return bad("Key", fmt.Sprintf("is %d bytes; at least %d random bytes are required", len(c.Key), MinKeyBytes))
	}
	switch c.Attestation {
	case "":
		c.Attestation = AttestationNone
	case AttestationNone, AttestationIndirect, AttestationDirect, AttestationEnterprise:
	default:
		return bad("Attestation", fmt.Sprintf("%q is not one of none, indirect, direct, enterprise", c.Attestation))
	}
	switch c.UserVerification {
	case "":
		c.UserVerification = VerificationRequired
	case VerificationRequired, VerificationPreferred, VerificationDiscouraged:
	default:
		return bad("UserVerification", fmt.Sprintf("%q is not one of required, preferred, discouraged", c.UserVerification))
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
	}{{"RegistrationTimeout", &c.RegistrationTimeout}, {"LoginTimeout", &c.LoginTimeout}} {
		switch {
		case *d.v == 0:
			*d.v = 5 * time.Minute
		case *d.v < MinTimeout || *d.v > MaxTimeout:
			return bad(d.name, fmt.Sprintf("must be between %s and %s", MinTimeout, MaxTimeout))
		}
	}
	switch {
	case c.AllowCredentials == 0:
		c.AllowCredentials = 4
	case c.AllowCredentials < 1 || c.AllowCredentials > MaxAllowCredentials:
		return bad("AllowCredentials", fmt.Sprintf("must be between 1 and %d", MaxAllowCredentials))
	}
	if c.LookupUsername == nil {
		c.LookupUsername = func(_ context.Context, username string) (string, error) { return username, nil }
	}
	if c.UserNames == nil {
		c.UserNames = func(_ context.Context, userID string) (string, string, error) { return userID, userID, nil }
	}
	return nil
}

// validRPID checks a relying party ID: a lower-case domain name (or
// localhost), never an IP address, which WebAuthn does not accept.
func validRPID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("is required (the domain passkeys are bound to, e.g. example.com, or localhost)")
	case strings.Contains(id, "://") || strings.ContainsAny(id, ":/"):
		return fmt.Errorf("%q must be a bare domain, without scheme, port or path", id)
	case id != strings.ToLower(id):
		return fmt.Errorf("%q must be lower case", id)
	}
	if _, err := netip.ParseAddr(id); err == nil {
		return fmt.Errorf("%q is an IP address; WebAuthn needs a domain name (use localhost for development)", id)
	}
	if err := protocol.ValidateRPID(id); err != nil || strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") || len(id) > 253 {
		return fmt.Errorf("%q is not a valid domain name", id)
	}
	return nil
}

// validOrigin checks that o is an origin the relying party rpID may be
// used from: https with a host within rpID, or http://localhost[:port].
func validOrigin(o, rpID string) error {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("is not an absolute origin such as https://%s", rpID)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "/") {
		return fmt.Errorf("must be scheme://host[:port] only, without a path, query or trailing slash")
	}
	if o != strings.ToLower(o) {
		return fmt.Errorf("must be lower case, as browsers send it")
	}
	host := u.Hostname()
	switch u.Scheme {
	case "https":
	case "http":
		if host != "localhost" {
			return fmt.Errorf("must be https (http is allowed for http://localhost only, for development)")
		}
	default:
		return fmt.Errorf("must be https (or http://localhost for development)")
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return fmt.Errorf("is not within the RP ID %q (its host must be %s or a subdomain of it)", rpID, rpID)
	}
	return nil
}
