package rules

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"github.com/deviceauth/deviceauth"
)

// Outcome is what a rule decides.
type Outcome string

// Outcomes.
const (
	Allow     Outcome = "ALLOW"     // proceed without a challenge
	Challenge Outcome = "CHALLENGE" // ask the user's device
	Block     Outcome = "BLOCK"     // refuse
	Review    Outcome = "REVIEW"    // hold for an operator
)

// DefaultCostLimit bounds one rule's evaluation when Options.CostLimit is 0.
// A comparison costs about 1; a string function about its length / 10.
const DefaultCostLimit = 10_000

// Verdict is an outcome with how to challenge.
type Verdict struct {
	Outcome Outcome `json:"outcome" yaml:"outcome"`
	// Methods restricts a CHALLENGE to these methods; empty means the
	// methods the caller offers.
	Methods []deviceauth.Method `json:"methods,omitempty" yaml:"methods,omitempty"`
	// VerificationCode asks for number matching on a CHALLENGE.
	VerificationCode bool `json:"verificationCode,omitempty" yaml:"verificationCode,omitempty"`
}

// Rule is one named condition and the verdict it gives when true.
type Rule struct {
	// Name identifies the rule in errors, explanations and metrics; unique.
	Name string `json:"name" yaml:"name"`
	// Actions limits the rule to these actions; empty means every action.
	Actions []string `json:"actions,omitempty" yaml:"actions,omitempty"`
	// When is a CEL expression of type bool over the [Signals] variables.
	When string `json:"when" yaml:"when"`
	// Then is the verdict when When is true.
	Then Verdict `json:"then" yaml:"then"`
}

// Definition is a rule set as written in a rules file: rules in order
// (the first true one decides) and the verdict when none is true.
type Definition struct {
	Rules []Rule `json:"rules" yaml:"rules"`
	// Default applies when no rule is true; required.
	Default Verdict `json:"default" yaml:"default"`
	// OnError is what an evaluation error gives: CHALLENGE (the default
	// when empty, with Default's methods when Default is a challenge) or
	// BLOCK. Either way the rule set fails closed.
	OnError Outcome `json:"onError,omitempty" yaml:"onError,omitempty"`
}

// Options tune a Set.
type Options struct {
	// CostLimit bounds each rule's evaluation (cel.CostLimit); 0 means
	// DefaultCostLimit. Exceeding it is an evaluation error.
	CostLimit uint64
	// OnError is told about every evaluation error (the verdict already
	// failed closed). Under a Service it need not be set: the Service
	// reports the error as an event (rule.error).
	OnError func(ctx context.Context, rule string, err error)
	// OnDecision, when set, is told every verdict Evaluate (and so the
	// Policy adapter) reaches, e.g. to count rule hits
	// (metrics.Collector.RuleHit(res.Rule)) or record the matched rule.
	// Explain does not call it.
	OnDecision func(ctx context.Context, s *Signals, res Result)
}

// Set is a compiled rule set. It is safe for concurrent use.
type Set struct {
	rules    []compiled
	byAction map[string][]int // rules for a named action, in order
	forAll   []int            // rules for every action, in order
	deflt    Verdict
	onErr    Verdict
	opts     Options
	actPool  sync.Pool
}

type compiled struct {
	rule Rule
	prg  cel.Program
}

// Result is the verdict of an evaluation.
type Result struct {
	Verdict Verdict
	// Rule is the name of the rule that decided; "" for the default.
	Rule string
	// Err is the evaluation error that made the set fail closed, if any.
	// Rule then names the rule that failed.
	Err error
}

// CompileError is a rule that does not compile, with where.
type CompileError struct {
	Rule   string // the rule's name
	Line   int    // 1-based line in the rule's When
	Column int    // 1-based column
	Msg    string
}

// Error implements error: rules: rule "name": line:column: message.
func (e *CompileError) Error() string {
	return fmt.Sprintf("rules: rule %q: %d:%d: %s", e.Rule, e.Line, e.Column, e.Msg)
}

var baseEnv = sync.OnceValues(func() (*cel.Env, error) { return cel.NewEnv(variables...) })

// New compiles def. It fails with a *CompileError naming the rule and the
// position for a syntax error, an unknown variable or function, or a
// condition that is not bool; and for an invalid verdict or a duplicate or
// empty name.
func New(def Definition, opts Options) (*Set, error) {
	env, err := baseEnv()
	if err != nil {
		return nil, err
	}
	if opts.CostLimit == 0 {
		opts.CostLimit = DefaultCostLimit
	}
	if err := checkVerdict(def.Default); err != nil {
		return nil, fmt.Errorf("rules: default: %w", err)
	}
	s := &Set{byAction: map[string][]int{}, deflt: def.Default, opts: opts}
	switch def.OnError {
	case "", Challenge:
		s.onErr = Verdict{Outcome: Challenge, VerificationCode: true}
		if def.Default.Outcome == Challenge {
			s.onErr.Methods = def.Default.Methods
		}
	case Block:
		s.onErr = Verdict{Outcome: Block}
	default:
		return nil, fmt.Errorf("rules: onError %q: want CHALLENGE or BLOCK", def.OnError)
	}
	seen := map[string]bool{}
	for i, r := range def.Rules {
		if r.Name == "" {
			return nil, fmt.Errorf("rules: rule %d has no name", i+1)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("rules: rule %q: duplicate name", r.Name)
		}
		seen[r.Name] = true
		if err := checkVerdict(r.Then); err != nil {
			return nil, fmt.Errorf("rules: rule %q: %w", r.Name, err)
		}
		prg, err := compile(env, r, opts.CostLimit)
		if err != nil {
			return nil, err
		}
		s.rules = append(s.rules, compiled{rule: r, prg: prg})
	}
	// Index: each named action gets its own rules and the all-action
	// ones, in file order.
	for i, c := range s.rules {
		if len(c.rule.Actions) == 0 {
			s.forAll = append(s.forAll, i)
			for a := range s.byAction {
				s.byAction[a] = append(s.byAction[a], i)
			}
			continue
		}
		for _, a := range c.rule.Actions {
			if _, ok := s.byAction[a]; !ok {
				s.byAction[a] = slices.Clone(s.forAll)
			}
			if !slices.Contains(s.byAction[a], i) {
				s.byAction[a] = append(s.byAction[a], i)
			}
		}
	}
	s.actPool.New = func() any { return new(activation) }
	return s, nil
}

