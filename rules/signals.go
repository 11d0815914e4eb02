package rules

import (
	"context"
	"net/netip"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// Never is the recency of something that never happened: a rule such as
// recency.action < duration("15m") is false for it.
const Never = 100 * 365 * 24 * time.Hour

// Signals is what a rule's condition can read. Each field names its CEL
// variable and type. Zero values are "nothing known": false, 0, "" or an
// empty list or map — except the recency fields, where "never" is [Never].
//
// The Policy adapter fills Action, User.Enrolled, Request and Custom from
// deviceauth.PolicyInput today; the Service will fill the rest (known
// sets, velocity, recency, credentials) when it computes them.
type Signals struct {
	// Action is the action's name. CEL: action (string).
	Action string
	// User describes the user's credentials. CEL: user.*.
	User UserSignals
	// Request describes the HTTP request. CEL: request.*.
	Request RequestSignals
	// Known says what this user was seen from within the Service's
	// window. CEL: known.*.
	Known KnownSignals
	// Velocity counts this user's recent actions. CEL: velocity.*.
	Velocity VelocitySignals
	// Failures counts this user's recent failures (the last hour).
	// CEL: failures.*.
	Failures FailureSignals
	// Recency is the time since this user last passed a challenge from
	// this browser. CEL: recency.*.
	Recency RecencySignals
	// Amount is a numeric value the app names, with its currency.
	// CEL: amount.*.
	Amount Amount
	// Custom is the app's own data, in JSON types: string, number
	// (float64; Go integers are accepted too), bool, list ([]any) and map
	// (map[string]any). A missing key is an evaluation error: test with
	// "k" in custom first. CEL: custom (map(string, dyn)).
	Custom map[string]any
	// Geo is where the request's IP is, from the app's GeoResolver.
	// CEL: geo.*.
	Geo Geo
}

// UserSignals describes the user's credentials.
type UserSignals struct {
	// Enrolled: the user has at least one credential. CEL: user.enrolled (bool).
	Enrolled bool
	// Credentials is the number of credentials. CEL: user.credentials (int).
	Credentials int
	// Kinds are the credentials' kinds ("device", "passkey"), each once.
	// CEL: user.kinds (list(string)).
	Kinds []string
	// NewestCredentialAge is the time since the newest credential was
	// registered; [Never] without one. CEL: user.newestCredentialAge (duration).
	NewestCredentialAge time.Duration
}

// RequestSignals describes the HTTP request.
type RequestSignals struct {
	// IP is the client's address, as text ("" when unknown). CEL: request.ip (string).
	IP string
	// UserAgent is the User-Agent header. CEL: request.userAgent (string).
	UserAgent string
}

// KnownSignals says whether this user was seen before.
type KnownSignals struct {
	// Prefix: seen from this IP's /24 (IPv4) or /64 (IPv6). CEL: known.prefix (bool).
	Prefix bool
	// Browser: seen from this browser (the Service's device cookie). CEL: known.browser (bool).
	Browser bool
}

// VelocitySignals counts this user's actions of this name, this one
// included.
type VelocitySignals struct {
	Minute int // CEL: velocity.minute (int): over the last minute
	Hour   int // CEL: velocity.hour (int): over the last hour
	Day    int // CEL: velocity.day (int): over the last day
}

// FailureSignals counts this user's recent failures, any action.
type FailureSignals struct {
	Denies      int // CEL: failures.denies (int): challenges denied on a device
	WrongCodes  int // CEL: failures.wrongCodes (int): wrong verification codes
	Validations int // CEL: failures.validations (int): tokens that failed Validate
}

// RecencySignals is the time since a passed challenge from this browser;
// [Never] when there was none.
type RecencySignals struct {
	Action time.Duration // CEL: recency.action (duration): for this action
	Any    time.Duration // CEL: recency.any (duration): for any action
}

// Amount is a value the app names, e.g. a payment's sum.
type Amount struct {
	Value    float64 // CEL: amount.value (double); 0 when none
	Currency string  // CEL: amount.currency (string), e.g. "EUR"
}

// Geo is where an IP address is.
type Geo struct {
	Country string // CEL: geo.country (string): ISO 3166-1 alpha-2, "" when unknown
	ASN     int64  // CEL: geo.asn (int): autonomous system number, 0 when unknown
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

// variables declares every signal for the CEL checker; activation.ResolveName
// answers the same names.
var variables = []cel.EnvOption{
	cel.Variable("action", cel.StringType),
	cel.Variable("user.enrolled", cel.BoolType),
	cel.Variable("user.credentials", cel.IntType),
	cel.Variable("user.kinds", cel.ListType(cel.StringType)),
	cel.Variable("user.newestCredentialAge", cel.DurationType),
	cel.Variable("request.ip", cel.StringType),
	cel.Variable("request.userAgent", cel.StringType),
	cel.Variable("known.prefix", cel.BoolType),
	cel.Variable("known.browser", cel.BoolType),
	cel.Variable("velocity.minute", cel.IntType),
	cel.Variable("velocity.hour", cel.IntType),
	cel.Variable("velocity.day", cel.IntType),
	cel.Variable("failures.denies", cel.IntType),
	cel.Variable("failures.wrongCodes", cel.IntType),
	cel.Variable("failures.validations", cel.IntType),
	cel.Variable("recency.action", cel.DurationType),
	cel.Variable("recency.any", cel.DurationType),
	cel.Variable("amount.value", cel.DoubleType),
	cel.Variable("amount.currency", cel.StringType),
	cel.Variable("custom", cel.MapType(cel.StringType, cel.DynType)),
	cel.Variable("geo.country", cel.StringType),
	cel.Variable("geo.asn", cel.IntType),
}

// activation resolves variable names straight from Signals, so an
// evaluation builds no map. Lists and maps are converted lazily, once per
// evaluation, only when a rule reads them.
type activation struct {
	s      *Signals
	kinds  ref.Val
	custom ref.Val
}

var _ interpreter.Activation = (*activation)(nil)

func (a *activation) reset(s *Signals) { a.s, a.kinds, a.custom = s, nil, nil }

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	s := a.s
	switch name {
	case "action":
		return types.String(s.Action), true
	case "user.enrolled":
		return types.Bool(s.User.Enrolled), true
	case "user.credentials":
		return types.Int(s.User.Credentials), true
	case "user.kinds":
		if a.kinds == nil {
			a.kinds = types.DefaultTypeAdapter.NativeToValue(nonNilStrings(s.User.Kinds))
		}
		return a.kinds, true
	case "user.newestCredentialAge":
		return types.Duration{Duration: s.User.NewestCredentialAge}, true
	case "request.ip":
		return types.String(s.Request.IP), true
	case "request.userAgent":
		return types.String(s.Request.UserAgent), true
	case "known.prefix":
		return types.Bool(s.Known.Prefix), true
	case "known.browser":
		return types.Bool(s.Known.Browser), true
	case "velocity.minute":
		return types.Int(s.Velocity.Minute), true
	case "velocity.hour":
		return types.Int(s.Velocity.Hour), true
	case "velocity.day":
		return types.Int(s.Velocity.Day), true
	case "failures.denies":
		return types.Int(s.Failures.Denies), true
	case "failures.wrongCodes":
		return types.Int(s.Failures.WrongCodes), true
	case "failures.validations":
		return types.Int(s.Failures.Validations), true
	case "recency.action":
		return types.Duration{Duration: s.Recency.Action}, true
	case "recency.any":
		return types.Duration{Duration: s.Recency.Any}, true
	case "amount.value":
		return types.Double(s.Amount.Value), true
	case "amount.currency":
		return types.String(s.Amount.Currency), true
	case "custom":
		if a.custom == nil {
			m := s.Custom
			if m == nil {
				m = map[string]any{}
			}
			a.custom = types.DefaultTypeAdapter.NativeToValue(m)
		}
		return a.custom, true
	case "geo.country":
		return types.String(s.Geo.Country), true
	case "geo.asn":
		return types.Int(s.Geo.ASN), true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
