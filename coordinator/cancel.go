package coordinator

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/agentos/agentos"
)

// Cancel ends a task that is not running, with a ReviewPack. A task that is
// applying or verifying belongs to its runner: stop that process (or let its
// lease expire) instead.
func (c *Coordinator) Cancel(ctx context.Context, taskID string, actor agentos.Actor, reason string) (*agentos.Task, error) {
	t, err := c.DB.Task(ctx, taskID)
	if err != nil {
		return nil, err
	}
	switch t.State {
	case agentos.StateApplying, agentos.StateVerifying:
		return t, agentos.Errorf(agentos.ECONFLICT, "task %s is %s: stop the process running it (its locks expire) before cancelling", t.ID, t.State)
	}
	if !agentos.CanTransition(t.State, agentos.StateCancelled) {
		return t, agentos.Errorf(agentos.ECONFLICT, "task %s is %s: it has already ended", t.ID, t.State)
	}
	if reason == "" {
		reason = "cancelled by " + string(actor)
	}
	if _, err := c.transition(ctx, t, agentos.StateCancelled, actor, agentos.TaskUpdate{Reason: &reason}, nil); err != nil {
		return t, err
	}
	_, err = c.writeReview(ctx, t, nil)
	return t, err
}

// ExpireBlocked cancels tasks blocked for longer than the policy's
// blocked_expires_after, and returns them. Every expiry is audited (the
// transition names the reason).
func (c *Coordinator) ExpireBlocked(ctx context.Context) ([]*agentos.Task, error) {
	if c.Config.BlockedExpiresAfter == "" {
		return nil, nil
	}
	d, err := time.ParseDuration(c.Config.BlockedExpiresAfter)
	if err != nil || d <= 0 {
		return nil, agentos.Errorf(agentos.EINVALID, "agentos.yaml: blocked_expires_after %q is not a duration (e.g. 72h)", c.Config.BlockedExpiresAfter)
	}
	ts, err := c.DB.Tasks(ctx, agentos.TaskFilter{State: agentos.StateBlocked})
	if err != nil {
		return nil, err
	}
	var out []*agentos.Task
	now := c.Now()
	for _, t := range ts {
		if now.Sub(t.UpdatedAt) < d {
			continue
		}
		reason := fmt.Sprintf("blocked longer than blocked_expires_after (%s) waiting on: %s", d, t.Reason)
		if _, err := c.transition(ctx, t, agentos.StateCancelled, agentos.System, agentos.TaskUpdate{Reason: &reason}, map[string]any{"expired": true}); err != nil {
			if agentos.ErrorCode(err) == agentos.ECONFLICT {
				continue // answered meanwhile
			}
			return out, err
		}
		if _, err := c.writeReview(ctx, t, nil); err != nil {
			return out, err
		}
		out = append(out, t)
	}
	return out, nil
}

// CleanRetained removes the worktrees (and branches) kept for inspection of
// tasks that ended longer ago than the policy's retention.worktrees (a
// duration; "keep" or empty keeps them until `agentos task clean`). A commit
// still waiting on its branch is never removed.
func (c *Coordinator) CleanRetained(ctx context.Context) ([]string, error) {
	keep := c.Config.Retention.Worktrees
	if keep == "" || keep == "keep" {
		return nil, nil
	}
	d, err := time.ParseDuration(keep)
	if err != nil || d < 0 {
		return nil, agentos.Errorf(agentos.EINVALID, "agentos.yaml: retention.worktrees %q is not a duration or \"keep\"", keep)
	}
	ts, err := c.DB.Tasks(ctx, agentos.TaskFilter{})
	if err != nil {
		return nil, err
	}
	var cleaned []string
	for _, t := range ts {
		if !t.State.Terminal() || c.Now().Sub(t.UpdatedAt) < d {
			continue
		}
		dir := c.worktreeDir(t.ID)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		branch := branchOf(t.ID)
		if t.State == agentos.StateCommitted && t.Commit != "" {
			if head, err := c.Repo.BranchHead(ctx, t.Target); err != nil || !c.Repo.IsAncestor(ctx, t.Commit, head) {
				branch = "" // the commit waits on its branch
			}
		}
		c.Repo.RemoveWorktree(ctx, dir, branch)
		cleaned = append(cleaned, t.ID)
	}
	return cleaned, nil
}
