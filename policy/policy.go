// Package policy is the gate engine: ordered policy-as-code rules from
// agentos.yaml, each a CEL condition over the task, its intent, its plan and
// each step, with an effect (allow, require_approval, deny). Every matching
// rule yields an agentos.GateDecision; the strictest effect wins. Conditions
// are type-checked when the policy loads, and each rule's examples must hold.
//
// A rule that uses a step.* variable is evaluated once per step; any other
// rule once per plan. One rule is built in and cannot be removed or
// auto-approved: a plan that changes the policy file itself needs a human.
package policy

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/redact"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// PolicyFileRule is the id of the built-in rule that holds every plan writing
// agentos.yaml for a human; no auto_approve rule covers it.
const PolicyFileRule = "builtin.policy-file"

// Engine evaluates a compiled policy. It is safe for concurrent use.
type Engine struct {
	hash      string
	rules     []*rule
	auto      []*autoRule
	approvers []agentos.Actor
	redactor  *redact.Redactor
	cfg       *config.Config
}

type rule struct {
	gate   config.Gate
	effect agentos.Effect
	prg    cel.Program
	step   bool // uses step.* variables
	// secrets: the condition reads step.secrets or plan.secrets, so it also
	// judges a run's final diff (EvaluateDiff).
	secrets bool
	// approvers and approvals for require_approval rules.
	approvers []agentos.Actor
	approvals int
}

type autoRule struct {
	cfg   config.AutoApprove
	prg   cel.Program
	step  bool
	rules map[string]bool
}

var env = sync.OnceValue(func() *cel.Env {
	opts := []cel.EnvOption{
		cel.Function("glob",
			cel.Overload("glob_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(p, pat ref.Val) ref.Val {
					return types.Bool(Glob(string(p.(types.String)), string(pat.(types.String))))
				})),
			cel.Overload("glob_list_string", []*cel.Type{stringList, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(ps, pat ref.Val) ref.Val {
					return globAny(ps, string(pat.(types.String)))
				}))),
		cel.Function("risk_at_least",
			cel.Overload("risk_at_least_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(r, min ref.Val) ref.Val {
					return types.Bool(riskRank[strings.ToLower(string(r.(types.String)))] >= riskRank[strings.ToLower(string(min.(types.String)))])
				}))),
	}
	for _, v := range Variables {
		opts = append(opts, cel.Variable(v.Name, v.Type))
	}
	e, err := cel.NewEnv(opts...)
	if err != nil {
		panic("policy: building the CEL environment: " + err.Error())
	}
	return e
})

func globAny(ps ref.Val, pattern string) ref.Val {
	if sl, ok := ps.(*stringListVal); ok {
		for _, p := range sl.ss {
			if Glob(p, pattern) {
				return types.True
			}
		}
		return types.False
	}
	l, ok := ps.(traits.Lister)
	if !ok {
		return types.NoSuchOverloadErr()
	}
	for it := l.Iterator(); it.HasNext() == types.True; {
		p, ok := it.Next().(types.String)
		if ok && Glob(string(p), pattern) {
			return types.True
		}
	}
	return types.False
}

