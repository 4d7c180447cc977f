package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
)

// ExampleResult is one rule example checked.
type ExampleResult struct {
	RuleID  string `json:"rule_id"`
	Kind    string `json:"kind"` // match | not_match
	Index   int    `json:"index"`
	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"`
}

// CheckExamples runs every gate rule against its match and not_match
// examples, in rule order.
func (e *Engine) CheckExamples() []ExampleResult {
	var out []ExampleResult
	for _, r := range e.rules {
		for i, ex := range r.gate.Match {
			out = append(out, e.checkExample(r, "match", i, ex, true))
		}
		for i, ex := range r.gate.NotMatch {
			out = append(out, e.checkExample(r, "not_match", i, ex, false))
		}
	}
	return out
}

func (e *Engine) checkExample(r *rule, kind string, i int, ex config.GateExample, want bool) ExampleResult {
	res := ExampleResult{RuleID: r.gate.ID, Kind: kind, Index: i}
	in, err := ExampleInput(ex)
	if err != nil {
		res.Problem = err.Error()
		return res
	}
	got, err := e.matches(r, in)
	switch {
	case err != nil:
		res.Problem = "the condition failed: " + err.Error()
	case got != want && want:
		res.Problem = "the rule does not match it but should"
	case got != want:
		res.Problem = "the rule matches it but must not"
	default:
		res.OK = true
	}
	return res
}

// matches evaluates one rule over in: true when it matches the plan or any
// step.
func (e *Engine) matches(r *rule, in Input) (bool, error) {
	p := prepare(in.Task, in.Intent, in.Plan, e.redactor)
	defer p.close()
	if !r.step {
		p.clearStep()
		return eval(r.prg, p.frame)
	}
	for i := range p.steps {
		p.selectStep(i)
		ok, err := eval(r.prg, p.frame)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// ExampleInput turns a rule example into the task, intent and plan it stands
// for.
func ExampleInput(ex config.GateExample) (Input, error) {
	mode := agentos.ModeSemiAuto
	if ex.Mode != "" {
		m, err := agentos.ParseMode(ex.Mode)
		if err != nil {
			return Input{}, err
		}
		mode = m
	}
	steps := ex.Steps
	if !ex.ExampleStep.IsZero() {
		steps = append([]config.ExampleStep{ex.ExampleStep}, steps...)
	}
	plan := agentos.Plan{Version: 1, ID: "example", Task: "example", Source: "example"}
	for i, s := range steps {
		n := max(s.Repeat, 1)
		for k := 1; k <= n; k++ {
			st, err := exampleStep(s, k)
			if err != nil {
				return Input{}, fmt.Errorf("step %d: %v", i+1, err)
			}
			plan.Steps = append(plan.Steps, st)
		}
	}
	plan.Hash = plan.ComputeHash()
	return Input{
		Task:   agentos.Task{ID: "example", Mode: mode, Labels: ex.Labels, Planner: "example", Submitter: agentos.Human("example")},
		Intent: &agentos.Intent{ID: "example", Kind: ex.IntentKind, Risk: ex.Risk},
		Plan:   plan,
	}, nil
}

func exampleStep(s config.ExampleStep, n int) (agentos.Step, error) {
	num := strconv.Itoa(n)
	sub := func(p string) string { return strings.ReplaceAll(p, "{n}", num) }
	st := agentos.Step{
		Kind: agentos.StepKind(s.Kind), Path: sub(s.Path), From: sub(s.From), To: sub(s.To),
		Content: s.Content, Diff: s.Diff, Argv: s.Argv, Network: s.Network, Risk: s.StepRisk,
	}
	for _, p := range s.Paths {
		st.Paths = append(st.Paths, sub(p))
	}
	switch st.Kind {
	case agentos.StepWrite, agentos.StepPatch, agentos.StepDelete, agentos.StepRename, agentos.StepMkdir, agentos.StepExec:
	case "":
		if len(s.Argv) > 0 {
			st.Kind = agentos.StepExec
		} else {
			st.Kind = agentos.StepWrite
		}
	default:
		return st, fmt.Errorf("unknown kind %q (write, patch, delete, rename, mkdir, exec)", s.Kind)
	}
	if st.Kind == agentos.StepPatch && len(st.Paths) == 0 && st.Path != "" {
		st.Paths = []string{st.Path}
		st.Path = ""
	}
	if s.Bytes < 0 || s.Bytes > 64<<20 {
		return st, fmt.Errorf("bytes %d: must be between 0 and %d", s.Bytes, 64<<20)
	}
	switch {
	case st.Kind == agentos.StepWrite && st.Content == "" && s.Bytes > 0:
		st.Content = strings.Repeat("x", s.Bytes)
	case st.Kind == agentos.StepWrite && st.Content == "" && s.LinesAdded > 0:
		st.Content = strings.Repeat("line\n", s.LinesAdded)
	case st.Kind == agentos.StepPatch && st.Diff == "" && (s.LinesAdded > 0 || s.LinesRemoved > 0):
		p := "file"
		if len(st.Paths) > 0 {
			p = st.Paths[0]
		}
		var b strings.Builder
		fmt.Fprintf(&b, "diff --git a/%s b/%s\n--- a/%s\n+++ b/%s\n@@ -1,%d +1,%d @@\n", p, p, p, p, s.LinesRemoved, s.LinesAdded)
		b.WriteString(strings.Repeat("-old\n", s.LinesRemoved))
		b.WriteString(strings.Repeat("+new\n", s.LinesAdded))
		st.Diff = b.String()
	}
	return st, nil
}
