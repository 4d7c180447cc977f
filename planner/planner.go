// Package planner holds what every planner of natural-language requests
// shares: the proposal documents a planner returns (the "intent" and "plan"
// schemas of package schema), their conversion into agentos.Intent and
// agentos.Plan, the structural checks every proposed plan must pass, and the
// repository context a planner is shown.
//
// Implementations live in subpackages: planner/openai (an LLM with Structured
// Outputs). Agent CLIs run as contractors are in package contractor.
package planner

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
	"github.com/agentos/agentos/schema"
)

// IntentProposal is the document of schema "intent".
type IntentProposal struct {
	Goal          string             `json:"goal"`
	Kind          string             `json:"kind"`
	Scope         []string           `json:"scope"`
	Constraints   []string           `json:"constraints"`
	Acceptance    []string           `json:"acceptance"`
	Assumptions   []string           `json:"assumptions"`
	Risk          string             `json:"risk"`
	OpenQuestions []agentos.Question `json:"open_questions"`
}

// PlanProposal is the document of schema "plan".
type PlanProposal struct {
	Goal          string             `json:"goal"`
	Steps         []StepProposal     `json:"steps"`
	Verify        []CheckProposal    `json:"verify"`
	OpenQuestions []agentos.Question `json:"open_questions"`
}

// StepProposal is one proposed step; fields its kind does not use are empty.
type StepProposal struct {
	Kind      string   `json:"kind"`
	Path      string   `json:"path"`
	Content   string   `json:"content"`
	Diff      string   `json:"diff"`
	Paths     []string `json:"paths"`
	From      string   `json:"from"`
	To        string   `json:"to"`
	Argv      []string `json:"argv"`
	TimeoutMS int64    `json:"timeout_ms"`
	Rationale string   `json:"rationale"`
	Risk      string   `json:"risk"`
}

// CheckProposal is one proposed verify check.
type CheckProposal struct {
	Name      string   `json:"name"`
	Argv      []string `json:"argv"`
	TimeoutMS int64    `json:"timeout_ms"`
}

// DecodeIntent checks raw against schema "intent" and decodes it.
func DecodeIntent(raw []byte) (IntentProposal, error) {
	var p IntentProposal
	if err := schema.Validate("intent", raw); err != nil {
		return p, err
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, agentos.Errorf(agentos.EINVALID, "intent: %v", err)
	}
	return p, nil
}

// DecodePlan checks raw against schema "plan" and decodes it.
func DecodePlan(raw []byte) (PlanProposal, error) {
	var p PlanProposal
	if err := schema.Validate("plan", raw); err != nil {
		return p, err
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, agentos.Errorf(agentos.EINVALID, "plan: %v", err)
	}
	return p, nil
}

// Intent turns the proposal into an Intent for request, stamped with source
// and hashed. ID and Task are the caller's.
func (p IntentProposal) Intent(id, task, request string, src agentos.Source) agentos.Intent {
	in := agentos.Intent{
		Version:       agentos.DocVersion,
		ID:            id,
		Task:          task,
		Request:       request,
		Goal:          p.Goal,
		Kind:          p.Kind,
		Scope:         nonNil(p.Scope),
		Constraints:   nonNil(p.Constraints),
		Acceptance:    nonNil(p.Acceptance),
		Assumptions:   nonNil(p.Assumptions),
		Risk:          p.Risk,
		OpenQuestions: Questions(p.OpenQuestions),
		Source:        src,
	}
	in.Hash = in.ComputeHash()
	return in
}

// Plan turns the proposal into the steps and checks of a Plan for intent.
// Identity, pins (base commit, MemoryPack and policy hashes) and the hash are
// the coordinator's to set when it stores the plan.
func (p PlanProposal) Plan(intent agentos.Intent, source string) agentos.Plan {
	pl := agentos.Plan{
		Version:  agentos.DocVersion,
		Task:     intent.Task,
		IntentID: intent.ID,
		Goal:     p.Goal,
		Steps:    []agentos.Step{},
		Verify:   []agentos.Check{},
		Source:   source,
	}
	if pl.Goal == "" {
		pl.Goal = intent.Goal
	}
	for _, s := range p.Steps {
		st := agentos.Step{Kind: agentos.StepKind(s.Kind), IntentID: intent.ID, Rationale: s.Rationale, Risk: s.Risk}
		switch st.Kind {
		case agentos.StepWrite:
			st.Path, st.Content = s.Path, s.Content
		case agentos.StepDelete, agentos.StepMkdir:
			st.Path = s.Path
		case agentos.StepPatch:
			st.Diff, st.Paths = s.Diff, slices.Clone(s.Paths)
			st.DiffHash = canonjson.Sum([]byte(s.Diff))
		case agentos.StepRename:
			st.From, st.To = s.From, s.To
		case agentos.StepExec:
			st.Argv, st.TimeoutMS = slices.Clone(s.Argv), s.TimeoutMS
			st.Paths = slices.Clone(s.Paths) // what the command may change
		}
		pl.Steps = append(pl.Steps, st)
	}
	for _, c := range p.Verify {
		pl.Verify = append(pl.Verify, agentos.Check{Name: c.Name, Argv: slices.Clone(c.Argv), TimeoutMS: c.TimeoutMS})
	}
	return pl
}

