package coordinator

import (
	"context"
	"fmt"

	"github.com/agentos/agentos"
)

// Workers on several machines share one store (PostgreSQL) and one git
// remote: with integration.remote set, the remote's target branch is the
// one truth. Plans are based on it, approvals are bound to it, and a
// verified commit lands by a fast-forward-only push (never a force); a
// rejected push means the remote moved, so integrate fetches, rebases,
// verifies again and retries. The integration lease (red line 9) already
// serialises workers that share the store; the retry covers pushes from
// outside AgentOS.

// targetHead returns the commit the target branch points to: in this clone,
// or, with a remote, on the remote (fetched now).
func (c *Coordinator) targetHead(ctx context.Context, target string) (string, error) {
	if r := c.Config.Integration.Remote; r != "" {
		return c.Repo.FetchBranch(ctx, r, target)
	}
	return c.Repo.BranchHead(ctx, target)
}

// ensureCommit makes sure commit is in this clone: a plan made on another
// machine is based on a commit this clone may not have fetched yet.
func (c *Coordinator) ensureCommit(ctx context.Context, target, commit string) error {
	if c.Repo.HasCommit(ctx, commit) {
		return nil
	}
	if r := c.Config.Integration.Remote; r != "" {
		if _, err := c.Repo.FetchBranch(ctx, r, target); err != nil {
			return err
		}
		if c.Repo.HasCommit(ctx, commit) {
			return nil
		}
	}
	return agentos.Errorf(agentos.ECONFLICT, "the plan's base commit %s is not in this repository: fetch it (or re-plan on the current %s)", short(commit), target)
}

// land moves the target from head to commit: the local branch, or the
// remote's by a fast-forward push followed by catching the local branch up
// when it can move without losing anything.
func (c *Coordinator) land(ctx context.Context, t *agentos.Task, head, commit string) (bool, string, error) {
	r := c.Config.Integration.Remote
	if r == "" {
		return c.updateTarget(ctx, t, head, commit)
	}
	if err := c.Repo.PushFastForward(ctx, r, commit, t.Target); err != nil {
		return false, "", err
	}
	note := fmt.Sprintf("pushed to %s on %s", t.Target, r)
	local, err := c.Repo.BranchHead(ctx, t.Target)
	if err != nil || local == commit || !c.Repo.IsAncestor(ctx, local, commit) {
		return true, note, nil
	}
	if ok, n, err := c.updateTarget(ctx, t, local, commit); err == nil && !ok && n != "" {
		note += "; " + n
	}
	return true, note, nil
}
