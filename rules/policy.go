package rules

import (
	"context"
	"fmt"

	"github.com/deviceauth/deviceauth"
)

// Policy returns the set as a deviceauth.Policy, for Config.Policy.
//
// deviceauth.PolicyInput carries only the action, the user's enrollment,
// the client IP and the user agent today, so Decide fills Action,
// User.Enrolled, Request and Geo (through Options.Geo) and leaves every
// other signal "nothing known" (see [NewSignals]): known.* false,
// velocity.* and failures.* 0, recency.* and user.newestCredentialAge
// [Never], amount and custom empty. The Service will compute those and
// pass them in a later version; until then rules that read them see the
// zero values.
//
// The verdict maps to Decision.State (ALLOW, BLOCK, REVIEW,
// CHALLENGE_REQUIRED) and Decision.VerificationCode. Decision has no
// field for Verdict.Methods yet, so a CHALLENGE's methods are not applied
// through this adapter.
func (set *Set) Policy() deviceauth.Policy { return policy{set} }

type policy struct{ set *Set }

func (p policy) Decide(ctx context.Context, in deviceauth.PolicyInput) (deviceauth.Decision, error) {
	s := SignalsFromPolicyInput(in)
	if p.set.opts.Geo != nil && in.ClientIP.IsValid() {
		g, err := p.set.opts.Geo.Resolve(ctx, in.ClientIP)
		if err != nil {
			if p.set.opts.OnError != nil {
				p.set.opts.OnError(ctx, "", fmt.Errorf("rules: geo: %w", err))
			}
		} else {
			s.Geo = g
		}
	}
	return Decision(p.set.Evaluate(ctx, &s).Verdict), nil
}

// SignalsFromPolicyInput returns the signals PolicyInput carries, the
// rest as in [NewSignals].
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
	d := deviceauth.Decision{VerificationCode: v.VerificationCode}
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
