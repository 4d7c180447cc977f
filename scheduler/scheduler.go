// Package scheduler is red line 10: it decides, from the ordered rules in
// agentos.yaml, which queued task runs next, which is held and which is
// skipped, and every decision names the rule that made it and the hash of the
// rule set, so that the dispatch loop can audit it before it acts and
// `agentos scheduler explain` can reconstruct it from the audit log.
//
// Rules are evaluated in order against each task (CEL over task.id,
// task.labels, task.paths, task.mode, task.risk, task.age, task.submitter and
// task.target):
//
//   - hold / run: the first matching one decides whether the task may run at
//     all (run exempts it from later holds);
//   - priority N: the first matching one sets the priority (default 0);
//     higher priorities go first, FIFO (by submission) within a priority;
//   - serialize KEY / max_concurrency KEY LIMIT: every matching one claims a
//     slot of KEY; a task whose key is full is skipped while a later task
//     may run.
//
// Decide is a pure function of the rules, the tasks and the time: a held or
// skipped task is re-evaluated on every call, so it runs as soon as what held
// it (its age, a label, a running task) changes.
package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
	"github.com/agentos/agentos/config"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// DefaultRule is the rule id of a decision no configured rule made.
const DefaultRule = "default"

// TakeoverRule is the built-in rule under which a worker takes over a task
// whose runner's task lock expired.
const TakeoverRule = "builtin.takeover"

// FileLockRule is the built-in rule under which a dispatchable task is
// skipped because another task holds a lock on one of its files (red line
// 9); it runs when that lock is released, and integrates by rebasing onto
// what the other task landed (red line 8).
const FileLockRule = "builtin.file-lock"

// Action is what the scheduler decided for a task. It, Claim and Decision
// are declared in the root package, which owns the registry of audit
// payloads (agentos.EventPayloads); these names keep the scheduler's API.
type Action = agentos.SchedulerAction

const (
	// Dispatch: the task runs now.
	Dispatch Action = "dispatch"
	// Hold: a hold rule keeps the task queued.
	Hold Action = "hold"
	// Skip: a serialize or max_concurrency key is full; a later task may run.
	Skip Action = "skip"
	// Takeover: the task's runner died (its task lock expired); the task is
	// taken over by another worker (rule TakeoverRule).
	Takeover Action = "takeover"
)

// EventPrefix starts the kind of every scheduler audit event; an Action's
// EventKind is scheduler.dispatch, scheduler.hold, scheduler.skip or
// scheduler.takeover.
const EventPrefix = agentos.SchedulerEventPrefix

// Task is what the rules see of a queued or running task.
type Task struct {
	ID        string
	Labels    []string
	Paths     []string
	Mode      string
	Risk      string
	Submitter string
	Target    string
	// Submitted orders tasks FIFO within a priority; it also gives task.age.
	Submitted time.Time
}

// Claim is a concurrency slot a task takes while it runs.
type Claim = agentos.SchedulerClaim

// Decision is one scheduling decision, the data of its audit event (of
// scheduler.dispatch with the lease it runs under).
type Decision = agentos.SchedulerDecision

// Scheduler is a compiled rule set.
type Scheduler struct {
	rules []rule
	// Hash is "sha256:…" over the canonical JSON of the rules.
	Hash string
}

type rule struct {
	config.SchedulerRule
	when cel.Program // nil: always
	key  cel.Program // key_expr
}

