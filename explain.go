package deviceauth

import (
	"context"
	"fmt"

	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/risk"
)

// Explanation is what Explain found: the signals the Service computed,
// the decision the policy reaches with them and, for a policy that
// explains itself (package rules), every rule's result.
type Explanation struct {
	Signals  risk.Signals      `json:"signals"`
	Decision Decision          `json:"decision"`
	Rules    []risk.RuleResult `json:"rules,omitempty"`
}

// explainer is a policy that can say what each of its rules gave
// (rules.Set.Policy is one).
type explainer interface {
	ExplainDecision(ctx context.Context, in PolicyInput) (Decision, []risk.RuleResult)
}

// Explain computes the signals of req and asks the policy what it would
// decide, with no side effects: nothing is created, recorded, counted or
// used up, and no event is emitted. Applications test their rules with it
// (docs/rules.md#testing-rules).
func (s *Service) Explain(ctx context.Context, req TrackRequest) (Explanation, error) {
	if !validUserID(req.UserID) || !protocol.ValidAction(req.Action) {
		return Explanation{}, ErrInvalidRequest.withMessage("userID and action must be valid")
	}
	if err := checkCustom(req.Custom); err != nil {
		return Explanation{}, err
	}
	req.UserAgent = protocol.ContextText(req.UserAgent, maxUserAgentBytes)
	if req.Browser != "" && !validBrowserID(req.Browser) {
		req.Browser = ""
	}
	details, err := protocol.NormalizeDetails(stepUpDetails(req.Action, req.Details))
	if err != nil {
		return Explanation{}, detailsError(err)
	}
	now := s.now()
	read, err := s.readSignals(ctx, req, s.wrongCodeKey(req.UserID, req.Action), now)
	if err != nil {
		return Explanation{}, err
	}
	creds, sig := read.Credentials, s.signals(ctx, req, read, now)
	methods := req.Methods
	if len(methods) == 0 {
		methods = defaultMethods(kindsOf(creds))
	}
	in := PolicyInput{UserID: req.UserID, Action: req.Action, Details: details, Enrolled: len(creds) > 0,
		ClientIP: req.ClientIP, UserAgent: req.UserAgent, Methods: methods, Signals: sig}
	e := Explanation{Signals: sig}
	if x, ok := s.policy.(explainer); ok {
		e.Decision, e.Rules = x.ExplainDecision(ctx, in)
		return e, nil
	}
	if e.Decision, err = s.policy.Decide(ctx, in); err != nil {
		return Explanation{}, fmt.Errorf("deviceauth: policy: %w", err)
	}
	return e, nil
}
