package coordinator

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox"
)

// KeptWorktree is what a task's kept worktree holds: the document of
// `agentos task show`'s worktree part. A copy-on-write worktree is the
// task's layer alone (its change, over Base); a full git worktree is a
// checkout of its own.
type KeptWorktree struct {
	Path string `json:"path"`
	// Kind is "layer" (copy-on-write, over Base) or "git-worktree".
	Kind string `json:"kind"`
	Base string `json:"base,omitempty"`
	// Written, Deleted and Replaced are the layer's paths: files and
	// symlinks written, paths deleted, directories that replaced whatever
	// the base had there.
	Written  []string `json:"written"`
	Deleted  []string `json:"deleted"`
	Replaced []string `json:"replaced"`
	// Bytes is the size of the files the layer holds: its cost on disk
	// follows the change, not the repository.
	Bytes int64 `json:"bytes"`
}

// KeptWorktree describes the worktree task kept (ENOTFOUND when none).
func (c *Coordinator) KeptWorktree(task string) (*KeptWorktree, error) {
	return ReadKeptWorktree(c.StateDir, task)
}

// ReadKeptWorktree is KeptWorktree for the state directory stateDir, read
// from the files alone.
func ReadKeptWorktree(stateDir, task string) (*KeptWorktree, error) {
	dir := filepath.Join(stateDir, "worktrees", task)
	if _, err := os.Lstat(dir); err != nil {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "task %s kept no worktree (removed by retention.worktrees, `agentos task clean`, or never run)", task)
	}
	if !isLayer(dir) {
		return &KeptWorktree{Path: dir, Kind: "git-worktree", Written: []string{}, Deleted: []string{}, Replaced: []string{}}, nil
	}
	kw := &KeptWorktree{Path: dir, Kind: "layer"}
	if b, err := os.ReadFile(layerBaseFile(filepath.Dir(dir), task)); err == nil {
		kw.Base = strings.TrimSpace(string(b))
	}
	kw.Written, kw.Deleted, kw.Replaced = []string{}, []string{}, []string{}
	// The layer alone is walked (as the commit's staging reads it), never
	// the tree below it.
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.Name() == agentos.GitDir && d.IsDir() {
			return filepath.SkipDir
		}
		switch {
		case d.IsDir():
			if sandbox.IsOpaque(p) {
				kw.Replaced = append(kw.Replaced, rel)
			}
		case d.Type()&fs.ModeCharDevice != 0 && sandbox.IsWhiteout(p):
			kw.Deleted = append(kw.Deleted, rel)
		case d.Type().IsRegular(), d.Type()&fs.ModeSymlink != 0:
			kw.Written = append(kw.Written, rel)
			if fi, err := d.Info(); err == nil {
				kw.Bytes += fi.Size()
			}
		}
		return nil
	})
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot read the layer of %s: %v", task, err)
	}
	return kw, nil
}

// InspectInto checks out a kept layer's view, its base commit plus the
// task's change, into dst (a new directory) as a detached git worktree of
// the repository: `git status` and `git diff` there show the change. The
// layer is read, never changed; paths inside a .git directory, which the
// commit would have refused, are left out and listed.
func (c *Coordinator) InspectInto(ctx context.Context, task, dst string) (skipped []string, err error) {
	kw, err := c.KeptWorktree(task)
	if err != nil {
		return nil, err
	}
	if kw.Kind != "layer" {
		return nil, agentos.Errorf(agentos.EINVALID, "the worktree of %s is a git checkout already: look in %s", task, kw.Path)
	}
	if kw.Base == "" {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "the layer of %s does not record its base commit (kept by an older agentos): its files are in %s", task, kw.Path)
	}
	if ents, err := os.ReadDir(dst); err == nil && len(ents) > 0 || err != nil && !os.IsNotExist(err) {
		return nil, agentos.Errorf(agentos.EINVALID, "%s exists and is not an empty directory: name a new one", dst)
	}
	os.Remove(dst)
	if err := c.Repo.AddDetachedWorktree(ctx, dst, kw.Base); err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot check out %s into %s: %v", short(kw.Base), dst, err)
	}
	skipped, err = applyLayer(kw.Path, dst)
	if err != nil {
		return skipped, agentos.WrapError(agentos.EINTERNAL, err, "cannot apply the layer of %s to %s: %v", task, dst, err)
	}
	return skipped, nil
}

// applyLayer writes an overlayfs upper layer onto a plain directory the
// way overlayfs shows it: a whiteout deletes, an opaque directory replaces
// the directory below, a file or symlink replaces whatever was there.
func applyLayer(upper, dst string) ([]string, error) {
	var skipped []string
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == upper {
			return err
		}
		rel, _ := filepath.Rel(upper, p)
		if d.Name() == agentos.GitDir {
			skipped = append(skipped, filepath.ToSlash(rel))
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if sandbox.IsOpaque(p) {
				if err := os.RemoveAll(target); err != nil {
					return err
				}
			} else if st, err := os.Lstat(target); err == nil && !st.IsDir() {
				os.Remove(target)
			}
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			return os.Chmod(target, fi.Mode().Perm())
		case sandbox.IsWhiteout(p):
			return os.RemoveAll(target)
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.RemoveAll(target); err != nil {
				return err
			}
			return os.Symlink(l, target)
		case d.Type().IsRegular():
			if err := os.RemoveAll(target); err != nil {
				return err
			}
			return copyFileMode(p, target, fi.Mode().Perm())
		}
		return nil
	})
	return skipped, err
}

func copyFileMode(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode) // past the umask
}
