package coordinator

import (
	"context"
	"errors"
	"slices"

	"github.com/agentos/agentos"
)

// errStalePlan marks an admission refusal that a re-plan cures: the policy
// in force or the base changed since the plan was made.
var errStalePlan = errors.New("the plan is stale")

// replanStale answers a stale plan found at admission by planning the task
// again, as `agentos task replan` would; the new plan is not applied in the
// same breath: the caller sees why, and the next apply (or worker pass)
// gates it like any plan.
func (c *Coordinator) replanStale(ctx context.Context, t *agentos.Task, actor agentos.Actor, cause error) (*agentos.Task, error) {
	// A re-plan needs the policy in force now; a process that loaded it
	// before the commit that made the plan stale leaves the task as it is
	// (queued) for the next command, which loads the new one.
	if head, err := c.targetHead(ctx, t.Target); err == nil {
		if err := c.checkPolicyAt(ctx, head, c.Config.Hash, "the policy changed on "+t.Target+" while this command ran; run it again to re-plan the task"); err != nil {
			return t, agentos.WrapError(agentos.ECONFLICT, errors.Join(cause, err), "%s; %s", agentos.ErrorMessage(cause), agentos.ErrorMessage(err))
		}
	}
	nt, err := c.replan(ctx, t, actor, "stale")
	if err != nil {
		return nt, err
	}
	return nt, agentos.WrapError(agentos.ECONFLICT, cause, "%s — task %s was re-planned as %s (%s): review it (`agentos task show %s`) and apply again", agentos.ErrorMessage(cause), nt.ID, nt.PlanHash, nt.State, nt.ID)
}

// Replan plans a task again from its stored source (plan file or request)
// on the current base, policy and memory: the way out of a stale plan
// ("agentos.yaml changed since task T was planned … re-plan it"). The
// answers it had are kept; defaults it assumed are assumed afresh. Earlier
// approvals bind the old plan hash and no longer count. The new plan is
// gated as any plan is: `agentos apply TASK` (or the worker, for a
// submitted task) takes it from there.
func (c *Coordinator) Replan(ctx context.Context, id string, actor agentos.Actor) (*agentos.Task, error) {
	t, err := c.DB.Task(ctx, id)
	if err != nil {
		return nil, err
	}
	if !slices.Contains([]agentos.State{agentos.StatePlanned, agentos.StateAwaitingApproval, agentos.StateQueued}, t.State) {
		return t, agentos.Errorf(agentos.ECONFLICT, "task %s is %s: only a planned, queued or awaiting_approval task is re-planned (a blocked one re-plans when answered)", t.ID, t.State)
	}
	if t.Planner == PlannerRollback {
		return t, agentos.Errorf(agentos.ECONFLICT, "rollback task %s is not re-planned: run `agentos rollback` on the task it reverts again", t.ID)
	}
	return c.replan(ctx, t, actor, "replan")
}

// replan moves t to planning and plans it from its source with the answers
// its current plan had; phase says why in the transition.
func (c *Coordinator) replan(ctx context.Context, t *agentos.Task, actor agentos.Actor, phase string) (*agentos.Task, error) {
	var err error
	values := map[string]string{}
	if t.PlanID != "" {
		p, _, err := c.DB.Plan(ctx, t.PlanID)
		if err != nil {
			return t, err
		}
		assumed := map[string]bool{}
		for _, a := range p.Assumptions {
			assumed[a.Question] = true
		}
		for k, v := range p.Params {
			if !assumed[k] {
				values[k] = v
			}
		}
	}
	if t, err = c.transition(ctx, t, agentos.StatePlanning, actor, agentos.TaskUpdate{Reason: agentos.Str("")}, agentos.TransitionDetail{Phase: phase}); err != nil {
		return t, err
	}
	t, err = c.planFromSource(ctx, t, values, actor)
	if err == nil && t.State == agentos.StatePlanned && t.AutoQueue {
		err = c.Gate(ctx, t, actor)
		if nt, terr := c.DB.Task(ctx, t.ID); terr == nil {
			t = nt
		}
	}
	return t, err
}
