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
//
// A tree made by NewLazyTree reads the base commit one directory at a time,
// only the directories on the paths asked about (and the whole subtree of a
// path removed or renamed), so checking a plan costs what the plan names,
// not the size of the repository. Every mutation first loads what it
// touches from the base: a directory's base listing is merged once, before
// anything changes inside it, so the base never overrides an earlier step.
type Tree struct {
	entries map[string]entry
	// Lazy trees only: list reads one directory of the base commit;
	// loaded holds the directories whose base listing has been merged.
	list   func(dir string) ([]agentos.TreeEntry, error)
	loaded map[string]bool
	err    error
}

type entry struct{ dir, symlink bool }

// NewTree builds a tree from `git ls-tree -r -t` style entries.
func NewTree() *Tree { return &Tree{entries: map[string]entry{}} }

// NewLazyTree builds a tree that reads the base commit through list, which
// returns the entries directly in a directory ("." for the root; nil when
// it is not a directory of the commit).
func NewLazyTree(list func(dir string) ([]agentos.TreeEntry, error)) *Tree {
	return &Tree{entries: map[string]entry{}, list: list, loaded: map[string]bool{}}
}

// Err is the first error reading the base commit: a lazy tree that failed
// to read answers as if the paths did not exist, so its caller must check.
func (t *Tree) Err() error { return t.err }

// load merges the base listing of every directory from the root down to p
// (p itself included when it is a directory).
func (t *Tree) load(p string) {
	if t.list == nil || t.err != nil {
		return
	}
	chain := []string{"."}
	if p != "." && p != "" {
		els := strings.Split(p, "/")
		for i := range els {
			chain = append(chain, strings.Join(els[:i+1], "/"))
		}
	}
	for _, d := range chain {
		if d != "." {
			e, ok := t.entries[d]
			if !ok || !e.dir {
				return // nothing below exists in the base
			}
		}
		if t.loaded[d] {
			continue
		}
		t.loaded[d] = true
		es, err := t.list(d)
		if err != nil {
			t.err = err
			return
		}
		for _, e := range es {
			if _, ok := t.entries[e.Path]; !ok {
				t.entries[e.Path] = entry{dir: e.Dir, symlink: e.Symlink}
			}
		}
	}
}

// loadAll merges the base listing of p and of everything under it: one
// listing per directory of the subtree.
func (t *Tree) loadAll(p string) {
	if t.list == nil {
		return
	}
	t.load(p)
	if e, ok := t.entries[p]; !ok || !e.dir {
		return
	}
	var todo []string
	for k, e := range t.entries {
		if e.dir && strings.HasPrefix(k, p+"/") && !t.loaded[k] {
			todo = append(todo, k)
		}
	}
	for len(todo) > 0 && t.err == nil {
		d := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if t.loaded[d] {
			continue
		}
		t.loaded[d] = true
		es, err := t.list(d)
		if err != nil {
			t.err = err
			return
		}
		for _, e := range es {
			if _, ok := t.entries[e.Path]; !ok {
				t.entries[e.Path] = entry{dir: e.Dir, symlink: e.Symlink}
				if e.Dir {
					todo = append(todo, e.Path)
				}
			}
		}
	}
}

// AddFile records an existing file (and its parent directories).
func (t *Tree) AddFile(p string, symlink bool) {
	t.load(path.Dir(p))
	t.addParents(p)
	t.entries[p] = entry{symlink: symlink}
	t.markNew(p)
}

// AddDir records an existing directory.
func (t *Tree) AddDir(p string) {
	t.load(p)
	t.addParents(p)
	if e, ok := t.entries[p]; !ok || !e.dir {
		t.entries[p] = entry{dir: true}
	}
	t.markNew(p)
}

// markNew marks p and its parents as loaded: whatever the base has there
// was merged before (load), or the base has nothing there.
func (t *Tree) markNew(p string) {
	if t.list == nil {
		return
	}
	for d := p; d != "." && d != "/"; d = path.Dir(d) {
		if t.entries[d].dir {
			t.loaded[d] = true
		}
	}
}

func (t *Tree) addParents(p string) {
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		if _, ok := t.entries[d]; !ok {
			t.entries[d] = entry{dir: true}
		}
	}
}

// Exists reports whether p exists.
func (t *Tree) Exists(p string) bool {
	t.load(path.Dir(p))
	_, ok := t.entries[p]
	return ok
}

// IsDir reports whether p is a directory.
func (t *Tree) IsDir(p string) bool {
	t.load(path.Dir(p))
	return t.entries[p].dir
}

// Remove deletes p and everything under it.
func (t *Tree) Remove(p string) {
	t.loadAll(p)
	for k := range t.entries {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(t.entries, k)
		}
	}
}

// Rename moves p and everything under it to q.
func (t *Tree) Rename(p, q string) {
	t.loadAll(p)
	t.load(path.Dir(q))
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
		if e.dir && t.list != nil {
			t.loaded[k] = true // complete: moved whole
		}
	}
	t.markNew(q)
}

// CheckNoSymlink refuses a path whose existing elements include a symlink.
func (t *Tree) CheckNoSymlink(p string) error {
	t.load(path.Dir(p))
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
	t.load(path.Dir(p))
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
