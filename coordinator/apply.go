package coordinator

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/agentos/agentos"
)

// Run plans a plan file and, unless a question or a gate stops it, applies it.
// Stopped (ctx cancelled, e.g. by a signal) before its run started, the task
// it created is cancelled with a ReviewPack; a started run ends itself.
func (c *Coordinator) Run(ctx context.Context, req PlanRequest) (*agentos.Task, error) {
	req.AutoApply = true
	t, err := c.PlanFile(ctx, req)
	if err == nil && t.State == agentos.StatePlanned && t.Mode == agentos.ModeInteractive && c.ConfirmApply != nil {
		err = c.confirmApply(ctx, t)
	}
	if err == nil {
		t, err = c.Apply(ctx, t.ID, req.Actor)
	}
	return c.endIfInterrupted(ctx, t, err)
}

// confirmApply shows the plan of an interactive run and asks; a "no"
// leaves the task planned, to apply or cancel later.
func (c *Coordinator) confirmApply(ctx context.Context, t *agentos.Task) error {
	pv, err := c.Preview(ctx, t)
	if err != nil {
		return err
	}
	yes, err := c.ConfirmApply(ctx, pv)
	if err != nil {
		return err
	}
	if !yes {
		return agentos.Errorf(agentos.EDECLINED, "not applied: task %s stays planned (`agentos apply %s` applies it, `agentos task cancel %s` drops it)", t.ID, t.ID, t.ID)
	}
	return nil
}

// Gate evaluates the gates of a planned task and moves it to queued,
// awaiting_approval (an EAWAITINGAPPROVAL error) or failed (deny).
func (c *Coordinator) Gate(ctx context.Context, t *agentos.Task, actor agentos.Actor) error {
	if t.State != agentos.StatePlanned {
		return agentos.Errorf(agentos.ECONFLICT, "task %s is %s, not planned", t.ID, t.State)
	}
	p, _, err := c.DB.Plan(ctx, t.PlanID)
	if err != nil {
		return err
	}
	effect, decisions, err := c.evaluateGates(ctx, t, p)
	if err != nil {
		return err
	}
	if err := c.DB.SaveGateDecisions(ctx, t.ID, t.PlanHash, decisions, agentos.System); err != nil {
		return err
	}
	switch effect {
	case agentos.EffectDeny:
		reason := "denied by policy: " + gateReasons(decisions, agentos.EffectDeny)
		if _, err := c.transition(ctx, t, agentos.StateFailed, agentos.System, agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{Phase: "gate"}); err != nil {
			return err
		}
		if _, err := c.writeReview(ctx, t, nil); err != nil {
			return err
		}
		return agentos.Errorf(agentos.EDENIED, "task %s %s", t.ID, reason)
	case agentos.EffectRequireApproval:
		return c.requireApproval(ctx, t, p, decisions)
	}
	_, err = c.transition(ctx, t, agentos.StateQueued, agentos.System, agentos.TaskUpdate{Reason: agentos.Str("")}, agentos.TransitionDetail{Gate: string(effect)})
	return err
}

func gateReasons(ds []agentos.GateDecision, e agentos.Effect) string {
	s := ""
	for _, d := range ds {
		if d.Effect == e {
			if s != "" {
				s += "; "
			}
			s += fmt.Sprintf("%s: %s", d.RuleID, d.Reason)
		}
	}
	return s
}

// Apply takes a task from planned (through the gates) or queued through
// admission, execution, verify, commit and integration.
func (c *Coordinator) Apply(ctx context.Context, taskID string, actor agentos.Actor) (*agentos.Task, error) {
	t, err := c.DB.Task(ctx, taskID)
	if err != nil {
		return nil, err
	}
	if t.State == agentos.StatePlanned {
		if err := c.Gate(ctx, t, actor); err != nil {
			return t, err
		}
	}
	switch t.State {
	case agentos.StateQueued:
	case agentos.StateAwaitingApproval:
		return t, agentos.Errorf(agentos.EAWAITINGAPPROVAL, "task %s waits for approval of plan %s: `agentos approve %s --plan %s`", t.ID, t.PlanHash, t.ID, t.PlanHash)
	case agentos.StateBlocked:
		return t, agentos.Errorf(agentos.EBLOCKED, "task %s is blocked on questions: see `agentos questions %s`", t.ID, t.ID)
	default:
		return t, agentos.Errorf(agentos.ECONFLICT, "task %s is %s: only a planned or queued task can be applied", t.ID, t.State)
	}
	// Nothing runs on a damaged store or a full disk: the task stays queued.
	if err := c.preflight(ctx); err != nil {
		return t, err
	}
	// The scheduler decides first (red line 10): a hold or skip leaves the
	// task queued for a worker or a later apply.
	d, err := c.Schedule(ctx, t, actor)
	if err != nil {
		return t, err
	}
	defer d.Release(context.WithoutCancel(ctx))
	return c.applyDispatched(ctx, d, actor)
}

