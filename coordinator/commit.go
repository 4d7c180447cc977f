package coordinator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/sandbox"
)

// checkRecords is red line 4: every step has its Plan, Apply and Verify
// records, all OK, and every verify check a passing Verify record. A run
// missing one cannot commit. A plan with no verify check at all commits
// only when the policy explicitly allows it (verify.allow_unverified):
// planning refuses it too, but a plan stored by any other path stops here.
func (c *Coordinator) checkRecords(ctx context.Context, x *executor) error {
	if len(x.plan.Verify) == 0 && !c.Config.Verify.AllowUnverified {
		return agentos.Errorf(agentos.EDENIED, "plan %s has no verify check and %s does not allow unverified commits: refusing to commit; %s", x.plan.ID, agentos.PolicyFile, config.UnverifiedHowTo)
	}
	recs, err := c.DB.Records(ctx, x.run.ID)
	if err != nil {
		return err
	}
	type key struct {
		phase agentos.Phase
		index int
	}
	ok := map[key]bool{}
	for _, r := range recs {
		k := key{r.Phase, r.Index}
		// The latest record of a phase wins (a re-verify after rebase).
		ok[k] = r.OK
	}
	for i := range x.plan.Steps {
		for _, ph := range []agentos.Phase{agentos.PhasePlan, agentos.PhaseApply, agentos.PhaseVerify} {
			v, found := ok[key{ph, i}]
			if !found {
				return agentos.Errorf(agentos.EDENIED, "step %d has no %s record (red line 4): refusing to commit", i+1, ph)
			}
			if !v {
				return agentos.Errorf(agentos.EDENIED, "step %d's %s record is not OK (red line 4): refusing to commit", i+1, ph)
			}
		}
	}
	for j := range x.plan.Verify {
		v, found := ok[key{agentos.PhaseVerify, len(x.plan.Steps) + j}]
		if !found || !v {
			return agentos.Errorf(agentos.EDENIED, "verify check %d has no passing record (red line 4): refusing to commit", j+1)
		}
	}
	return nil
}

// commit is the only caller of CommitTree. It requires the complete
// record set, stages the worktree, hashes the diff and writes the commit
// with the trailers of red line 7. It moves only the task's own branch.
func (c *Coordinator) commit(ctx context.Context, x *executor) (string, error) {
	return c.commitOn(ctx, x, x.plan.BaseCommit)
}

func (c *Coordinator) commitOn(ctx context.Context, x *executor, parent string) (string, error) {
	if err := c.checkRecords(ctx, x); err != nil {
		return "", err
	}
	c.progress(ProgressEvent{Task: x.task.ID, Phase: "commit", What: "commit"})
	// Behind the seccomp filter: nothing set-id, no file capability, no
	// device node is committed or kept (the layer holds only the change).
	if err := sandbox.RefuseSetID(x.tt.dir); err != nil {
		return "", err
	}
	// Only the paths the run changed are staged (a layer says which);
	// a full worktree is staged whole.
	tree, staged, err := x.tt.stage(ctx, parent)
	if err != nil {
		return "", err
	}
	if len(staged) == 0 {
		return "", agentos.Errorf(agentos.EFAILED, "the plan changed nothing: there is nothing to commit")
	}
	if err := c.checkChangedPaths(ctx, x, staged); err != nil {
		return "", err
	}
	// Each changed file's diff, read once: the secret scan and the patch
	// records both use it.
	diffs, err := c.fileDiffs(ctx, x.wt, parent, tree, staged)
	if err != nil {
		return "", err
	}
	if err := c.scanDiff(ctx, x, diffs); err != nil { // secrets in what lands, whoever wrote them
		return "", err
	}
	diffHash, err := c.Repo.DiffHash(ctx, parent, tree)
	if err != nil {
		return "", err
	}
	// The chain head goes into the history: once pushed, a rewrite or
	// truncation of the audit chain no longer matches it.
	headSeq, headHash, err := c.DB.ChainHead(ctx)
	if err != nil {
		return "", err
	}
	trailers := map[string]string{
		agentos.TrailerTask:   x.task.ID,
		agentos.TrailerRun:    x.run.ID,
		agentos.TrailerPlan:   x.plan.Hash,
		agentos.TrailerDiff:   diffHash,
		agentos.TrailerIntent: x.plan.IntentID,
		agentos.TrailerAudit:  fmt.Sprintf("%d:%s", headSeq, headHash),
	}
	kind, note := rollbackCommit(x.task, x.plan)
	body := fmt.Sprintf("Applied by AgentOS from plan %s (%d steps, %d verify checks).", x.plan.ID, len(x.plan.Steps), len(x.plan.Verify)) + verifyNote(x.plan) + note
	msg := agentos.CommitMessage(x.plan.Goal, body, trailers)
	sha, err := c.Repo.CommitTree(ctx, tree, parent, msg, c.commitIdentity(ctx))
	if err != nil {
		return "", err
	}
	if err := x.tt.committed(ctx, sha); err != nil {
		return "", err
	}
	if err := c.recordPatches(ctx, x, diffs); err != nil {
		return "", err
	}
	row := agentos.CommitRow{SHA: sha, Task: x.task.ID, Run: x.run.ID, Branch: branchOf(x.task.ID), PlanHash: x.plan.Hash,
		DiffHash: diffHash, IntentID: x.plan.IntentID, Kind: kind, Trailers: trailers}
	if err := c.DB.AddCommit(ctx, row, agentos.System); err != nil {
		return "", err
	}
	if err := c.attest(ctx, x, sha, parent, diffHash); err != nil { // attest.go
		return "", err
	}
	return sha, nil
}

