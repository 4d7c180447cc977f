package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/redact"
)

// Change is one file of a commit's diff as the final secret scan sees it:
// New is what the change adds (a text file's added lines, a binary file's
// bytes), Old what it removes. Secrets already in Old are not new.
type Change struct {
	Path string
	Old  []byte
	New  []byte
}

// Finding is a file whose change adds something that looks like a secret.
// It names the rules that matched, never the value.
type Finding struct {
	Path  string   `json:"path"`
	Rules []string `json:"rules"`
}

// ScanSecrets returns the files whose change adds a secret that was not
// there before (the same secret moved within a file is not new), in the
// order of changes. It reads bytes, text or binary alike.
func ScanSecrets(r *redact.Redactor, changes []Change) []Finding {
	if r == nil {
		r = redact.Default()
	}
	var out []Finding
	for _, c := range changes {
		if len(c.New) == 0 {
			continue
		}
		ms := r.Matches(string(c.New))
		if len(ms) == 0 {
			continue
		}
		old := map[string]bool{}
		if len(c.Old) > 0 {
			for _, m := range r.Matches(string(c.Old)) {
				old[m.Value] = true
			}
		}
		var rules []string
		for _, m := range ms {
			if !old[m.Value] && !slices.Contains(rules, m.Rule) {
				rules = append(rules, m.Rule)
			}
		}
		if len(rules) > 0 {
			out = append(out, Finding{Path: c.Path, Rules: rules})
		}
	}
	return out
}

// DiffPrefix starts the reason of every decision about a commit's diff.
const DiffPrefix = "before commit: "

// EvaluateDiff applies the policy's secret rules (every gate whose
// condition reads step.secrets or plan.secrets) to what a run's final diff
// adds, whoever wrote it: each file with a finding is one write step of the
// changed content. It returns the findings and the decisions; the caller
// holds a require_approval decision against the plan's own approvals.
func (e *Engine) EvaluateDiff(in Input, changes []Change) ([]Finding, Result) {
	found := ScanSecrets(e.redactor, changes)
	res := Result{Effect: agentos.EffectAllow, PolicyHash: e.hash, PlanHash: in.Plan.Hash}
	if len(found) == 0 {
		return nil, res
	}
	byPath := map[string][]byte{}
	for _, c := range changes {
		byPath[c.Path] = c.New
	}
	p := in.Plan
	p.Steps = nil
	for _, f := range found {
		p.Steps = append(p.Steps, agentos.Step{Kind: agentos.StepWrite, Path: f.Path, Content: string(byPath[f.Path])})
	}
	sub := *e
	sub.rules = nil
	for _, r := range e.rules {
		if r.secrets {
			sub.rules = append(sub.rules, r)
		}
	}
	in.Plan = p
	res = sub.Evaluate(in)
	var ds []agentos.GateDecision
	for _, d := range res.Decisions {
		if d.RuleID == "default" {
			continue // no secret rule matched: the policy lets it through
		}
		where := ""
		if d.Step >= 0 {
			f := found[d.Step]
			where = fmt.Sprintf("%s adds %s", f.Path, strings.Join(f.Rules, ", "))
		} else {
			var parts []string
			for _, f := range found {
				parts = append(parts, fmt.Sprintf("%s adds %s", f.Path, strings.Join(f.Rules, ", ")))
			}
			where = strings.Join(parts, "; ")
		}
		// No "key: value" shapes here: the text passes the redactor.
		d.Reason = DiffPrefix + strings.TrimSuffix(d.Reason, fmt.Sprintf(" (%s)", stepWhatOf(d.Step, found))) + " [" + where + "]"
		ds = append(ds, d)
	}
	res.Decisions = ds
	if len(ds) == 0 {
		res.Effect = agentos.EffectAllow
	}
	return found, res
}

func stepWhatOf(i int, found []Finding) string {
	if i < 0 {
		return ""
	}
	return stepWhat(StepFacts{Index: i, Kind: string(agentos.StepWrite), Path: found[i].Path})
}

// usesSecrets reports whether a condition reads a secrets variable.
func usesSecrets(expr string) bool {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return false
	}
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Name == "step.secrets" || r.Name == "plan.secrets" {
			return true
		}
	}
	return false
}
