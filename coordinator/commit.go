package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/policy"
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
	// Each changed file's diff, read once for the secret scan and kept for
	// the patch records, unless it is large (see fileDiffs).
	diffs, changes, err := c.fileDiffs(ctx, x.wt, parent, tree, staged)
	if err != nil {
		return "", err
	}
	if err := c.scanDiff(ctx, x, changes); err != nil { // secrets in what lands, whoever wrote them
		return "", err
	}
	// The added lines are dead here (the scan was their only reader): the
	// pages of a large diff's go back before the diff is read again.
	releaseLarge(rereadBytes(diffs))
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
	if err := c.recordPatches(ctx, x, parent, tree, diffs); err != nil {
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
// intent it serves (red line 6). diffs are the commit's changed paths, as
// staging listed them (tree against parent); a large diff the scan
// consumed is read from git again, one at a time.
func (c *Coordinator) recordPatches(ctx context.Context, x *executor, parent, tree string, diffs []fileDiff) error {
	for _, d := range diffs {
		diff := d.diff
		if d.reread {
			b, err := c.Repo.FileDiff(ctx, parent, tree, d.path, d.size)
			if err != nil {
				return err
			}
			// b is never written again: a string view of it, not a second copy.
			diff = unsafe.String(unsafe.SliceData(b), len(b))
		}
		if err := c.DB.AddPatch(ctx, x.run.ID, agentos.PatchRecord{Path: d.path, Diff: c.redact(diff), DiffHash: sumString(diff), IntentID: x.plan.IntentID}); err != nil {
			return err
		}
		if d.reread {
			releaseLarge(len(diff))
		}
	}
	return nil
}

// fileDiff is one changed file's diff between a commit's parent and tree.
// A large diff is not kept (reread): the scan turned its bytes into the
// added lines in place, so the diff, its added lines and what the scan
// decodes from them are never in memory together.
type fileDiff struct {
	path, diff string
	size       int64 // the diff's expected size (diffSize), to read it again
	reread     bool
}

// diffSize is about what the diff of the file at path adds: its bytes and
// a "+" per line (0: gone or not a regular file). A large file's lines are
// counted, reading it a piece at a time, so the diff's buffer is not 1/16
// larger than a long-lined file needs; a small one's are estimated.
func diffSize(path string) int64 {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	size := fi.Size()
	if size < agentos.StreamMin {
		return size + size/16
	}
	f, err := os.Open(path)
	if err != nil {
		return size + size/16
	}
	defer f.Close()
	lines, buf := int64(1), make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		if err != nil {
			break
		}
	}
	return size + lines
}

// rereadBytes is how many bytes of diffs were not kept (at least
// agentos.StreamMin each): what the scan consumed in their place.
func rereadBytes(diffs []fileDiff) int {
	n := 0
	for _, d := range diffs {
		if d.reread {
			n += agentos.StreamMin
		}
	}
	return n
}

// fileDiffs reads the diff of each changed path, in order, and what each
// adds and removes (for the secret scan).
func (c *Coordinator) fileDiffs(ctx context.Context, wt, parent, tree string, paths []string) ([]fileDiff, []policy.Change, error) {
	out := make([]fileDiff, 0, len(paths))
	changes := make([]policy.Change, 0, len(paths))
	for _, p := range paths {
		size := diffSize(filepath.Join(wt, filepath.FromSlash(p)))
		b, err := c.Repo.FileDiff(ctx, parent, tree, p, size)
		if err != nil {
			return nil, nil, err
		}
		b = fitDiff(b)
		fd := fileDiff{path: p, size: size, reread: len(b) >= agentos.StreamMin}
		if !fd.reread {
			fd.diff = string(b) // a copy: diffChange reuses b
		}
		ch, ok, err := diffChange(wt, p, b)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, fd)
		if ok {
			changes = append(changes, ch)
		}
	}
	return out, changes, nil
}

// fitDiff is b alone when its buffer was grown far past it: the size hint
// is for a text diff, and a binary file's diff is git's compressed patch,
// often far smaller. The rest is handed back before diffChange reads the
// file for the scan (held beside it, a 64 MiB binary write's apply peaked
// at 3.3× the file; 2.6× without).
func fitDiff(b []byte) []byte {
	if cap(b)-len(b) < agentos.StreamMin {
		return b
	}
	b = bytes.Clone(b)
	releaseLarge(agentos.StreamMin)
	return b
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
