package coordinator

import (
	"context"
	"maps"
	"slices"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/planfile"
)

// precheckFile validates a plan file against the base before a task is made
// for it, when nothing is left to ask (every param has a value or a
// default the mode takes): a plan refused here — a red line (exit 1) or a malformed step
// (exit 2) — leaves no failed task behind, only its plan.refused event. A
// plan with open questions is checked once they are answered, as before.
//
// What it validated is returned for planning to use, so the steps are
// resolved against the base once (nil: nothing was validated).
func (c *Coordinator) precheckFile(ctx context.Context, f *planfile.File, given map[string]string, mode agentos.Mode, base string) (*validated, error) {
	values := make(map[string]string, len(f.Params))
	for _, p := range f.Params {
		if v, ok := given[p.ID]; ok {
			values[p.ID] = v
		} else if p.Default != nil && mode != agentos.ModeInteractive {
			// Interactive mode asks even a non-blocker; the others take
			// its default.
			values[p.ID] = *p.Default
		} else {
			return nil, nil // a question first; validated with its answer
		}
	}
	rendered, err := f.Render(values)
	if err != nil {
		return nil, err
	}
	steps, checks, err := c.validateSteps(ctx, base, rendered, "")
	if err != nil {
		return nil, err
	}
	// A plan over the user's uncommitted changes is refused the same way.
	if err := c.checkDirty(ctx, &agentos.Plan{Steps: steps}); err != nil {
		return nil, err
	}
	return &validated{base: base, values: values, steps: steps, checks: checks}, nil
}

// validated is a plan file's steps and checks as precheckFile validated
// them: against base, rendered with values.
type validated struct {
	base   string
	values map[string]string
	steps  []agentos.Step
	checks []agentos.Check
}

// reuse returns the validated steps (stamped with intentID) and checks
// when planning renders the same values on the same base; ok false
// otherwise (the answers or the base changed: validate again).
func (v *validated) reuse(base string, values map[string]string, intentID string) ([]agentos.Step, []agentos.Check, bool) {
	if v == nil || v.base != base || !maps.Equal(v.values, values) {
		return nil, nil, false
	}
	for i := range v.steps {
		v.steps[i].IntentID = intentID
	}
	return v.steps, v.checks, true
}

// CheckFile is `agentos plan --check`: the plan file is parsed, its
// answers checked, and every step validated against the base exactly as
// planning would, but nothing is stored, audited or asked. A plan whose
// params still need answers is checked as far as it can be (the steps are
// validated once answered) and says so.
func (c *Coordinator) CheckFile(ctx context.Context, req PlanRequest) (*FileCheck, error) {
	raw, err := c.readPlanFile(req.File)
	if err != nil {
		return nil, err
	}
	f, err := planfile.Parse([]byte(raw))
	if err != nil {
		return nil, agentos.WrapError(agentos.EINVALID, err, "%s: %v", req.File, err)
	}
	if err := checkValues(f, req.Values, c.Repo.Dir()); err != nil {
		return nil, err
	}
	_, base, err := c.targetAndBase(ctx)
	if err != nil {
		return nil, err
	}
	fc := &FileCheck{File: req.File, Goal: f.Goal, Steps: len(f.Steps), Checks: len(f.Verify), Base: base}
	for _, p := range f.Params {
		if _, ok := req.Values[p.ID]; !ok && (p.Default == nil || req.Mode == agentos.ModeInteractive) {
			fc.Open = append(fc.Open, p.ID)
		}
	}
	if _, err := c.precheckFile(ctx, f, req.Values, req.Mode, base); err != nil {
		return nil, err
	}
	return fc, nil
}

// FileCheck is what `agentos plan --check` found.
type FileCheck struct {
	File   string   `json:"file"`
	Goal   string   `json:"goal"`
	Steps  int      `json:"steps"`
	Checks int      `json:"checks"`
	Base   string   `json:"base"`
	Open   []string `json:"open_params,omitempty"` // params to answer before the steps can be checked
}

// refusal reports whether err is a refusal of the plan itself (rather than
// a fault of the machine, which still goes through a task).
func refusal(err error) bool {
	return slices.Contains([]string{agentos.EDENIED, agentos.EINVALID, agentos.EFAILED}, agentos.ErrorCode(err))
}

// auditRefusal records a plan refused before it became a task.
func (c *Coordinator) auditRefusal(ctx context.Context, file string, raw string, goal string, actor agentos.Actor, cause error) {
	c.auditRefusalOf(ctx, file, agentos.BlobHash(raw), goal, actor, cause)
}

// auditRefusalOf is auditRefusal of a plan file known by its hash
// ("sha256:<hex>", agentos.BlobHash).
func (c *Coordinator) auditRefusalOf(ctx context.Context, file string, planSHA256 string, goal string, actor agentos.Actor, cause error) {
	// The goal and the message can quote the plan: redacted like every text
	// from outside. Best effort: the refusal is the answer either way, and a
	// store that cannot append fails the next write (and its checks) loudly.
	_, _ = c.DB.Append(ctx, agentos.EventInput{Actor: actor, Kind: agentos.EventPlanRefused, Data: agentos.PlanRefusedEvent{
		File: file, Goal: c.redactText(goal), Code: agentos.ErrorCode(cause), Error: c.redactText(agentos.ErrorMessage(cause)),
		PlanSHA256: planSHA256,
	}})
}
