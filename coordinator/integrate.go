package coordinator

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentos/agentos"
)

// maxIntegrateAttempts bounds how often integration chases a moving target.
const maxIntegrateAttempts = 5

// integrate lands a verified commit on the target branch: a fast-forward
// when the target is still at the plan's base; otherwise a three-way rebase
// (git's merge machinery), verify again, and a compare-and-swap on the ref.
// A conflict never overwrites: the target is untouched and the task goes
// back to blocked (plan files, with the hunks in a QuestionPack) or planning
// (planners); see conflictBack.
func (c *Coordinator) integrate(ctx context.Context, x *executor, commit string) error {
	t := x.task
	unlock, err := c.lockIntegration(ctx, t.Target, x.locks)
	if err != nil {
		return err
	}
	defer unlock()
	c.progress(ProgressEvent{Task: t.ID, Phase: "integrate", What: "integrate into " + t.Target})
	parent := x.plan.BaseCommit
	for attempt := 0; attempt < maxIntegrateAttempts; attempt++ {
		head, err := c.targetHead(ctx, t.Target)
		if err != nil {
			return err
		}
		if head != parent {
			// The target moved: what landed there may have changed the
			// committed policy, under which this plan was never gated.
			if err := c.checkPolicyAt(ctx, head, x.plan.PolicyHash, "the policy changed on "+t.Target+" while task "+t.ID+" ran; re-plan it"); err != nil {
				return err
			}
			commit, err = c.rebase(ctx, x, commit, parent, head)
			if err != nil {
				return err
			}
			parent = head
		}
		// Fence: a run stalled past its lease may have been taken over (and
		// its change landed by another worker); it must not land it again.
		if x.locks != nil {
			if err := x.locks.Check(ctx); err != nil {
				return agentos.WrapError(agentos.ECONFLICT, err, "run %s lost its lease before integrating: nothing was landed", x.run.ID)
			}
		}
		// The last safe point: once landing starts it completes (a ref
		// update and its record), whatever stops the run meanwhile.
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		ctx := context.WithoutCancel(ctx)
		landed, note, err := c.land(ctx, t, head, commit)
		if err != nil {
			if agentos.ErrorCode(err) == agentos.ECONFLICT {
				continue // the target moved under us: rebase again
			}
			return err
		}
		reason := note
		_, err = c.DB.Transition(ctx, t.ID, agentos.StateVerifying, agentos.StateCommitted, agentos.System,
			agentos.TaskUpdate{Commit: &commit, Reason: &reason}, agentos.TransitionDetail{Commit: commit},
			agentos.EventInput{Task: t.ID, Run: x.run.ID, Actor: agentos.System, Kind: agentos.EventIntegrated,
				Data: agentos.IntegratedEvent{Target: t.Target, Remote: c.Config.Integration.Remote, Commit: commit, From: head, Landed: landed, Note: note}})
		if err != nil {
			return err
		}
		nt, err := c.DB.Task(ctx, t.ID)
		if err == nil {
			*t = *nt
		}
		if landed {
			return c.rollbackLanded(ctx, t, x.plan, x.run.ID) // rollback.go
		}
		return nil
	}
	return agentos.Errorf(agentos.ECONFLICT, "target branch %s kept moving; gave up after %d attempts", t.Target, maxIntegrateAttempts)
}

// ConflictError carries the conflicting paths and hunks of a failed rebase.
type ConflictError struct {
	Target string
	Paths  []string
	Detail string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("rebasing onto %s conflicts in %s", e.Target, strings.Join(e.Paths, ", "))
}

// rebase replays commit onto head three-way, re-runs the verify checks on the
// rebased tree, and commits again (new diff hash trailer).
func (c *Coordinator) rebase(ctx context.Context, x *executor, commit, parent, head string) (string, error) {
	c.progress(ProgressEvent{Task: x.task.ID, Phase: "integrate", What: "target moved: rebasing onto " + head[:12]})
	conflicts, detail, err := x.tt.rebase(ctx, commit, parent, head)
	if err != nil {
		return "", err
	}
	if len(conflicts) > 0 {
		ce := &ConflictError{Target: x.task.Target, Paths: conflicts, Detail: detail}
		rec := agentos.StepRecord{Phase: agentos.PhaseVerify, Index: -1, Kind: "rebase", Summary: ce.Error(), OutputTail: tail(detail, tailBytes), ExitCode: 1}
		if err := x.record(ctx, rec); err != nil {
			return "", err
		}
		return "", c.conflictBack(ctx, x, ce)
	}
	if err := x.verify(ctx, "after rebase onto "+head[:12]); err != nil {
		return "", err
	}
	return c.commitOn(ctx, x, head)
}

