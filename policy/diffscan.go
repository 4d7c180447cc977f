package policy

import (
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/redact"
	"github.com/google/cel-go/common/types"
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
// It names the rules that matched, never the value, and where inside the
// file it was when not in plain sight: "base64", "hex", "zip member
// a/.env", nested with " > " ("zip member x.tgz > gzip > tar member .env").
// Rule UnscannedRule means a part of the file could not be read (In says
// which, and why).
type Finding struct {
	Path  string   `json:"path"`
	Rules []string `json:"rules"`
	In    []string `json:"in,omitempty"`
}

// ScanSecrets returns the files whose change adds a secret that was not
// there before (the same secret moved within a file is not new), in the
// order of changes. It reads bytes, text or binary alike, and what they
// encode or pack: base64 and hex runs, zip, tar and gzip archives (see
// expand.go for the bounds).
func ScanSecrets(r *redact.Redactor, changes []Change) []Finding {
	if r == nil {
		r = redact.Default()
	}
	var out []Finding
	for _, c := range changes {
		if len(c.New) == 0 {
			continue
		}
		var f Finding
		var old map[string]bool
		x := expand(c.New, func(v view) {
			ms := r.Matches(text(v.data))
			if len(ms) == 0 {
				return
			}
			if old == nil {
				old = oldValues(r, c.Old)
			}
			added := false
			for _, m := range ms {
				if old[m.Value] {
					continue
				}
				added = true
				if !slices.Contains(f.Rules, m.Rule) {
					f.Rules = append(f.Rules, m.Rule)
				}
			}
			if added && v.where != "" && !slices.Contains(f.In, v.where) {
				f.In = append(f.In, v.where)
			}
		})
		f.In = innermost(f.In)
		if len(x.unscanned) > 0 {
			f.Rules = append(f.Rules, UnscannedRule)
			f.In = append(f.In, x.unscanned...)
		}
		if len(f.Rules) > 0 {
			f.Path = c.Path
			out = append(out, f)
		}
	}
	return out
}

// innermost drops a place that holds another (a tar stream's bytes hold
// its members' verbatim): the finding names where the secret was put.
func innermost(in []string) []string {
	var out []string
	for _, w := range in {
		if !slices.ContainsFunc(in, func(o string) bool { return strings.HasPrefix(o, w+" > ") }) {
			out = append(out, w)
		}
	}
	return out
}

// oldValues are the secrets the removed side already held, in every form
// the scan reads.
func oldValues(r *redact.Redactor, old []byte) map[string]bool {
	vals := map[string]bool{}
	if len(old) == 0 {
		return vals
	}
	expand(old, func(v view) {
		for _, m := range r.Matches(text(v.data)) {
			// A copy: the value would hold its view (a decoded run, a
			// window of one) in memory for the rest of the scan.
			vals[strings.Clone(m.Value)] = true
		}
	})
	return vals
}

// text reads b as a string without copying it (a changed file and its
// decoded views may be tens of MiB each). Safe because nothing writes a
// view while it is visited, and no string of it outlives its visit:
// findings name rules and places, never the matched values, and the old
// side's values are copied.
func text(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

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
	// Each finding is a write step of the file; it looks secret to the
	// rules whatever form the secret had (encoded, packed, unscannable).
	in.secrets = map[int][]string{}
	for i, f := range found {
		p.Steps = append(p.Steps, agentos.Step{Kind: agentos.StepWrite, Path: f.Path, Content: string(byPath[f.Path])})
		in.secrets[i] = f.Rules
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
			where = found[d.Step].String()
		} else {
			var parts []string
			for _, f := range found {
				parts = append(parts, f.String())
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

// String says what the file adds and where: "out.zip adds github-token
// (in zip member a/.env)".
func (f Finding) String() string {
	s := fmt.Sprintf("%s adds %s", f.Path, strings.Join(f.Rules, ", "))
	if len(f.In) > 0 {
		s += " (in " + strings.Join(f.In, "; ") + ")"
	}
	return s
}

// forceSecrets makes the steps named in secrets look secret to the rules
// (step.secrets, plan.secrets), whatever their content shows.
func (in *input) forceSecrets(secrets map[int][]string) {
	for i, ids := range secrets {
		if i >= 0 && i < len(in.steps) && len(ids) > 0 {
			in.steps[i].Secrets = append(in.steps[i].Secrets, ids...)
			in.act.vals[vPlanSecrets] = types.Bool(true)
		}
	}
}

func stepWhatOf(i int, found []Finding) string {
	if i < 0 {
		return ""
	}
	return stepWhat(StepFacts{Index: i, Kind: string(agentos.StepWrite), Path: found[i].Path})
}

// usesSecrets reports whether a condition reads a secrets variable.
func usesSecrets(expr string) bool {
	ast, iss := env().Compile(expr)
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