// applyDispatched runs admission and then the run of a task the scheduler
// dispatched, under the locks it took. Every return path after the run
// starts writes a ReviewPack (red line 5), panics included.
func (c *Coordinator) applyDispatched(ctx context.Context, d *Dispatched, actor agentos.Actor) (rt *agentos.Task, err error) {
	// Re-read: the task may have moved between the dispatch and now.
	t, err := c.DB.Task(ctx, d.task.ID)
	if err != nil {
		return d.task, err
	}
	if t.State != agentos.StateQueued || t.PlanHash != d.plan.Hash {
		return t, agentos.Errorf(agentos.ECONFLICT, "task %s is %s with plan %s since it was dispatched with plan %s: not running it (see `agentos task show %s`)", t.ID, t.State, t.PlanHash, d.plan.Hash, t.ID)
	}
	adm, aerr := c.admit(ctx, t)
	if aerr != nil {
		if agentos.ErrorCode(aerr) == agentos.EAWAITINGAPPROVAL {
			msg := agentos.ErrorMessage(aerr)
			if _, err := c.transition(ctx, t, agentos.StateAwaitingApproval, agentos.System, agentos.TaskUpdate{Reason: &msg}, agentos.TransitionDetail{}); err != nil {
				return t, err
			}
			return t, aerr
		}
		if errors.Is(aerr, errStalePlan) {
			// Nothing wrong with the task, only with its plan's world:
			// plan it again (its gates then run again) instead of failing it.
			return c.replanStale(ctx, t, actor, aerr)
		}
		reason := "admission refused: " + agentos.ErrorMessage(aerr)
		if _, err := c.transition(ctx, t, agentos.StateFailed, agentos.System, agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{Phase: "admit"}); err != nil {
			return t, err
		}
		if _, err := c.writeReview(ctx, t, nil); err != nil {
			return t, err
		}
		return t, aerr
	}
	// The run's diff and secret scan copy a large body again.
	defer largeBodyGC(largestBody(adm.plan))()
	run := &agentos.Run{ID: NewID("r"), Task: t.ID, PlanHash: t.PlanHash, Worktree: c.worktreeDir(t.ID)}
	if err := c.DB.CreateRun(ctx, run); err != nil {
		return t, err
	}
	if _, err := c.transition(ctx, t, agentos.StateApplying, actor, agentos.TaskUpdate{RunID: &run.ID}, agentos.TransitionDetail{Run: run.ID}); err != nil {
		return t, err
	}
	// The run's own context: a signal (ctx), a cancel request (polled
	// here) or a worker's shutdown stops it with its cause; finishRun
	// reads the cause before the deferred stop below clears it.
	rctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go c.watchCancel(rctx, t.ID, run.ID, stop)
	defer func() {
		if p := recover(); p != nil {
			// One line for the user and the task; the stack for --debug.
			err = &agentos.Error{Code: agentos.EINTERNAL, Message: fmt.Sprintf("internal error during run %s: %v (a bug: please report it; --debug shows the stack)", run.ID, p),
				Err: fmt.Errorf("panic: %v\n%s", p, debug.Stack())}
		}
		err = c.finishRun(context.WithoutCancel(ctx), t, run, err, interruptOf(rctx))
		rt = t // also when a panic skipped the return below
	}()
	return t, c.execute(rctx, adm, d, run, actor)
}

// finishRun moves an unfinished run to failed (or, stopped by stop, to
// cancelled or back to the queue), records what it printed as an
// observation (or, once committed, its durable answers), and writes the
// ReviewPack.
func (c *Coordinator) finishRun(ctx context.Context, t *agentos.Task, run *agentos.Run, runErr error, stop *agentos.Interrupt) error {
	if runErr != nil {
		// A run that filled the disk must still end failed with a
		// ReviewPack: free the reserve for the records below.
		c.releaseReserve()
		if isNoSpace(runErr) && agentos.ErrorCode(runErr) == agentos.EINTERNAL {
			runErr = agentos.WrapError(agentos.EFAILED, runErr, "the disk under %s is full (%v): the run stopped there; free some space (`agentos task clean` removes the worktrees kept of failed runs)", c.StateDir, runErr)
		}
	}
	if cur, err := c.DB.Task(ctx, t.ID); err == nil {
		*t = *cur
	}
	running := t.State == agentos.StateApplying || t.State == agentos.StateVerifying
	if stop != nil && running {
		runErr = c.stopRun(ctx, t, run, stop, runErr)
	} else if runErr != nil && !t.State.Terminal() && t.State != agentos.StatePlanning && t.State != agentos.StateBlocked && t.State != agentos.StateQueued {
		reason := agentos.ErrorMessage(runErr)
		// The final state first: it is the smallest write, and a task left
		// applying is the one outcome that must not happen.
		_, err := c.transition(ctx, t, agentos.StateFailed, agentos.System, agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{Run: run.ID})
		if err != nil && isNoSpace(err) && c.releaseReserve() {
			_, err = c.transition(ctx, t, agentos.StateFailed, agentos.System, agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{Run: run.ID})
		}
		if err != nil {
			return fmt.Errorf("%w (and recording the failure failed: %v)", runErr, err)
		}
		c.addObservation(ctx, t, run, runErr)
	}
	c.rememberAnswers(ctx, t) // only once committed
	run.Outcome = t.State
	run.Commit = t.Commit
	if err := c.DB.FinishRun(ctx, run); err != nil && runErr == nil {
		runErr = err
	}
	if _, err := c.writeReview(ctx, t, run); err != nil {
		if runErr == nil {
			runErr = err
		} else {
			runErr = agentos.WrapError(agentos.ErrorCode(runErr), runErr, "%s (and writing its ReviewPack failed: %v)", agentos.ErrorMessage(runErr), err)
		}
	}
	if t.State == agentos.StateCommitted {
		// Keep the branch when the commit has not reached the target yet
		// (integration deferred because the user's tree was dirty).
		branch := branchOf(t.ID)
		if head, err := c.Repo.BranchHead(ctx, t.Target); err != nil || !c.Repo.IsAncestor(ctx, t.Commit, head) {
			branch = ""
		}
		c.removeTree(ctx, run.Worktree, branch)
	}
	return runErr
}