// undeclaredRe is CEL's message for a name it does not know, which speaks
// of containers a policy author never meets.
var undeclaredRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^undeclared reference to '([^']*)' \(in container '[^']*'\)$`)
})

// celMessage says a CEL checker message in a policy author's terms.
func celMessage(m string) string {
	if g := undeclaredRe().FindStringSubmatch(m); g != nil {
		return fmt.Sprintf("unknown name %q", g[1])
	}
	return m
}

// compile type-checks a condition; errors name where and the position.
func compile(where, expr string) (cel.Program, bool, error) {
	ast, iss := env().Compile(expr)
	if iss != nil && iss.Err() != nil {
		var msgs []string
		for _, e := range iss.Errors() {
			msgs = append(msgs, fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, celMessage(e.Message)))
		}
		return nil, false, agentos.Errorf(agentos.EINVALID, "agentos.yaml: %s: when: %s: fix the CEL condition (see `agentos policy vars`)", where, strings.Join(msgs, "; "))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, false, agentos.Errorf(agentos.EINVALID, "agentos.yaml: %s: when: the condition is %s, want bool", where, ast.OutputType())
	}
	step := false
	for _, r := range ast.NativeRep().ReferenceMap() {
		if strings.HasPrefix(r.Name, "step.") {
			step = true
		}
	}
	prg, err := env().Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, false, agentos.WrapError(agentos.EINVALID, err, "agentos.yaml: %s: when: %v", where, err)
	}
	return prg, step, nil
}

// InterpreterRule is the id of the built-in rule that holds for a human a
// plan in which an interpreter (sh, bash, python, node, perl, ...) runs a
// file the plan itself writes: the allowlist allowed the interpreter, not
// what the file will make it run. A policy relaxes it by defining a gate
// with this id (its own condition and effect replace the built-in one).
const InterpreterRule = "interpreter-plan-file"

var builtinInterpreter = config.Gate{
	ID:      InterpreterRule,
	When:    `size(plan.runs_plan_files) > 0`,
	Effect:  string(agentos.EffectRequireApproval),
	Message: "an interpreter runs a file the plan itself writes, so the command allowlist does not bind what it runs; a human must approve it",
}

// builtinPolicyFile is the rule no configuration can remove.
var builtinPolicyFile = config.Gate{
	ID:      PolicyFileRule,
	When:    `step.paths.exists(p, p == "` + config.FileName + `")`,
	Effect:  string(agentos.EffectRequireApproval),
	Message: "the plan changes the policy file " + config.FileName + "; a human must approve it (never auto-approved)",
}

// Compile type-checks every gate and auto_approve rule of c. It does not
// run the rules' examples (Load does).
func Compile(c *config.Config) (*Engine, error) {
	r, err := redact.New(c.Redact.Patterns)
	if err != nil {
		return nil, err
	}
	e := &Engine{hash: c.Hash, redactor: r, cfg: c}
	for _, a := range c.Approvers {
		e.approvers = append(e.approvers, approverActor(a))
	}
	gates := append(slices.Clone(c.Gates), builtinPolicyFile)
	if !slices.ContainsFunc(c.Gates, func(g config.Gate) bool { return g.ID == InterpreterRule }) {
		gates = append(gates, builtinInterpreter)
	}
	for i, g := range gates {
		where := fmt.Sprintf("gates[%d] (%s)", i, g.ID)
		if g.ID == PolicyFileRule || (g.ID == InterpreterRule && g.When == builtinInterpreter.When && g.Message == builtinInterpreter.Message) {
			where = g.ID
		}
		prg, step, err := compile(where, g.When)
		if err != nil {
			return nil, err
		}
		ru := &rule{gate: g, effect: agentos.Effect(g.Effect), prg: prg, step: step, secrets: usesSecrets(g.When), approvals: max(g.Approvals, 1)}
		for _, a := range g.Approvers {
			ru.approvers = append(ru.approvers, approverActor(a))
		}
		if len(ru.approvers) == 0 {
			ru.approvers = e.approvers
		}
		e.rules = append(e.rules, ru)
	}
	known := map[string]bool{}
	for _, g := range gates {
		known[g.ID] = true
	}
	for i, a := range c.AutoApprove {
		where := fmt.Sprintf("auto_approve[%d] (%s)", i, a.ID)
		prg, step, err := compile(where, a.When)
		if err != nil {
			return nil, err
		}
		ar := &autoRule{cfg: a, prg: prg, step: step}
		if len(a.Rules) > 0 {
			ar.rules = map[string]bool{}
			for _, id := range a.Rules {
				if !known[id] {
					return nil, agentos.Errorf(agentos.EINVALID, "agentos.yaml: %s: rules: no gate has id %q", where, id)
				}
				if id == PolicyFileRule {
					return nil, agentos.Errorf(agentos.EINVALID, "agentos.yaml: %s: rules: %s can never be auto-approved; remove it", where, id)
				}
				ar.rules[id] = true
			}
		}
		e.auto = append(e.auto, ar)
	}
	return e, nil
}

// Load compiles c and runs every rule's examples; a failing example is a
// load error naming the rule and the example.
func Load(c *config.Config) (*Engine, error) {
	e, err := Compile(c)
	if err != nil {
		return nil, err
	}
	for _, r := range e.CheckExamples() {
		if !r.OK {
			return nil, agentos.Errorf(agentos.EINVALID, "agentos.yaml: gate %s: %s example %d: %s; fix the rule or its example (`agentos policy test`)", r.RuleID, r.Kind, r.Index+1, r.Problem)
		}
	}
	return e, nil
}

func approverActor(name string) agentos.Actor {
	if strings.HasPrefix(name, "human:") {
		return agentos.Actor(name)
	}
	return agentos.Human(name)
}

// Hash is the policy hash every decision carries.
func (e *Engine) Hash() string { return e.hash }

// Redactor is the redactor built from the policy's redact patterns.
func (e *Engine) Redactor() *redact.Redactor { return e.redactor }

// Input is what a policy is evaluated over. Intent may be nil.
type Input struct {
	Task   agentos.Task
	Intent *agentos.Intent
	Plan   agentos.Plan
	// RunsPlanFiles maps an exec step (or verify check, numbered after the
	// steps) to the files the plan writes that an interpreter in it runs;
	// the caller knows the commands (package cmdrule finds the script).
	RunsPlanFiles map[int][]string
	// secrets makes steps look secret whatever their content (the final
	// diff scan's findings: encoded, packed or unscannable secrets).
	secrets map[int][]string
}

// setRuns gives an input the plan-written files interpreters run.
func (in *input) setRuns(runs map[int][]string) {
	in.runs = runs
	var all []string
	for _, k := range slices.Sorted(maps.Keys(runs)) {
		for _, f := range runs[k] {
			if !slices.Contains(all, f) {
				all = append(all, f)
			}
		}
	}
	in.act.vals[vPlanRunsPlanFiles] = strList(all)
}

// RuleResult is one rule's outcome, for `agentos policy explain`.
type RuleResult struct {
	RuleID  string         `json:"rule_id"`
	Effect  agentos.Effect `json:"effect"`
	When    string         `json:"when"`
	PerStep bool           `json:"per_step"`
	Matched bool           `json:"matched"`
	Steps   []int          `json:"steps,omitempty"` // steps it matched (per-step rules)
	Error   string         `json:"error,omitempty"`
}

// AutoApproval records that a standing auto_approve rule covered a rule
// holding the plan for a human.
type AutoApproval struct {
	RuleID     string `json:"rule_id"`      // the gate
	AutoRuleID string `json:"auto_rule_id"` // the auto_approve rule
}

// Result is a policy evaluation of one plan.
type Result struct {
	// Effect is the strictest effect of all decisions.
	Effect agentos.Effect `json:"effect"`
	// Decisions are the matching rules, in rule then step order; when no
	// rule matched, a single "default" allow decision.
	Decisions []agentos.GateDecision `json:"decisions"`
	// Requirements say who must approve, one per require_approval rule.
	Requirements []approval.Requirement `json:"requirements,omitempty"`
	// AutoApproved is set in full_auto when standing auto_approve rules
	// cover every requirement; AutoApprovals says which rule covered which.
	AutoApproved  bool           `json:"auto_approved"`
	AutoApprovals []AutoApproval `json:"auto_approvals,omitempty"`
	// Uncovered lists the requirements no auto_approve rule covered (full_auto).
	Uncovered []string `json:"uncovered,omitempty"`
	// Rules is every rule with whether it matched.
	Rules      []RuleResult `json:"rules"`
	PolicyHash string       `json:"policy_hash"`
	PlanHash   string       `json:"plan_hash"`
}

var strictness = map[agentos.Effect]int{agentos.EffectAllow: 0, agentos.EffectRequireApproval: 1, agentos.EffectDeny: 2}

// Stricter returns the stricter of two effects.
func Stricter(a, b agentos.Effect) agentos.Effect {
	if strictness[b] > strictness[a] {
		return b
	}
	return a
}

// Evaluate runs every rule over in and returns the decisions.
func (e *Engine) Evaluate(in Input) Result {
	p := prepare(in.Task, in.Intent, in.Plan, e.redactor)
	p.setRuns(in.RunsPlanFiles)
	p.forceSecrets(in.secrets)
	defer p.close()
	res := Result{Effect: agentos.EffectAllow, PolicyHash: e.hash, PlanHash: in.Plan.Hash}
	// Per-step rules run step by step so each step's values are selected
	// once; results are then reported in rule order.
	type hit struct {
		step int
		err  error
	}
	hits := make([][]hit, len(e.rules))
	for i := range p.steps {
		p.selectStep(i)
		for ri, r := range e.rules {
			if !r.step {
				continue
			}
			ok, err := eval(r.prg, p.frame)
			if ok || err != nil {
				hits[ri] = append(hits[ri], hit{i, err})
			}
		}
	}
	p.clearStep()
	for ri, r := range e.rules {
		if r.step {
			continue
		}
		ok, err := eval(r.prg, p.frame)
		if ok || err != nil {
			hits[ri] = append(hits[ri], hit{-1, err})
		}
	}
	for ri, r := range e.rules {
		rr := RuleResult{RuleID: r.gate.ID, Effect: r.effect, When: r.gate.When, PerStep: r.step}
		for _, h := range hits[ri] {
			if h.err != nil {
				rr.Error = h.err.Error()
				res.addError(r, h.step, h.err, e.hash)
				continue
			}
			rr.Matched = true
			what := ""
			if h.step >= 0 {
				rr.Steps = append(rr.Steps, h.step)
				what = stepWhat(p.steps[h.step])
			}
			res.add(r, h.step, what, e.hash)
		}
		res.Rules = append(res.Rules, rr)
	}
	for i, d := range res.Decisions {
		if d.RuleID == InterpreterRule && d.Step < 0 {
			res.Decisions[i].Reason += " (" + strings.Join(strListOf(p.act.vals[vPlanRunsPlanFiles]), ", ") + ")"
		}
	}
	if len(res.Decisions) == 0 {
		res.Decisions = []agentos.GateDecision{{RuleID: "default", Effect: agentos.EffectAllow, Reason: "no gate matched", Step: -1, PolicyHash: e.hash}}
	}
	for _, r := range e.rules {
		for _, d := range res.Decisions {
			if d.RuleID == r.gate.ID && d.Effect == agentos.EffectRequireApproval {
				res.Requirements = append(res.Requirements, approval.Requirement{
					RuleID: r.gate.ID, Approvers: r.approvers, Approvals: r.approvals, Reason: d.Reason,
				})
				break
			}
		}
	}
	if in.Task.Mode == agentos.ModeFullAuto && res.Effect == agentos.EffectRequireApproval {
		e.autoApprove(p, &res)
	}
	return res
}

// autoApprove checks standing approvals: each requirement must be covered by
// an auto_approve rule that lists it (or lists none) and holds — on every
// step the rule matched, for a per-step auto rule.
func (e *Engine) autoApprove(p *input, res *Result) {
	steps := map[string][]int{}
	errored := map[string]bool{} // a rule that failed to evaluate is never auto-approved
	for _, d := range res.Decisions {
		if d.Effect == agentos.EffectRequireApproval {
			steps[d.RuleID] = append(steps[d.RuleID], d.Step)
		}
	}
	for _, r := range res.Rules {
		if r.Error != "" {
			errored[r.RuleID] = true
		}
	}
	for _, req := range res.Requirements {
		covered := ""
		if req.RuleID != PolicyFileRule && !errored[req.RuleID] {
			for _, a := range e.auto {
				if a.rules != nil && !a.rules[req.RuleID] {
					continue
				}
				if a.covers(p, steps[req.RuleID]) {
					covered = a.cfg.ID
					break
				}
			}
		}
		if covered == "" {
			res.Uncovered = append(res.Uncovered, req.RuleID)
			continue
		}
		res.AutoApprovals = append(res.AutoApprovals, AutoApproval{RuleID: req.RuleID, AutoRuleID: covered})
	}
	res.AutoApproved = len(res.Uncovered) == 0
}

func (a *autoRule) covers(p *input, steps []int) bool {
	if !a.step {
		p.clearStep()
		ok, err := eval(a.prg, p.frame)
		return err == nil && ok
	}
	// A per-step standing approval must hold on each step the gate matched;
	// for a plan-level gate, on every step of the plan.
	if slices.Contains(steps, -1) {
		steps = nil
		for i := range p.steps {
			steps = append(steps, i)
		}
	}
	for _, i := range steps {
		p.selectStep(i)
		ok, err := eval(a.prg, p.frame)
		if err != nil || !ok {
			return false
		}
	}
	return true
}

func eval(prg cel.Program, frame *interpreter.ExecutionFrame) (bool, error) {
	out, _, err := prg.Eval(frame)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("condition returned %s, want bool", out.Type())
	}
	return bool(b), nil
}

func stepWhat(f StepFacts) string {
	if f.Path != "" {
		return fmt.Sprintf("step %d: %s %s", f.Index+1, f.Kind, f.Path)
	}
	return fmt.Sprintf("step %d: %s", f.Index+1, f.Kind)
}

func (res *Result) add(r *rule, step int, what, hash string) {
	reason := r.gate.Message
	if reason == "" {
		reason = "matched " + r.gate.ID
	}
	if what != "" {
		reason += " (" + what + ")"
	}
	res.Decisions = append(res.Decisions, agentos.GateDecision{RuleID: r.gate.ID, Effect: r.effect, Reason: reason, Step: step, PolicyHash: hash})
	res.Effect = Stricter(res.Effect, r.effect)
}

// addError fails closed: a rule that cannot be evaluated holds the plan for
// a human at least (a deny rule still denies).
func (res *Result) addError(r *rule, step int, err error, hash string) {
	eff := Stricter(r.effect, agentos.EffectRequireApproval)
	reason := fmt.Sprintf("rule %s could not be evaluated: %v; fix the rule in agentos.yaml", r.gate.ID, err)
	if step >= 0 {
		reason = fmt.Sprintf("rule %s could not be evaluated on step %d: %v; fix the rule in agentos.yaml", r.gate.ID, step+1, err)
	}
	res.Decisions = append(res.Decisions, agentos.GateDecision{RuleID: r.gate.ID, Effect: eff, Reason: reason, Step: step, PolicyHash: hash})
	res.Effect = Stricter(res.Effect, eff)
}
