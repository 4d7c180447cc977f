// Package workspace is red line 3's choke point: every repository path a
// step names goes through Clean (and Resolve against a tree or a worktree),
// and every command through LookPath. Steps hold only the values these
// functions return.
package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agentos/agentos"
)

// Clean normalises a repository-relative, slash-separated path. It refuses
// empty paths, absolute paths, backslashes, NUL bytes and any ".." element:
// a plan names paths inside the repository, never around it.
func Clean(p string) (string, error) {
	if p == "" {
		return "", agentos.Errorf(agentos.EDENIED, "empty path")
	}
	if strings.ContainsRune(p, 0) {
		return "", agentos.Errorf(agentos.EDENIED, "path %q contains a NUL byte", p)
	}
	if strings.Contains(p, `\`) {
		return "", agentos.Errorf(agentos.EDENIED, "path %q contains a backslash: use / separators", p)
	}
	if path.IsAbs(p) || filepath.IsAbs(p) {
		return "", agentos.Errorf(agentos.EDENIED, "path %q is absolute: paths must be relative to the repository root", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", agentos.Errorf(agentos.EDENIED, "path %q contains \"..\": paths must stay inside the repository", p)
		}
	}
	c := path.Clean(p)
	if c == "." {
		return "", agentos.Errorf(agentos.EDENIED, "path %q names the repository root itself", p)
	}
	return c, nil
}

// CleanWritable is Clean plus the protected-path refusal (agentos.IsProtected).
func CleanWritable(p string) (string, error) {
	c, err := Clean(p)
	if err != nil {
		return "", err
	}
	if agentos.IsProtected(c) {
		return "", agentos.Errorf(agentos.EDENIED, "path %q is protected: no step may write .git/, .agentos/ or agentos.yaml", c)
	}
	return c, nil
}

// NoSymlinkInPath checks on disk that no existing element of rel (under
// root) is a symlink, so a write can never leave root through one. Elements
// that do not exist yet are fine: they will be created as plain entries.
func NoSymlinkInPath(root, rel string) error {
	cur := root
	for _, el := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, el)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return agentos.WrapError(agentos.EDENIED, err, "cannot check path %q: %v", rel, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return agentos.Errorf(agentos.EDENIED, "path %q goes through the symlink %q: a step may not write through symlinks", rel, strings.TrimPrefix(cur, root+string(filepath.Separator)))
		}
	}
	return nil
}

// Tree is a snapshot of which paths exist (files and directories) and
// which are symlinks, used to check a plan against its base commit without
// touching the repository. It tracks the effect of earlier steps.
type Tree struct {
	entries map[string]entry
}

type entry struct{ dir, symlink bool }

// NewTree builds a tree from `git ls-tree -r -t` style entries.
func NewTree() *Tree { return &Tree{entries: map[string]entry{}} }

// AddFile records an existing file (and its parent directories).
func (t *Tree) AddFile(p string, symlink bool) {
	t.addParents(p)
	t.entries[p] = entry{symlink: symlink}
}

// AddDir records an existing directory.
func (t *Tree) AddDir(p string) {
	t.addParents(p)
	t.entries[p] = entry{dir: true}
}

func (t *Tree) addParents(p string) {
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		if _, ok := t.entries[d]; !ok {
			t.entries[d] = entry{dir: true}
		}
	}
}

// Exists reports whether p exists.
func (t *Tree) Exists(p string) bool { _, ok := t.entries[p]; return ok }

// IsDir reports whether p is a directory.
func (t *Tree) IsDir(p string) bool { return t.entries[p].dir }

// Remove deletes p and everything under it.
func (t *Tree) Remove(p string) {
	for k := range t.entries {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(t.entries, k)
		}
	}
}

// Rename moves p and everything under it to q.
func (t *Tree) Rename(p, q string) {
	moved := map[string]entry{}
	for k, e := range t.entries {
		if k == p || strings.HasPrefix(k, p+"/") {
			moved[q+strings.TrimPrefix(k, p)] = e
			delete(t.entries, k)
		}
	}
	t.addParents(q)
	for k, e := range moved {
		t.entries[k] = e
	}
}

// CheckNoSymlink refuses a path whose existing elements include a symlink.
func (t *Tree) CheckNoSymlink(p string) error {
	els := strings.Split(p, "/")
	for i := range els {
		sub := strings.Join(els[:i+1], "/")
		if e, ok := t.entries[sub]; ok && e.symlink {
			return agentos.Errorf(agentos.EDENIED, "path %q goes through the symlink %q: a step may not write through symlinks", p, sub)
		}
	}
	return nil
}

// CheckParentNotFile refuses creating p under an existing regular file.
func (t *Tree) CheckParentNotFile(p string) error {
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		if e, ok := t.entries[d]; ok && !e.dir {
			return agentos.Errorf(agentos.EINVALID, "cannot create %q: %q is a file", p, d)
		}
	}
	return nil
}

// LookPath is red line 3 for commands: name must be on the allowlist and
// resolve to an existing executable, which is returned as a real (symlink
// free) absolute path. A name with a slash is a path inside the worktree
// and must itself be listed exactly. searchPath is the PATH commands get.
func LookPath(name string, allow []string, searchPath string, worktree string) (string, error) {
	if name == "" {
		return "", agentos.Errorf(agentos.EDENIED, "empty command")
	}
	if strings.Contains(name, "/") {
		if !slices.Contains(allow, name) {
			return "", agentos.Errorf(agentos.EDENIED, "command %q is not on the allowlist in agentos.yaml (commands.allow)", name)
		}
		if filepath.IsAbs(name) {
			return realExecutable(name, name)
		}
		rel, err := Clean(strings.TrimPrefix(name, "./"))
		if err != nil {
			return "", err
		}
		if err := NoSymlinkInPath(worktree, rel); err != nil {
			return "", err
		}
		return realExecutable(name, filepath.Join(worktree, rel))
	}
	if !slices.Contains(allow, name) {
		return "", agentos.Errorf(agentos.EDENIED, "command %q is not on the allowlist in agentos.yaml (commands.allow): add it there if it is safe, or change the plan", name)
	}
	for _, dir := range filepath.SplitList(searchPath) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // relative PATH entries would resolve into the worktree
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return realExecutable(name, p)
		}
	}
	return "", agentos.Errorf(agentos.EDENIED, "command %q does not exist on PATH (%s): a plan may only run commands that exist", name, searchPath)
}

func realExecutable(name, p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", agentos.Errorf(agentos.EDENIED, "command %q does not exist (%s)", name, p)
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return "", agentos.Errorf(agentos.EDENIED, "command %q (%s) is not an executable file", name, real)
	}
	return real, nil
}

// Describe returns a short human description of a path error for records.
func Describe(err error) string { return fmt.Sprint(agentos.ErrorMessage(err)) }