// conflictBack is red line 8's outcome for a rebase conflict: nothing is
// overwritten and the task leaves verifying for a state a person or a
// planner resolves. A plan-file task is blocked on a QuestionPack whose one
// question carries the conflicting hunks (answering it re-plans the file on
// the new base); a task from a planner goes back to planning; full_auto,
// which may ask nothing (red line 2), fails. The hunks are also in the run's
// verify record, hence in the ReviewPack.
func (c *Coordinator) conflictBack(ctx context.Context, x *executor, ce *ConflictError) error {
	t := x.task
	msg := fmt.Sprintf("%s since the plan's base: %s was left untouched", ce.Error(), t.Target)
	conflict := &agentos.Error{Code: agentos.ECONFLICT, Message: msg + "; re-plan on the new base", Err: ce}
	if t.Mode == agentos.ModeFullAuto {
		return conflict
	}
	if t.Planner == PlannerRollback {
		// A rollback is not re-planned in place: the task fails (target
		// untouched, ReviewPack written) and a new rollback starts over.
		conflict.Message = fmt.Sprintf("%s; run `agentos rollback %s` again to revert on the new base", msg, x.plan.Params[paramRollbackOf])
		return conflict
	}
	if t.Planner != "file" {
		reason := msg + ": re-plan on the new base"
		if _, err := c.transition(ctx, t, agentos.StatePlanning, agentos.System, agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{Conflict: ce.Paths}); err != nil {
			return fmt.Errorf("%w (and returning the task to planning failed: %v)", conflict, err)
		}
		return conflict
	}
	q := agentos.Question{
		ID:   "rebase_conflict",
		Text: fmt.Sprintf("%s. Edit the plan file if needed, then answer replan to re-plan it on the new base (or cancel the task)", msg),
		Why:  "conflicting hunks:\n" + tail(ce.Detail, tailBytes), Kind: agentos.KindChoice, Options: []string{"replan"}, Blocker: true,
	}
	qp := &agentos.QuestionPack{
		Version: agentos.DocVersion, ID: NewID("q"), Task: t.ID, Mode: t.Mode,
		Budget:    agentos.Budget{Limit: c.Config.QuestionBudget(t.Mode), Used: c.questionsAsked(ctx, t.ID) + 1},
		Questions: []agentos.Question{q}, CreatedAt: c.Now().UTC(),
	}
	if err := c.DB.SaveQuestionPack(ctx, qp); err != nil {
		return fmt.Errorf("%w (and saving its QuestionPack failed: %v)", conflict, err)
	}
	reason := msg + ": answer `agentos answer " + t.ID + " --set rebase_conflict=replan` to re-plan"
	if _, err := c.DB.Transition(ctx, t.ID, t.State, agentos.StateBlocked, agentos.System, agentos.TaskUpdate{Reason: &reason},
		agentos.TransitionDetail{QuestionPack: qp.ID, Conflict: ce.Paths},
		agentos.EventInput{Task: t.ID, Actor: agentos.System, Kind: agentos.EventQuestions, Data: agentos.QuestionsEvent{Pack: qp.ID, Hash: qp.Hash, Questions: []string{q.ID}, Budget: qp.Budget}}); err != nil {
		return fmt.Errorf("%w (and blocking the task failed: %v)", conflict, err)
	}
	if nt, err := c.DB.Task(ctx, t.ID); err == nil {
		*t = *nt
	}
	return &agentos.Error{Code: agentos.EBLOCKED, Message: fmt.Sprintf("task %s is blocked: %s", t.ID, reason), Err: ce}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// updateTarget moves the target branch from head to commit. If the branch is
// checked out in a working tree, that tree is fast-forwarded by the paths
// the commit changes alone (uncommitted changes elsewhere stay, as with git's
// own fast-forward); if any of those paths has uncommitted changes there,
// nothing is touched and the commit waits on its own branch. The cost
// follows the change, not the size of the checkout.
func (c *Coordinator) updateTarget(ctx context.Context, t *agentos.Task, head, commit string) (bool, string, error) {
	wt := c.Repo.WorktreeOf(ctx, t.Target)
	if wt == "" {
		if err := c.Repo.UpdateRef(ctx, t.Target, commit, head, "agentos: "+t.ID); err != nil {
			return false, "", err
		}
		return true, "", nil
	}
	cur, err := c.Repo.Head(ctx, wt)
	if err != nil || cur != head {
		return false, "", agentos.Errorf(agentos.ECONFLICT, "%s moved", t.Target)
	}
	dirty, err := c.Repo.FastForwardCheckout(ctx, wt, t.Target, head, commit, "agentos: "+t.ID)
	if err != nil {
		return false, "", err
	}
	if len(dirty) > 0 {
		note := fmt.Sprintf("%s is checked out in %s with uncommitted changes, so it was not touched (%s, which this task changes too); the verified commit waits on branch %s: run `git merge --ff-only %s` there when it is clean",
			t.Target, wt, listPaths(dirty, 5), branchOf(t.ID), branchOf(t.ID))
		return false, note, nil
	}
	return true, "", nil
}

// listPaths names up to n paths, and how many more there are.
func listPaths(ps []string, n int) string {
	if len(ps) <= n {
		return strings.Join(ps, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ps[:n], ", "), len(ps)-n)
}
