package coordinator

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/gitrepo"
)

// Rollback reverts a committed task's commit on its target branch with a new
// traceable commit. It refuses, changing nothing, when later commits changed
// the same lines (the revert would conflict) instead of producing a broken
// tree.
func (c *Coordinator) Rollback(ctx context.Context, taskID string, actor agentos.Actor) (*agentos.Task, string, error) {
	t, err := c.DB.Task(ctx, taskID)
	if err != nil {
		return nil, "", err
	}
	if t.State != agentos.StateCommitted {
		return t, "", agentos.Errorf(agentos.ECONFLICT, "task %s is %s: only a committed task can be rolled back", t.ID, t.State)
	}
	head, err := c.Repo.BranchHead(ctx, t.Target)
	if err != nil {
		return t, "", err
	}
	if !c.Repo.IsAncestor(ctx, t.Commit, head) {
		return t, "", agentos.Errorf(agentos.ECONFLICT, "commit %s of task %s is not on %s: nothing to roll back there", short(t.Commit), t.ID, t.Target)
	}
	unlock, err := c.lockIntegration(ctx, t.Target, LockOptions{}, nil)
	if err != nil {
		return t, "", err
	}
	defer unlock()
	run := &agentos.Run{ID: NewID("r"), Task: t.ID, PlanHash: t.PlanHash, Worktree: c.worktreeDir(t.ID) + "-rollback"}
	if err := c.DB.CreateRun(ctx, run); err != nil {
		return t, "", err
	}
	branch := branchOf(t.ID) + "-rollback"
	if err := c.Repo.AddWorktree(ctx, run.Worktree, branch, head); err != nil {
		return t, "", err
	}
	defer c.Repo.RemoveWorktree(context.WithoutCancel(ctx), run.Worktree, branch)
	rec := func(r agentos.StepRecord) error {
		r.Run = run.ID
		return c.DB.AddRecord(ctx, t.ID, r, actor)
	}
	what := fmt.Sprintf("revert %s on %s", short(t.Commit), t.Target)
	if err := rec(agentos.StepRecord{Phase: agentos.PhasePlan, Index: 0, Kind: "revert", Summary: what, OK: true}); err != nil {
		return t, "", err
	}
	conflicts, err := gitrepo.Revert(ctx, run.Worktree, t.Commit)
	if err != nil {
		return t, "", err
	}
	if len(conflicts) > 0 {
		msg := fmt.Sprintf("cannot roll back task %s: later commits on %s changed the same lines in %s; %s was left untouched — roll back the later tasks first, or revert by hand",
			t.ID, t.Target, strings.Join(conflicts, ", "), t.Target)
		rec(agentos.StepRecord{Phase: agentos.PhaseApply, Index: 0, Kind: "revert", Summary: what, ExitCode: 1, OutputTail: msg})
		c.DB.Append(ctx, agentos.EventInput{Task: t.ID, Run: run.ID, Actor: actor, Kind: agentos.EventRollback, Data: map[string]any{"refused": true, "conflicts": conflicts}})
		run.Outcome = t.State
		c.DB.FinishRun(ctx, run)
		return t, "", agentos.Errorf(agentos.ECONFLICT, "%s", msg)
	}
	if err := rec(agentos.StepRecord{Phase: agentos.PhaseApply, Index: 0, Kind: "revert", Summary: what, OK: true}); err != nil {
		return t, "", err
	}
	if err := rec(agentos.StepRecord{Phase: agentos.PhaseVerify, Index: 0, Kind: "revert", Summary: "revert applied cleanly", OK: true}); err != nil {
		return t, "", err
	}
	if _, err := gitrepo.StageAll(ctx, run.Worktree); err != nil {
		return t, "", err
	}
	tree, err := gitrepo.GitIn(ctx, run.Worktree, nil, "write-tree")
	if err != nil {
		return t, "", err
	}
	diffHash, _, err := c.Repo.DiffHash(ctx, head, strings.TrimSpace(tree))
	if err != nil {
		return t, "", err
	}
	trailers := map[string]string{
		gitrepo.TrailerTask: t.ID, gitrepo.TrailerRun: run.ID, gitrepo.TrailerPlan: t.PlanHash,
		gitrepo.TrailerDiff: diffHash, gitrepo.TrailerIntent: t.IntentID,
	}
	msg := gitrepo.Message("Revert \""+t.Goal+"\"", fmt.Sprintf("Rolled back by AgentOS at the request of %s.\nThis reverts commit %s.", actor, t.Commit), trailers)
	sha, err := gitrepo.CommitTree(ctx, run.Worktree, head, msg, c.Identity)
	if err != nil {
		return t, "", err
	}
	landed, note, err := c.updateTarget(ctx, t, head, sha)
	if err != nil {
		return t, "", agentos.WrapError(agentos.ECONFLICT, err, "%s moved during the rollback; nothing changed — try again", t.Target)
	}
	if !landed {
		return t, "", agentos.Errorf(agentos.ECONFLICT, "rollback not applied: %s", note)
	}
	if err := c.DB.AddCommit(ctx, agentos.CommitRow{SHA: sha, Task: t.ID, Run: run.ID, Branch: t.Target, PlanHash: t.PlanHash, DiffHash: diffHash, IntentID: t.IntentID, Kind: "rollback", Trailers: trailers}, actor); err != nil {
		return t, "", err
	}
	_, err = c.DB.Transition(ctx, t.ID, agentos.StateCommitted, agentos.StateRolledBack, actor, agentos.TaskUpdate{RunID: &run.ID, Reason: agentos.Str("rolled back by " + string(actor) + " with " + sha)},
		map[string]any{"revert": sha}, agentos.EventInput{Task: t.ID, Run: run.ID, Actor: actor, Kind: agentos.EventRollback, Data: map[string]any{"reverted": t.Commit, "commit": sha}})
	if err != nil {
		return t, "", err
	}
	if nt, err := c.DB.Task(ctx, t.ID); err == nil {
		*t = *nt
	}
	run.Outcome, run.Commit = t.State, sha
	c.DB.FinishRun(ctx, run)
	if _, err := c.writeReview(ctx, t, run); err != nil {
		return t, sha, err
	}
	return t, sha, nil
}