// Questions normalises a planner's questions: ids filled and unique, options
// never nil.
func Questions(qs []agentos.Question) []agentos.Question {
	out := make([]agentos.Question, 0, len(qs))
	seen := map[string]bool{}
	for i, q := range qs {
		if q.ID == "" || seen[q.ID] {
			q.ID = fmt.Sprintf("q%d", i+1)
		}
		seen[q.ID] = true
		q.Options = nonNil(q.Options)
		out = append(out, q)
	}
	return out
}

// CheckPlan reports every structural problem of a proposed plan and every
// path it references that does not exist (red line 3): exists says whether a
// repository path exists at the base; paths created by an earlier step count.
// Commands are the caller's to check (allowlist, executable resolution).
func CheckPlan(p agentos.Plan, exists func(string) bool) error {
	var probs []string
	created := map[string]bool{}
	deleted := map[string]bool{}
	have := func(pth string) bool {
		if deleted[pth] {
			return false
		}
		if created[pth] || exists(pth) {
			return true
		}
		for c := range created { // a file inside a created directory
			if strings.HasPrefix(pth, c+"/") {
				return true
			}
		}
		return false
	}
	bad := func(i int, format string, args ...any) {
		probs = append(probs, fmt.Sprintf("step %d: ", i+1)+fmt.Sprintf(format, args...))
	}
	checkPath := func(i int, field, pth string) bool {
		if msg := BadPath(pth); msg != "" {
			bad(i, "%s %q %s", field, pth, msg)
			return false
		}
		return true
	}
	if len(p.Steps) == 0 {
		probs = append(probs, "the plan has no steps")
	}
	for i, s := range p.Steps {
		switch s.Kind {
		case agentos.StepWrite:
			if checkPath(i, "path", s.Path) {
				// A write creates its file and any missing parent directory.
				for d := s.Path; d != "."; d = path.Dir(d) {
					created[d] = true
				}
				delete(deleted, s.Path)
			}
		case agentos.StepMkdir:
			if checkPath(i, "path", s.Path) {
				created[s.Path] = true
			}
		case agentos.StepDelete:
			if checkPath(i, "path", s.Path) {
				if !have(s.Path) {
					bad(i, "deletes %q, which does not exist", s.Path)
				}
				deleted[s.Path] = true
			}
		case agentos.StepRename:
			if checkPath(i, "from", s.From) && !have(s.From) {
				bad(i, "renames %q, which does not exist", s.From)
			}
			if checkPath(i, "to", s.To) {
				created[s.To] = true
			}
			deleted[s.From] = true
		case agentos.StepPatch:
			if strings.TrimSpace(s.Diff) == "" {
				bad(i, "patch has an empty diff")
			}
			if len(s.Paths) == 0 {
				bad(i, "patch lists no paths")
			}
			for _, q := range s.Paths {
				if checkPath(i, "path", q) && !have(q) && !strings.Contains(s.Diff, "--- /dev/null") {
					bad(i, "patches %q, which does not exist (use a write step to create a file)", q)
				}
			}
		case agentos.StepExec:
			if len(s.Argv) == 0 || s.Argv[0] == "" {
				bad(i, "exec has no argv")
			}
		default:
			bad(i, "unknown kind %q", s.Kind)
		}
	}
	for i, c := range p.Verify {
		if len(c.Argv) == 0 || c.Argv[0] == "" {
			probs = append(probs, fmt.Sprintf("verify %d: no argv", i+1))
		}
	}
	if len(probs) > 0 {
		return agentos.Errorf(agentos.EINVALID, "the plan is not valid: %s", strings.Join(probs, "; "))
	}
	return nil
}

// BadPath says what is wrong with a repository path, or "" if nothing is.
func BadPath(p string) string {
	switch {
	case p == "":
		return "is empty"
	case strings.HasPrefix(p, "/"):
		return "is absolute: use a path relative to the repository root"
	case strings.Contains(p, "\\"):
		return "contains a backslash: use slashes"
	case path.Clean(p) != p:
		return fmt.Sprintf("is not clean (write %q)", path.Clean(p))
	case p == ".." || strings.HasPrefix(p, "../"):
		return "leaves the repository"
	case agentos.IsProtected(p):
		return "is protected (.git, .agentos and agentos.yaml are never written by a plan)"
	}
	return ""
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
