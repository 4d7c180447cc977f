package coordinator

import (
	"context"
	"errors"

	"github.com/agentos/agentos"
)

// Admitted is a plan that passed admission. Only admit builds one (its fields
// are unexported), and the executor takes nothing else, so no execution can
// skip the checks below.
type Admitted struct {
	task   *agentos.Task
	plan   *agentos.Plan
	pack   *agentos.MemoryPack
	intent *agentos.Intent
}

// Plan returns the admitted plan.
func (a *Admitted) Plan() *agentos.Plan { return a.plan }

// admit is the apply choke point for red lines 1 and 6 and for staleness:
//   - the stored plan re-hashes to the hash recorded at planning (and on the task);
//   - a MemoryPack is pinned, stored, and re-hashes to the pinned hash (red line 1);
//   - every patch step's diff hashes to its recorded diff hash (red line 6);
//   - the policy file is the one the plan was made under;
//   - approvals, where the gates required them, are present and fresh.
func (c *Coordinator) admit(ctx context.Context, t *agentos.Task) (*Admitted, error) {
	if t.PlanID == "" {
		return nil, agentos.Errorf(agentos.EDENIED, "task %s has no plan: run `agentos plan` first", t.ID)
	}
	p, storedHash, err := c.DB.Plan(ctx, t.PlanID)
	if err != nil {
		return nil, err
	}
	got := p.ComputeHash()
	if got != storedHash || got != t.PlanHash || p.Hash != t.PlanHash {
		return nil, agentos.Errorf(agentos.EDENIED, "plan %s of task %s does not hash to the planned %s (got %s): the stored plan was changed; refusing to apply it — re-plan the task",
			p.ID, t.ID, t.PlanHash, got)
	}
	if p.Task != t.ID {
		return nil, agentos.Errorf(agentos.EDENIED, "plan %s belongs to task %s, not %s", p.ID, p.Task, t.ID)
	}
	// Red line 1: no execution without the MemoryPack the plan was made with.
	if p.MemoryPackHash == "" {
		return nil, agentos.Errorf(agentos.EDENIED, "plan %s has no MemoryPack attached (red line 1): refusing to apply; re-plan the task", p.ID)
	}
	pack, err := c.DB.MemoryPackByHash(ctx, t.ID, p.MemoryPackHash)
	if err != nil {
		return nil, agentos.Errorf(agentos.EDENIED, "the MemoryPack %s pinned by plan %s is missing from the store (red line 1): refusing to apply; re-plan the task", p.MemoryPackHash, p.ID)
	}
	if h := pack.ComputeHash(); h != p.MemoryPackHash {
		return nil, agentos.Errorf(agentos.EDENIED, "the MemoryPack of plan %s hashes to %s, not the pinned %s: it was tampered with (red line 1); refusing to apply", p.ID, h, p.MemoryPackHash)
	}
	// Red line 6: what is applied must hash to what was planned.
	for i, s := range p.Steps {
		if s.Kind != agentos.StepPatch {
			continue
		}
		if h := sumString(s.Diff); h != s.DiffHash || s.IntentID == "" {
			return nil, agentos.Errorf(agentos.EDENIED, "step %d: patch hashes to %s, not the recorded %s (red line 6): refusing to apply", i+1, h, s.DiffHash)
		}
	}
	if p.PolicyHash != c.Config.Hash {
		return nil, agentos.WrapError(agentos.ECONFLICT, errStalePlan, "agentos.yaml changed since task %s was planned (policy %s, now %s): the plan is stale; re-plan it", t.ID, short(p.PolicyHash), short(c.Config.Hash))
	}
	if c.PolicyAt != nil {
		// The policy in force is the one committed where the task will
		// land: a commit to the target that changed it makes the plan stale.
		target := p.Target
		if target == "" {
			target = t.Target
		}
		head, err := c.targetHead(ctx, target)
		if err != nil {
			return nil, err
		}
		if err := c.checkPolicyAt(ctx, head, p.PolicyHash, "the plan of task "+t.ID+" is stale; re-plan it"); err != nil {
			if agentos.ErrorCode(err) == agentos.ECONFLICT {
				err = agentos.WrapError(agentos.ECONFLICT, errors.Join(errStalePlan, err), "%s", agentos.ErrorMessage(err))
			}
			return nil, err
		}
	}
	if _, err := c.Repo.ResolveCommit(ctx, p.BaseCommit); err != nil {
		return nil, agentos.WrapError(agentos.ECONFLICT, errStalePlan, "the plan's base commit %s no longer exists: re-plan the task", p.BaseCommit)
	}
	if err := c.checkApproval(ctx, t, p, pack); err != nil {
		return nil, err
	}
	intent, err := c.DB.Intent(ctx, p.IntentID)
	if err != nil {
		return nil, err
	}
	return &Admitted{task: t, plan: p, pack: pack, intent: intent}, nil
}

func short(h string) string {
	if len(h) > 19 {
		return h[:19]
	}
	return h
}