// taskVars are the names a rule can use, each declared with its type: a
// misspelt field (task.lables) or a wrong type fails to compile, so a rule
// that could never evaluate is refused when the policy loads rather than
// holding every task later (and without reading CEL's error text: cel-go
// has no typed error for a missing map key).
func taskVars() []taskVar {
	strs := cel.ListType(cel.StringType)
	return []taskVar{
		{"task.id", cel.StringType, func(t Task, _ time.Time) any { return t.ID }},
		{"task.labels", strs, func(t Task, _ time.Time) any { return nonNil(t.Labels) }},
		{"task.paths", strs, func(t Task, _ time.Time) any { return nonNil(t.Paths) }},
		{"task.mode", cel.StringType, func(t Task, _ time.Time) any { return t.Mode }},
		{"task.risk", cel.StringType, func(t Task, _ time.Time) any { return t.Risk }},
		{"task.submitter", cel.StringType, func(t Task, _ time.Time) any { return t.Submitter }},
		{"task.target", cel.StringType, func(t Task, _ time.Time) any { return t.Target }},
		{"task.age", cel.DurationType, func(t Task, now time.Time) any { return now.Sub(t.Submitted) }},
	}
}

type taskVar struct {
	name  string
	typ   *cel.Type
	value func(t Task, now time.Time) any
}

var env = sync.OnceValue(func() *cel.Env {
	var opts []cel.EnvOption
	for _, v := range taskVars() {
		opts = append(opts, cel.Variable(v.name, v.typ))
	}
	e, err := cel.NewEnv(opts...)
	if err != nil {
		panic(err)
	}
	return e
})

// Hash returns the hash of a rule list: canonical JSON through SHA-256.
func Hash(rules []config.SchedulerRule) string {
	if rules == nil {
		rules = []config.SchedulerRule{}
	}
	return canonjson.MustDigest(rules)
}

// New compiles rules; a condition or key expression that does not compile
// is an EINVALID error naming the rule.
func New(rules []config.SchedulerRule) (*Scheduler, error) {
	s := &Scheduler{Hash: Hash(rules)}
	for i, r := range rules {
		c := rule{SchedulerRule: r}
		var err error
		if strings.TrimSpace(r.When) != "" {
			if c.when, err = compile(r.When, cel.BoolType); err != nil {
				return nil, agentos.WrapError(agentos.EINVALID, err, "scheduler.rules[%d] (%s): when: %v: fix the CEL condition in %s (%s)", i, r.ID, err, config.FileName, varHint())
			}
		}
		if strings.TrimSpace(r.KeyExpr) != "" {
			if c.key, err = compile(r.KeyExpr, cel.StringType); err != nil {
				return nil, agentos.WrapError(agentos.EINVALID, err, "scheduler.rules[%d] (%s): key_expr: %v: fix the CEL expression in %s (%s)", i, r.ID, err, config.FileName, varHint())
			}
		}
		s.rules = append(s.rules, c)
	}
	return s, nil
}

