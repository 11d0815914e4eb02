package rules

import (
	"context"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/risk"
)

// Policy returns the set as a deviceauth.Policy, for Config.Rules. It
// evaluates the signals the Service computed (PolicyInput.Signals) and
// maps the verdict to a Decision: its state, methods and verification
// code, the rule that decided and the evaluation error the set failed
// closed on (which the Service reports as an event). The Service's
// Explain explains it rule by rule.
func (set *Set) Policy() deviceauth.Policy { return policy{set} }

type policy struct{ set *Set }

func (p policy) Decide(ctx context.Context, in deviceauth.PolicyInput) (deviceauth.Decision, error) {
	s := signalsOf(in)
	return decision(p.set.Evaluate(ctx, &s)), nil
}

// ExplainDecision evaluates every rule for in with no side effects; the
// Service's Explain calls it.
func (p policy) ExplainDecision(ctx context.Context, in deviceauth.PolicyInput) (deviceauth.Decision, []risk.RuleResult) {
	e := p.set.Explain(ctx, signalsOf(in))
	return decision(e.Result), e.Rules
}

// signalsOf returns the signals of in: those the Service computed, or for
// an input built by hand without them, those its other fields carry (as
// [SignalsFromPolicyInput]).
func signalsOf(in deviceauth.PolicyInput) Signals {
	if in.Signals.Action != "" {
		return in.Signals
	}
	return SignalsFromPolicyInput(in)
}

// SignalsFromPolicyInput returns the signals PolicyInput's own fields
// carry (action, enrolment, IP, user agent), the rest as in [NewSignals].
func SignalsFromPolicyInput(in deviceauth.PolicyInput) Signals {
	s := NewSignals(in.Action)
	s.User.Enrolled = in.Enrolled
	if in.ClientIP.IsValid() {
		s.Request.IP = in.ClientIP.String()
	}
	s.Request.UserAgent = in.UserAgent
	return s
}

// Decision maps a verdict to a deviceauth.Decision.
func Decision(v Verdict) deviceauth.Decision {
	d := deviceauth.Decision{VerificationCode: v.VerificationCode, Methods: v.Methods}
	switch v.Outcome {
	case Allow:
		d.State = deviceauth.StateAllow
	case Block:
		d.State = deviceauth.StateBlock
	case Review:
		d.State = deviceauth.StateReview
	default:
		d.State = deviceauth.StateChallengeRequired
	}
	return d
}

// decision maps an evaluation's result to a deviceauth.Decision with the
// deciding rule and the error it failed closed on.
func decision(res Result) deviceauth.Decision {
	d := Decision(res.Verdict)
	d.Rule, d.Err = res.Rule, res.Err
	return d
}
