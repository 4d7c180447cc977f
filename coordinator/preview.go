package coordinator

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	udiff "github.com/aymanbagabas/go-udiff"

	"github.com/agentos/agentos"
)

// PlanPreview is what a person reads before saying yes to an interactive
// run, the way `terraform apply` shows its plan: every step with its diff
// against the base, what the gates will decide, and what memory the plan
// was made with. Building it changes nothing.
type PlanPreview struct {
	Task   *agentos.Task
	Plan   *agentos.Plan
	Steps  []StepPreview
	Checks []string
	// Effect is the gates' verdict now; Decisions say why.
	Effect    agentos.Effect
	Decisions []agentos.GateDecision
	Memory    *agentos.MemoryPack
}

// StepPreview is one step: a one-line summary and, for file changes, a
// unified diff against the base (empty when it cannot be shown: binary or
// too large, as Summary then says).
type StepPreview struct {
	Summary string
	Diff    string
}

// previewLimit bounds the bytes of one file a preview diffs.
const previewLimit = 256 << 10

// Preview builds the PlanPreview of a planned task.
func (c *Coordinator) Preview(ctx context.Context, t *agentos.Task) (*PlanPreview, error) {
	p, _, err := c.DB.Plan(ctx, t.PlanID)
	if err != nil {
		return nil, err
	}
	res, err := c.gateResult(ctx, t, p)
	if err != nil {
		return nil, err
	}
	pv := &PlanPreview{Task: t, Plan: p, Effect: res.Effect, Decisions: res.Decisions}
	if pack, err := c.DB.LatestMemoryPack(ctx, t.ID); err == nil {
		pv.Memory = pack
	}
	for i, s := range p.Steps {
		sp := StepPreview{Summary: fmt.Sprintf("%d. %s", i+1, stepSummary(s))}
		switch s.Kind {
		case agentos.StepWrite:
			old, size, ok, err := c.Repo.FileUpTo(ctx, p.BaseCommit, s.Path, previewLimit)
			if err != nil {
				return nil, err
			}
			switch {
			case ok && old == nil:
				sp.Summary += fmt.Sprintf(" — replaces a %d-byte file (too large to show)", size)
			case len(s.Content) > previewLimit || !utf8.ValidString(s.Content) || !utf8.Valid(old):
				sp.Summary += " — binary or too large to show"
			default:
				from := "a/" + s.Path
				if !ok {
					from = "/dev/null"
				}
				sp.Diff = udiff.Unified(from, "b/"+s.Path, string(old), s.Content)
			}
		case agentos.StepPatch:
			sp.Diff = s.Diff
		}
		pv.Steps = append(pv.Steps, sp)
	}
	for i, ch := range p.Verify {
		pv.Checks = append(pv.Checks, fmt.Sprintf("%d. %s", i+1, strings.Join(ch.Argv, " ")))
	}
	return pv, nil
}

func stepSummary(s agentos.Step) string {
	switch s.Kind {
	case agentos.StepWrite:
		return fmt.Sprintf("write %s (%d bytes)", s.Path, len(s.Content))
	case agentos.StepPatch:
		return "patch " + strings.Join(s.Paths, ", ")
	case agentos.StepDelete, agentos.StepMkdir:
		return fmt.Sprintf("%s %s", s.Kind, s.Path)
	case agentos.StepRename:
		return fmt.Sprintf("rename %s -> %s", s.From, s.To)
	case agentos.StepExec:
		w := ""
		if len(s.Paths) > 0 {
			w = " (writes " + strings.Join(s.Paths, ", ") + ")"
		}
		return "exec " + strings.Join(s.Argv, " ") + w
	}
	return string(s.Kind)
}
