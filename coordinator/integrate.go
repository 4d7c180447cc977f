package coordinator

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/gitrepo"
	"github.com/agentos/agentos/sqlite"
)

// maxIntegrateAttempts bounds how often integration chases a moving target.
const maxIntegrateAttempts = 5

// integrate lands a verified commit on the target branch: a fast-forward
// when the target is still at the plan's base; otherwise a three-way rebase
// (git's merge machinery), verify again, and a compare-and-swap on the ref.
// A conflict fails the task with the conflict recorded; the target branch is
// never touched then.
func (c *Coordinator) integrate(ctx context.Context, x *executor, commit string) error {
	t := x.task
	unlock, err := c.lockIntegration(ctx, t, t.Target)
	if err != nil {
		return err
	}
	defer unlock()
	c.progress(ProgressEvent{Task: t.ID, Phase: "integrate", What: "integrate into " + t.Target})
	parent := x.plan.BaseCommit
	for attempt := 0; attempt < maxIntegrateAttempts; attempt++ {
		head, err := c.Repo.BranchHead(ctx, t.Target)
		if err != nil {
			return err
		}
		if head != parent {
			commit, err = c.rebase(ctx, x, commit, parent, head)
			if err != nil {
				return err
			}
			parent = head
		}
		landed, note, err := c.updateTarget(ctx, t, head, commit)
		if err != nil {
			if agentos.ErrorCode(err) == agentos.ECONFLICT {
				continue // the target moved under us: rebase again
			}
			return err
		}
		reason := note
		_, err = c.DB.Transition(ctx, t.ID, agentos.StateVerifying, agentos.StateCommitted, agentos.System,
			sqlite.TaskUpdate{Commit: &commit, Reason: &reason}, map[string]any{"commit": commit},
			sqlite.EventInput{Task: t.ID, Run: x.run.ID, Actor: agentos.System, Kind: agentos.EventIntegrated,
				Data: map[string]any{"target": t.Target, "commit": commit, "from": head, "landed": landed, "note": note}})
		if err != nil {
			return err
		}
		nt, err := c.DB.Task(ctx, t.ID)
		if err == nil {
			*t = *nt
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
	conflicts, detail, err := gitrepo.Rebase(ctx, x.wt, commit, head)
	if err != nil {
		return "", err
	}
	if len(conflicts) > 0 {
		ce := &ConflictError{Target: x.task.Target, Paths: conflicts, Detail: detail}
		rec := agentos.StepRecord{Phase: agentos.PhaseVerify, Index: -1, Kind: "rebase", Summary: ce.Error(), OutputTail: tail(detail, tailBytes), ExitCode: 1}
		if err := x.record(ctx, rec); err != nil {
			return "", err
		}
		return "", &agentos.Error{Code: agentos.ECONFLICT, Message: fmt.Sprintf("%s since the plan's base: %s was left untouched; re-plan on the new base", ce.Error(), x.task.Target), Err: ce}
	}
	if err := x.verify(ctx, "after rebase onto "+head[:12]); err != nil {
		return "", err
	}
	return c.commitOn(ctx, x, head)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// updateTarget moves the target branch from head to commit. If the branch is
// checked out in a clean working tree, that tree is fast-forwarded; if that
// tree is dirty, it is left alone and the commit waits on its own branch.
func (c *Coordinator) updateTarget(ctx context.Context, t *agentos.Task, head, commit string) (bool, string, error) {
	wt := c.Repo.WorktreeOf(ctx, t.Target)
	if wt == "" {
		if err := c.Repo.UpdateRef(ctx, t.Target, commit, head, "agentos: "+t.ID); err != nil {
			return false, "", err
		}
		return true, "", nil
	}
	dirty, err := gitrepo.GitIn(ctx, wt, nil, "status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return false, "", err
	}
	if strings.TrimSpace(dirty) != "" {
		note := fmt.Sprintf("%s is checked out in %s with uncommitted changes, so it was not touched; the verified commit waits on branch %s: run `git merge --ff-only %s` there when it is clean",
			t.Target, wt, branchOf(t.ID), branchOf(t.ID))
		return false, note, nil
	}
	cur, err := gitrepo.GitIn(ctx, wt, nil, "rev-parse", "HEAD")
	if err != nil || strings.TrimSpace(cur) != head {
		return false, "", agentos.Errorf(agentos.ECONFLICT, "%s moved", t.Target)
	}
	if _, err := gitrepo.GitIn(ctx, wt, nil, "merge", "--ff-only", "--quiet", commit); err != nil {
		return false, "", agentos.WrapError(agentos.ECONFLICT, err, "fast-forward of %s failed: %v", t.Target, err)
	}
	return true, "", nil
}
