package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
)

// RevertSteps computes the revert of commit on head as patch steps, one per
// changed file (a rename is one step with both paths), or the conflicting
// paths, without a worktree and without writing to the repository.
//
// It is git's own revert merge: three-way, with commit as the merge base,
// head as ours and commit's parent as theirs, so later commits that touched
// nearby lines do not stop it. merge-tree (git 2.39) takes no merge base,
// so theirs is a commit object made for the purpose (commit's parent's tree,
// with commit as its only parent), and it, like the merged trees, is
// written into a quarantine object directory (the repository's objects as
// an alternate) that is removed afterwards: nothing of it ever reaches the
// repository, let alone a ref.
func (r *Repo) RevertSteps(ctx context.Context, commit, head, intentID string) (steps []agentos.Step, conflicts []string, err error) {
	if r.common == "" {
		return nil, nil, errors.New("the repository's git directory is unknown")
	}
	quarantine, err := os.MkdirTemp("", "agentos-revert-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(quarantine)
	env := r.objectsOnly([]string{
		"GIT_OBJECT_DIRECTORY=" + quarantine,
		"GIT_ALTERNATE_OBJECT_DIRECTORIES=" + filepath.Join(r.common, "objects"),
		// A fixed identity and date: the object is a means, never shown.
		"GIT_AUTHOR_NAME=agentos", "GIT_AUTHOR_EMAIL=agentos@localhost", "GIT_AUTHOR_DATE=@0 +0000",
		"GIT_COMMITTER_NAME=agentos", "GIT_COMMITTER_EMAIL=agentos@localhost", "GIT_COMMITTER_DATE=@0 +0000",
	})
	git := func(args ...string) (string, error) { return run(ctx, r.Root, env, args...) }
	// A root commit reverts to the empty tree.
	parentTree, err := git("rev-parse", "--verify", "--quiet", commit+"^1^{tree}")
	if err != nil {
		if parentTree, err = runStdin(ctx, r.Root, env, nil, "hash-object", "-t", "tree", "-w", "--stdin"); err != nil {
			return nil, nil, err
		}
	}
	theirs, err := runStdin(ctx, r.Root, env, []byte("revert of "+commit+"\n"), "commit-tree", strings.TrimSpace(parentTree), "-p", commit)
	if err != nil {
		return nil, nil, err
	}
	out, err := git("merge-tree", "--write-tree", "--name-only", "--no-messages", head, strings.TrimSpace(theirs))
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if err != nil {
		if exitCode(err) != 1 || len(lines) < 2 {
			return nil, nil, err
		}
		for _, l := range lines[1:] {
			if l = strings.TrimSpace(l); l != "" && !contains(conflicts, l) {
				conflicts = append(conflicts, l)
			}
		}
		return nil, conflicts, nil
	}
	tree := strings.TrimSpace(lines[0])
	steps, err = treeSteps(git, head, tree, intentID)
	return steps, nil, err
}

// TreeSteps lists what differs from commit base to tree as patch steps, one
// per changed file (a rename is one step with both paths), each diff as
// `git diff --binary -M` writes it, hashed, with intentID.
func (r *Repo) TreeSteps(ctx context.Context, base, tree, intentID string) ([]agentos.Step, error) {
	env := r.objectsOnly(nil)
	return treeSteps(func(args ...string) (string, error) { return run(ctx, r.Root, env, args...) }, base, tree, intentID)
}

// TreeStepsIn is TreeSteps with git run in dir (a worktree whose index
// wrote tree, as the contractor's fallback worktree does).
func TreeStepsIn(ctx context.Context, dir, base, tree, intentID string) ([]agentos.Step, error) {
	return treeSteps(func(args ...string) (string, error) { return run(ctx, dir, nil, args...) }, base, tree, intentID)
}

// treeSteps is TreeSteps with git run by git.
func treeSteps(git func(args ...string) (string, error), base, tree, intentID string) ([]agentos.Step, error) {
	// The diff's text is what a patch step applies: no config may change
	// its prefixes.
	diffArgs := []string{"-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "diff"}
	out, err := git(append(diffArgs, "--name-status", "-z", "-M", "--no-ext-diff", base, tree)...)
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot list the changes: %v", err)
	}
	f := strings.Split(strings.TrimRight(out, "\x00"), "\x00")
	steps := []agentos.Step{}
	for i := 0; i+1 < len(f); {
		status := f[i]
		paths := []string{f[i+1]}
		i += 2
		if strings.HasPrefix(status, "R") || strings.HasPrefix(status, "C") {
			paths = append(paths, f[i])
			i++
		}
		diff, err := git(append(append(diffArgs, "--binary", "-M", "--no-ext-diff", "--no-color", base, tree, "--"), paths...)...)
		if err != nil {
			return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot diff %s: %v", strings.Join(paths, ", "), err)
		}
		steps = append(steps, agentos.Step{
			Kind: agentos.StepPatch, Diff: diff, DiffHash: canonjson.Sum([]byte(diff)), Paths: paths, IntentID: intentID,
			Rationale: fmt.Sprintf("%s %s", changeVerb(status[0]), strings.Join(paths, " -> ")), Risk: "medium",
		})
	}
	return steps, nil
}

func changeVerb(status byte) string {
	if v := map[byte]string{'A': "adds", 'D': "deletes", 'M': "edits", 'R': "renames", 'C': "copies", 'T': "changes the type of"}[status]; v != "" {
		return v
	}
	return "changes"
}
