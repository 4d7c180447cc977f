package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/planfile"
)

// precheckFile validates a plan file against the base before a task is made
// for it, when nothing is left to ask (every param has a value or a
// default the mode takes): a plan refused here — a red line (exit 1) or a malformed step
// (exit 2) — leaves no failed task behind, only its plan.refused event. A
// plan with open questions is checked once they are answered, as before.
func (c *Coordinator) precheckFile(ctx context.Context, f *planfile.File, given map[string]string, mode agentos.Mode, base string) error {
	values := make(map[string]string, len(f.Params))
	for _, p := range f.Params {
		if v, ok := given[p.ID]; ok {
			values[p.ID] = v
		} else if p.Default != nil && mode != agentos.ModeInteractive {
			// Interactive mode asks even a non-blocker; the others take
			// its default.
			values[p.ID] = *p.Default
		} else {
			return nil // a question first; validated with its answer
		}
	}
	rendered, err := f.Render(values)
	if err == nil {
		_, _, err = c.validateSteps(ctx, base, rendered, "")
	}
	return err
}

// refusal reports whether err is a refusal of the plan itself (rather than
// a fault of the machine, which still goes through a task).
func refusal(err error) bool {
	return slices.Contains([]string{agentos.EDENIED, agentos.EINVALID, agentos.EFAILED}, agentos.ErrorCode(err))
}

// auditRefusal records a plan refused before it became a task.
func (c *Coordinator) auditRefusal(ctx context.Context, file string, raw string, goal string, actor agentos.Actor, cause error) {
	sum := sha256.Sum256([]byte(raw))
	// The goal and the message can quote the plan: redacted like every text
	// from outside.
	_, _ = c.DB.Append(ctx, agentos.EventInput{Actor: actor, Kind: agentos.EventPlanRefused, Data: agentos.PlanRefusedEvent{
		File: file, Goal: c.redactText(goal), Code: agentos.ErrorCode(cause), Error: c.redactText(agentos.ErrorMessage(cause)),
		PlanSHA256: "sha256:" + hex.EncodeToString(sum[:]),
	}})
}