func compile(env *cel.Env, r Rule, costLimit uint64) (cel.Program, error) {
	ast, iss := env.Compile(r.When)
	if iss.Err() != nil {
		e := iss.Errors()[0]
		return nil, &CompileError{Rule: r.Name, Line: e.Location.Line(), Column: e.Location.Column() + 1, Msg: e.Message}
	}
	// dyn (e.g. custom.flag) is checked at evaluation: a non-bool fails closed.
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		loc := ast.NativeRep().SourceInfo().GetStartLocation(ast.NativeRep().Expr().ID())
		return nil, &CompileError{Rule: r.Name, Line: loc.Line(), Column: loc.Column() + 1,
			Msg: fmt.Sprintf("condition has type %s, want bool", ast.OutputType())}
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &CompileError{Rule: r.Name, Line: 1, Column: 1, Msg: err.Error()}
	}
	return prg, nil
}

func checkVerdict(v Verdict) error {
	switch v.Outcome {
	case Allow, Block, Review:
		if len(v.Methods) > 0 || v.VerificationCode {
			return fmt.Errorf("outcome %s takes no methods or verificationCode", v.Outcome)
		}
	case Challenge:
		for _, m := range v.Methods {
			switch m {
			case deviceauth.MethodDevice, deviceauth.MethodPush, deviceauth.MethodQRCode, deviceauth.MethodPasskey:
			default:
				return fmt.Errorf("unknown method %q", m)
			}
		}
	default:
		return fmt.Errorf("unknown outcome %q: want ALLOW, CHALLENGE, BLOCK or REVIEW", v.Outcome)
	}
	return nil
}

// Evaluate runs the rules that apply to s.Action in order and returns the
// first true rule's verdict, or the default. An evaluation error (a cost
// limit, a missing map key, a division by zero) stops there, fails closed
// with the set's onError verdict and is reported to Options.OnError.
// Options.OnDecision, if set, then sees the result.
func (set *Set) Evaluate(ctx context.Context, s *Signals) Result {
	res, _ := set.run(ctx, s, false)
	if res.Err != nil && set.opts.OnError != nil {
		set.opts.OnError(ctx, res.Rule, res.Err)
	}
	if set.opts.OnDecision != nil {
		set.opts.OnDecision(ctx, s, res)
	}
	return res
}

// Explanation is what Explain found.
type Explanation struct {
	// Result is what Evaluate would return for the same signals.
	Result Result
	// Rules has every rule in order; those that do not apply to the action
	// have Applies false and are not evaluated.
	Rules []RuleResult
	// Signals are the signals evaluated.
	Signals Signals
}

// Explain evaluates every rule for s (not only up to the first true one)
// with no side effects: Options.OnError is not called. Apps unit-test
// their rules with it.
func (set *Set) Explain(ctx context.Context, s Signals) Explanation {
	res, each := set.run(ctx, &s, true)
	return Explanation{Result: res, Rules: each, Signals: s}
}

func (set *Set) run(_ context.Context, s *Signals, explain bool) (Result, []RuleResult) {
	idx, ok := set.byAction[s.Action]
	if !ok {
		idx = set.forAll
	}
	act := set.actPool.Get().(*activation)
	act.reset(s)
	defer func() { act.reset(nil); set.actPool.Put(act) }()

	var each []RuleResult
	if explain {
		each = make([]RuleResult, len(set.rules))
		for i, c := range set.rules {
			each[i].Name = c.rule.Name
		}
	}
	res := Result{Verdict: set.deflt}
	decided := false
	for _, i := range idx {
		c := &set.rules[i]
		matched, err := evalBool(c.prg, act)
		if explain {
			each[i] = RuleResult{Name: c.rule.Name, Applies: true, Matched: matched, Err: err}
		}
		if decided {
			continue
		}
		switch {
		case err != nil:
			res = Result{Verdict: set.onErr, Rule: c.rule.Name, Err: err}
			decided = true
		case matched:
			res = Result{Verdict: c.rule.Then, Rule: c.rule.Name}
			decided = true
		}
		if decided && !explain {
			break
		}
	}
	return res, each
}

var errNotBool = errors.New("condition did not give a bool")

func evalBool(prg cel.Program, act *activation) (bool, error) {
	out, _, err := prg.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, errNotBool
	}
	return bool(b), nil
}
