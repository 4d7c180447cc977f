package coordinator

import (
	"context"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sqlite"
)

// requireApproval parks a task in awaiting_approval.
func (c *Coordinator) requireApproval(ctx context.Context, t *agentos.Task, p *agentos.Plan, ds []agentos.GateDecision) error {
	reason := "needs approval: " + gateReasons(ds, agentos.EffectRequireApproval)
	if _, err := c.transition(ctx, t, agentos.StateAwaitingApproval, agentos.System, sqlite.TaskUpdate{Reason: &reason}, nil); err != nil {
		return err
	}
	return agentos.Errorf(agentos.EAWAITINGAPPROVAL, "task %s %s; approve with `agentos approve %s --plan %s`", t.ID, reason, t.ID, t.PlanHash)
}

// checkApproval is admission's approval check: a plan whose gates required
// approval may run only with fresh approvals of exactly this plan.
func (c *Coordinator) checkApproval(ctx context.Context, t *agentos.Task, p *agentos.Plan, pack *agentos.MemoryPack) error {
	ds, err := c.DB.GateDecisions(ctx, t.ID, p.Hash)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.Effect != agentos.EffectAllow {
			return agentos.Errorf(agentos.EDENIED, "plan %s needed approval (%s) and this build cannot check approvals", p.Hash, d.RuleID)
		}
	}
	return nil
}
