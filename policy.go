package deviceauth

import (
	"context"
	"net/netip"

	"github.com/deviceauth/deviceauth/risk"
)

// ActionState is what Track and Validate report about an action.
type ActionState string

// Action states (docs/architecture.md#action-states).
const (
	StateAllow              ActionState = "ALLOW"
	StateBlock              ActionState = "BLOCK"
	StateReview             ActionState = "REVIEW"
	StateChallengeRequired  ActionState = "CHALLENGE_REQUIRED"
	StateChallengeSucceeded ActionState = "CHALLENGE_SUCCEEDED"
	StateChallengeFailed    ActionState = "CHALLENGE_FAILED"
)

// Well-known actions.
const (
	// ActionAddAuthenticator must be validated before a user who already
	// has a credential may mint a registration token.
	ActionAddAuthenticator = "addAuthenticator"
	// ActionRemoveAuthenticator must be validated before a credential is
	// removed from the web while the user has others.
	ActionRemoveAuthenticator = "removeAuthenticator"
)

// Policy decides whether an action may proceed. Track asks it once per
// call, after it has checked the wrong-code block.
type Policy interface {
	Decide(ctx context.Context, in PolicyInput) (Decision, error)
}

// PolicyInput is what a Policy knows about an action.
type PolicyInput struct {
	UserID    string
	Action    string
	Details   Details
	Enrolled  bool // the user has at least one credential
	ClientIP  netip.Addr
	UserAgent string
	Methods   []Method // the methods the caller offers
	// Signals are what the Service knows about the action
	// (docs/rules.md#signals). Filled for every policy but DefaultPolicy.
	Signals risk.Signals
}

// Decision is a Policy's answer.
type Decision struct {
	// State is StateAllow, StateBlock, StateReview or
	// StateChallengeRequired. A challenge is created only for
	// StateChallengeRequired and only when the user is enrolled; otherwise
	// Track answers StateChallengeRequired with Enrolled false and no
	// challenge (the enrollment_required case of Require).
	State ActionState `json:"state"`
	// VerificationCode asks for number matching: the primary screen shows a
	// code the user types on the device.
	VerificationCode bool `json:"verificationCode,omitempty"`
	// CodeDigits is the code's length; 0 means Config.VerificationCodeDigits.
	CodeDigits int `json:"codeDigits,omitempty"`
	// Methods, when not empty, restrict a challenge to these of the
	// methods offered; when none of them is offered, the methods offered
	// stay.
	Methods []Method `json:"methods,omitempty"`
	// Rule names the rule that decided ("" for a default); it is recorded
	// with the action and shown to reviewers.
	Rule string `json:"rule,omitempty"`
	// Err is an evaluation error the policy failed closed on; the Service
	// reports it as an event (rules.error) and goes on with the decision.
	Err error `json:"-"`
}

// DefaultPolicy challenges every action of an enrolled user; a user without
// a credential gets enrollment_required. It asks for no verification code
// itself; Track asks for one by default where fatigue attacks aim (see
// Config.ApproveOnly).
type DefaultPolicy struct{}

// Decide implements Policy.
func (DefaultPolicy) Decide(_ context.Context, in PolicyInput) (Decision, error) {
	return Decision{State: StateChallengeRequired}, nil
}

// PolicyFunc adapts a function to Policy.
type PolicyFunc func(ctx context.Context, in PolicyInput) (Decision, error)

// Decide calls f.
func (f PolicyFunc) Decide(ctx context.Context, in PolicyInput) (Decision, error) { return f(ctx, in) }
