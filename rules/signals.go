package rules

import (
	"github.com/deviceauth/deviceauth/risk"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// The signal types live in package risk, which the Service fills without
// compiling CEL; these names are the same types.
type (
	// Signals is what a rule's condition can read: [risk.Signals].
	Signals = risk.Signals
	// UserSignals is [risk.UserSignals].
	UserSignals = risk.UserSignals
	// RequestSignals is [risk.RequestSignals].
	RequestSignals = risk.RequestSignals
	// KnownSignals is [risk.KnownSignals].
	KnownSignals = risk.KnownSignals
	// VelocitySignals is [risk.VelocitySignals].
	VelocitySignals = risk.VelocitySignals
	// FailureSignals is [risk.FailureSignals].
	FailureSignals = risk.FailureSignals
	// RecencySignals is [risk.RecencySignals].
	RecencySignals = risk.RecencySignals
	// Amount is [risk.Amount].
	Amount = risk.Amount
	// Geo is [risk.Geo].
	Geo = risk.Geo
	// GeoResolver is [risk.GeoResolver].
	GeoResolver = risk.GeoResolver
	// RuleResult is one rule's outcome in an [Explanation]: [risk.RuleResult].
	RuleResult = risk.RuleResult
)

// Never is [risk.Never]: the recency of something that never happened.
const Never = risk.Never

// NewSignals is [risk.NewSignals].
func NewSignals(action string) Signals { return risk.NewSignals(action) }

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
