package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/agentos/agentos"
)

// ffPathsMax is how many changed paths FastForwardCheckout checks and
// rewrites one by one; beyond it git's two-tree read-tree, which walks the
// whole index anyway, is no slower, and so is a status of the whole tree.
const ffPathsMax = 1000

// FastForwardCheckout moves branch, checked out in worktree wt at from, to
// its descendant to, like `git merge --ff-only` but at the cost of the
// change: only the paths that differ between from and to are checked for
// uncommitted changes, rewritten in wt's index and files, and nothing walks
// the rest of the checkout. Uncommitted changes elsewhere stay as they are,
// as git's own fast-forward keeps them.
//
// When any of those paths (or a parent of one) has uncommitted changes,
// staged, unstaged or untracked, nothing is touched and they are returned.
// The branch moves by compare-and-swap after the files: when it no longer
// points at from, the files are put back and the error is a conflict.
func (r *Repo) FastForwardCheckout(ctx context.Context, wt, branch, from, to, reason string) (dirty []string, err error) {
	out, err := run(ctx, wt, r.objectsOnly(nil), "diff-tree", "-r", "-z", "--no-renames", from, to)
	if err != nil {
		return nil, err
	}
	changes, whole, err := parseTreeDiff(out)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(changes))
	for i, ch := range changes {
		paths[i] = ch.path
	}
	if len(paths) == 0 {
		return nil, r.UpdateRef(ctx, branch, to, from, reason)
	}
	whole = whole || len(changes) > ffPathsMax
	if whole {
		all, err := r.DirtyPathsIn(ctx, wt, nil)
		if err != nil {
			return nil, err
		}
		dirty = overlapping(all, paths)
	} else if dirty, err = r.DirtyPathsIn(ctx, wt, paths); err != nil {
		return nil, err
	}
	if len(dirty) > 0 {
		return dirty, nil
	}
	if whole {
		// read-tree refuses by itself to overwrite anything uncommitted.
		if _, err := run(ctx, wt, nil, "read-tree", "-m", "-u", from, to); err != nil {
			return nil, agentos.WrapError(agentos.ECONFLICT, err, "fast-forward of %s in %s failed: %v", branch, wt, err)
		}
		if err := r.UpdateRef(ctx, branch, to, from, reason); err != nil {
			run(context.WithoutCancel(ctx), wt, nil, "read-tree", "-m", "-u", to, from)
			return nil, err
		}
		return nil, nil
	}
	if err := checkoutChanges(ctx, wt, changes, false); err != nil {
		// Whatever was half written goes back to from.
		checkoutChanges(context.WithoutCancel(ctx), wt, changes, true)
		return nil, agentos.WrapError(agentos.ECONFLICT, err, "fast-forward of %s in %s failed: %v", branch, wt, err)
	}
	if err := r.UpdateRef(ctx, branch, to, from, reason); err != nil {
		checkoutChanges(context.WithoutCancel(ctx), wt, changes, true)
		return nil, err
	}
	return nil, nil
}

// treeChange is one path of `git diff-tree -r` between two commits.
type treeChange struct {
	path               string
	oldMode, newMode   string
	oldBlob, newBlob   string
	deleted, submodule bool
}

// parseTreeDiff reads `diff-tree -r -z --no-renames` output; whole says a
// submodule changed, which only git's checkout machinery handles.
func parseTreeDiff(out string) (changes []treeChange, whole bool, err error) {
	f := splitNUL(out)
	for i := 0; i+1 < len(f); i += 2 {
		meta := strings.Fields(strings.TrimPrefix(f[i], ":"))
		if len(meta) < 5 {
			return nil, false, errors.New("unexpected diff-tree output")
		}
		ch := treeChange{path: f[i+1], oldMode: meta[0], newMode: meta[1], oldBlob: meta[2], newBlob: meta[3], deleted: meta[4] == "D"}
		ch.submodule = ch.oldMode == "160000" || ch.newMode == "160000"
		whole = whole || ch.submodule
		changes = append(changes, ch)
	}
	return changes, whole, nil
}

// overlapping keeps the dirty paths that are one of paths, a directory
// above one, or under one.
func overlapping(dirty, paths []string) []string {
	changed, above := map[string]bool{}, map[string]bool{}
	for _, p := range paths {
		changed[p] = true
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			above[d] = true
		}
	}
	var out []string
	for _, d := range dirty {
		hit := changed[d] || above[d]
		for a := path.Dir(d); !hit && a != "."; a = path.Dir(a) {
			hit = changed[a]
		}
		if hit {
			out = append(out, d)
		}
	}
	return out
}

// checkoutChanges makes wt's index and files hold the new side of changes
// (the old side when back): each path's file is removed, deletions leave
// the index and emptied directories go, and git checks out the rest
// (filters, modes and symlinks as a checkout does) and records their stat
// data, so the next `git status` there has nothing to re-read. The paths
// must have been clean: what is removed is what the index already had.
func checkoutChanges(ctx context.Context, wt string, changes []treeChange, back bool) error {
	var del, add bytes.Buffer
	var write, gone []string
	// A path replaced by a directory (or the reverse) must go before what
	// replaces it is written: removals first, in the order diff-tree gives.
	for _, ch := range changes {
		mode, blob, had := ch.newMode, ch.newBlob, ch.oldMode != "000000"
		if back {
			mode, blob, had = ch.oldMode, ch.oldBlob, ch.newMode != "000000"
		}
		if had {
			if err := os.Remove(filepath.Join(wt, filepath.FromSlash(ch.path))); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if mode == "000000" {
			del.WriteString("0 " + strings.Repeat("0", len(blob)) + "\t" + ch.path + "\x00")
			gone = append(gone, ch.path)
			continue
		}
		add.WriteString(mode + " " + blob + "\t" + ch.path + "\x00")
		write = append(write, ch.path)
	}
	for _, p := range gone {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if os.Remove(filepath.Join(wt, filepath.FromSlash(d))) != nil {
				break // not empty (or already gone)
			}
		}
	}
	if _, err := runStdin(ctx, wt, nil, append(del.Bytes(), add.Bytes()...), "update-index", "-z", "--index-info"); err != nil {
		return err
	}
	if len(write) == 0 {
		return nil
	}
	_, err := runStdin(ctx, wt, nil, nulJoin(write), "checkout-index", "-f", "-u", "-z", "--stdin")
	return err
}