func compile(src string, want *cel.Type) (cel.Program, error) {
	ast, iss := env().Compile(src)
	if iss.Err() != nil {
		return nil, fmt.Errorf("%s", strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if t := ast.OutputType(); !t.IsExactType(want) && !t.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("%q is a %s, want a %s", src, t, want)
	}
	return env().Program(ast)
}

func activation(t Task, now time.Time) map[string]any {
	act := map[string]any{}
	for _, v := range taskVars() {
		act[v.name] = v.value(t, now)
	}
	return act
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// varHint names the variables a rule can use, for the load error.
func varHint() string {
	var names []string
	for _, v := range taskVars() {
		names = append(names, v.name)
	}
	return "a rule can use " + strings.Join(names, ", ")
}

// Evaluate applies the rules to one task and returns its decision as if
// nothing were running (Dispatch or Hold). A rule that fails to evaluate
// holds the task (fail closed), naming the rule and the error.
func (s *Scheduler) Evaluate(t Task, now time.Time) Decision {
	d := Decision{Task: t.ID, Action: Dispatch, RulesHash: s.Hash, PriorityRule: DefaultRule, Matched: []string{}}
	act := activation(t, now)
	admission := ""
	prioritySet := false
	for _, r := range s.rules {
		ok := true
		if r.when != nil {
			v, _, err := r.when.Eval(act)
			if err != nil {
				return failClosed(d, r.ID, err)
			}
			b, isBool := v.(types.Bool)
			if !isBool {
				return failClosed(d, r.ID, fmt.Errorf("condition returned %s, not a bool", v.Type()))
			}
			ok = bool(b)
		}
		if !ok {
			continue
		}
		d.Matched = append(d.Matched, r.ID)
		switch r.Effect {
		case config.EffectHold, config.EffectRun:
			if admission == "" {
				admission = r.Effect
				d.RuleID = r.ID
				d.Reason = r.Reason
			}
		case config.EffectPriority:
			if !prioritySet {
				prioritySet = true
				d.Priority, d.PriorityRule = r.Priority, r.ID
			}
		case config.EffectSerialize, config.EffectMaxConcurrency:
			key := r.Key
			if r.key != nil {
				v, _, err := r.key.Eval(act)
				if err != nil {
					return failClosed(d, r.ID, err)
				}
				sv, isStr := v.(types.String)
				if !isStr || sv == "" {
					return failClosed(d, r.ID, fmt.Errorf("key_expr returned %v, not a non-empty string", v))
				}
				key = string(sv)
			}
			limit := r.Limit
			if r.Effect == config.EffectSerialize {
				limit = 1
			}
			d.Claims = append(d.Claims, Claim{Key: key, Limit: limit, Rule: r.ID})
		}
	}
	switch admission {
	case config.EffectHold:
		d.Action = Hold
		if d.Reason == "" {
			d.Reason = "held by rule " + d.RuleID
		}
	case config.EffectRun:
		if d.Reason == "" {
			d.Reason = "run by rule " + d.RuleID
		}
	default:
		d.RuleID = DefaultRule
		d.Reason = "no hold rule matched"
	}
	return d
}

func failClosed(d Decision, ruleID string, err error) Decision {
	d.Action = Hold
	d.RuleID = ruleID
	d.Reason = fmt.Sprintf("rule %s failed to evaluate (%v): held until the rule is fixed", ruleID, err)
	d.Claims = nil
	return d
}

// Order sorts decisions by priority (higher first), then by submission
// time, then by task id: the dispatch order.
func order(ds []Decision, submitted map[string]time.Time) {
	slices.SortStableFunc(ds, func(a, b Decision) int {
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
		if c := submitted[a.Task].Compare(submitted[b.Task]); c != 0 {
			return c
		}
		return cmp.Compare(a.Task, b.Task)
	})
}

// Decide picks the next task to run among queued, given the running tasks.
// It returns the decisions for the queued tasks it looked at, in dispatch
// order: holds and skips ahead of the chosen task, then the chosen task
// (Action Dispatch) if any. Tasks behind the chosen one wait for a worker and
// get no decision.
func (s *Scheduler) Decide(queued, running []Task, now time.Time) []Decision {
	type slot struct {
		n       int
		holders []string
	}
	used := map[string]*slot{}
	for _, t := range running {
		for _, c := range s.Evaluate(t, now).Claims {
			u := used[c.Key]
			if u == nil {
				u = &slot{}
				used[c.Key] = u
			}
			u.n++
			u.holders = append(u.holders, t.ID)
		}
	}
	submitted := map[string]time.Time{}
	ds := make([]Decision, 0, len(queued))
	for _, t := range queued {
		submitted[t.ID] = t.Submitted
		ds = append(ds, s.Evaluate(t, now))
	}
	order(ds, submitted)
	var out []Decision
	for _, d := range ds {
		if d.Action == Dispatch {
			for _, c := range d.Claims {
				if u := used[c.Key]; u != nil && u.n >= c.Limit {
					d.Action = Skip
					d.RuleID = c.Rule
					d.Holders = slices.Clone(u.holders)
					slices.Sort(d.Holders)
					d.Reason = fmt.Sprintf("key %q is full (%d of %d running: %s)", c.Key, u.n, c.Limit, strings.Join(d.Holders, ", "))
					break
				}
			}
		}
		out = append(out, d)
		if d.Action == Dispatch {
			break
		}
	}
	return out
}
