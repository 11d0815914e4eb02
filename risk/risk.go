// Package risk holds the signals a Service computes about an action for
// its rules (Config.Rules): who the user is, where the request comes from,
// whether that was seen before, how often the user acted and failed
// lately, and the app's own data. It has no dependencies, so the root
// package and package rules share these types without the root compiling
// CEL. docs/rules.md lists every signal with its CEL name and type.
package risk

import (
	"context"
	"net/netip"
	"time"
)

// Never is the recency of something that never happened: a rule such as
// recency.action < duration("15m") is false for it.
const Never = 100 * 365 * 24 * time.Hour

// Signals is what a rule's condition can read. Each field names its CEL
// variable and type. Zero values are "nothing known": false, 0, "" or an
// empty list or map — except the recency fields, where "never" is [Never].
//
// The Service fills every field for its policy (deviceauth.PolicyInput);
// a store without history (store.ActionStore) leaves known, velocity,
// failures and recency at "nothing known".
type Signals struct {
	// Action is the action's name. CEL: action (string).
	Action string `json:"action"`
	// User describes the user's credentials. CEL: user.*.
	User UserSignals `json:"user"`
	// Request describes the HTTP request. CEL: request.*.
	Request RequestSignals `json:"request"`
	// Known says what this user was seen from within the Service's
	// window. CEL: known.*.
	Known KnownSignals `json:"known"`
	// Velocity counts this user's recent actions. CEL: velocity.*.
	Velocity VelocitySignals `json:"velocity"`
	// Failures counts this user's recent failures (the last hour).
	// CEL: failures.*.
	Failures FailureSignals `json:"failures"`
	// Recency is the time since this user last passed a challenge from
	// this browser. CEL: recency.*.
	Recency RecencySignals `json:"recency"`
	// Amount is a numeric value the app names, with its currency.
	// CEL: amount.*.
	Amount Amount `json:"amount"`
	// Custom is the app's own data, in JSON types: string, number
	// (float64; Go integers are accepted too), bool, list ([]any) and map
	// (map[string]any). A missing key is an evaluation error: test with
	// "k" in custom first. CEL: custom (map(string, dyn)).
	Custom map[string]any `json:"custom"`
	// Geo is where the request's IP is, from the app's GeoResolver.
	// CEL: geo.*.
	Geo Geo `json:"geo"`
}

// UserSignals describes the user's credentials.
type UserSignals struct {
	// Enrolled: the user has at least one credential. CEL: user.enrolled (bool).
	Enrolled bool `json:"enrolled"`
	// Credentials is the number of credentials. CEL: user.credentials (int).
	Credentials int `json:"credentials"`
	// Kinds are the credentials' kinds ("device", "passkey"), each once.
	// CEL: user.kinds (list(string)).
	Kinds []string `json:"kinds"`
	// NewestCredentialAge is the time since the newest credential was
	// registered; [Never] without one. CEL: user.newestCredentialAge (duration).
	NewestCredentialAge time.Duration `json:"newestCredentialAge"`
}

// RequestSignals describes the HTTP request.
type RequestSignals struct {
	// IP is the client's address, as text ("" when unknown). CEL: request.ip (string).
	IP string `json:"ip"`
	// UserAgent is the User-Agent header. CEL: request.userAgent (string).
	UserAgent string `json:"userAgent"`
}

// KnownSignals says whether this user was seen before.
type KnownSignals struct {
	// Prefix: seen from this IP's /24 (IPv4) or /64 (IPv6). CEL: known.prefix (bool).
	Prefix bool `json:"prefix"`
	// Browser: seen from this browser (the Service's device cookie). CEL: known.browser (bool).
	Browser bool `json:"browser"`
}

// VelocitySignals counts this user's actions of this name, this one
// included.
type VelocitySignals struct {
	Minute int `json:"minute"` // CEL: velocity.minute (int): over the last minute
	Hour   int `json:"hour"`   // CEL: velocity.hour (int): over the last hour
	Day    int `json:"day"`    // CEL: velocity.day (int): over the last day
}

// FailureSignals counts this user's recent failures, any action.
type FailureSignals struct {
	Denies      int `json:"denies"`      // CEL: failures.denies (int): challenges denied on a device
	WrongCodes  int `json:"wrongCodes"`  // CEL: failures.wrongCodes (int): wrong verification codes
	Validations int `json:"validations"` // CEL: failures.validations (int): tokens that failed Validate
}

// RecencySignals is the time since a passed challenge from this browser;
// [Never] when there was none.
type RecencySignals struct {
	Action time.Duration `json:"action"` // CEL: recency.action (duration): for this action
	Any    time.Duration `json:"any"`    // CEL: recency.any (duration): for any action
}

// Amount is a value the app names, e.g. a payment's sum.
type Amount struct {
	Value    float64 `json:"value"`    // CEL: amount.value (double); 0 when none
	Currency string  `json:"currency"` // CEL: amount.currency (string), e.g. "EUR"
}

// Geo is where an IP address is.
type Geo struct {
	Country string `json:"country"` // CEL: geo.country (string): ISO 3166-1 alpha-2, "" when unknown
	ASN     int64  `json:"asn"`     // CEL: geo.asn (int): autonomous system number, 0 when unknown
}

// GeoResolver locates an IP address; the app supplies one (no database is
// bundled). An error leaves Geo empty and is reported to Options.OnError.
type GeoResolver interface {
	Resolve(ctx context.Context, ip netip.Addr) (Geo, error)
}

// NewSignals returns Signals with nothing known: recency and credential
// age set to [Never].
func NewSignals(action string) Signals {
	return Signals{
		Action:  action,
		User:    UserSignals{NewestCredentialAge: Never},
		Recency: RecencySignals{Action: Never, Any: Never},
	}
}

// RuleResult is one rule's outcome when a rule set explains a decision.
type RuleResult struct {
	Name    string `json:"name"`
	Applies bool   `json:"applies"` // the rule is for this action (or for all)
	Matched bool   `json:"matched"` // the condition was true
	Err     error  `json:"-"`       // the evaluation error, if any
}