// recordPatches records each changed file's diff with its hash and the
// intent it serves (red line 6). paths are the commit's changed paths, as
// staging listed them (sha's tree against parent).
func (c *Coordinator) recordPatches(ctx context.Context, x *executor, diffs []fileDiff) error {
	for _, d := range diffs {
		if err := c.DB.AddPatch(ctx, x.run.ID, agentos.PatchRecord{Path: d.path, Diff: c.redact(d.diff), DiffHash: sumString(d.diff), IntentID: x.plan.IntentID}); err != nil {
			return err
		}
	}
	return nil
}

// fileDiff is one changed file's diff between a commit's parent and tree.
type fileDiff struct{ path, diff string }

// fileDiffs reads the diff of each changed path, in order.
func (c *Coordinator) fileDiffs(ctx context.Context, wt, parent, tree string, paths []string) ([]fileDiff, error) {
	out := make([]fileDiff, 0, len(paths))
	for _, p := range paths {
		var size int64 // the file as committed (gone: deleted)
		if fi, err := os.Lstat(filepath.Join(wt, filepath.FromSlash(p))); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		d, err := c.Repo.FileDiff(ctx, parent, tree, p, size)
		if err != nil {
			return nil, err
		}
		out = append(out, fileDiff{p, d})
	}
	return out, nil
}

// checkChangedPaths holds what a run changed to what its plan declared: a
// protected path is never committed (a command could create .agentos/ or a
// nested .git in the worktree), and a path the plan does not declare, which
// the gates never saw and no lock covers, is refused (an exec step declares
// what it writes with writes:).
func (c *Coordinator) checkChangedPaths(ctx context.Context, x *executor, staged []string) error {
	var undeclared []string
	for _, p := range staged {
		if agentos.IsProtected(p) {
			return agentos.Errorf(agentos.EDENIED, "the run changed the protected path %s: refusing to commit", p)
		}
		if !x.locks.Covers(p) {
			undeclared = append(undeclared, p)
		}
	}
	if len(undeclared) > 0 {
		return agentos.Errorf(agentos.EDENIED, "the run changed %s, which the plan does not declare: refusing to commit (declare what an exec step writes with writes: [paths])", strings.Join(undeclared, ", "))
	}
	return nil
}

// verifyNote is what a commit message adds about where its checks came
// from: the policy's default, or nowhere (the policy allowed that).
func verifyNote(p *agentos.Plan) string {
	if len(p.Verify) == 0 {
		return "\nUNVERIFIED: no verify check ran; " + agentos.PolicyFile + " allows it (verify.allow_unverified: true)."
	}
	for _, ch := range p.Verify {
		if ch.PolicyDefault {
			return "\nThe plan brought no verify check; the checks are verify.default of " + agentos.PolicyFile + "."
		}
	}
	return ""
}
