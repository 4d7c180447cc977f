package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/agentos/agentos"
	"golang.org/x/sys/unix"
)

// Defence in depth behind the seccomp filter: no set-id file, file
// capability or device node may survive in a worktree or cache that
// agentos commits from or keeps.

// SetIDFiles lists what under roots has a set-id bit (files, not
// directories: a setgid directory only passes its group on), carries a
// file capability or is a device node. A root's .git is skipped: it is
// read-only to every command.
func SetIDFiles(roots ...string) ([]string, error) { return setIDFiles(true, roots...) }

// setIDFiles is SetIDFiles; gitRO false walks a root's .git too (a
// directory a command made: nothing in it is read-only).
func setIDFiles(gitRO bool, roots ...string) ([]string, error) {
	var out []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				// The repository's own .git only: a .git a command makes
				// further down is as writable as the rest.
				if gitRO && d.Name() == agentos.GitDir && filepath.Dir(p) == root {
					return filepath.SkipDir
				}
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			if setIDMode(p, info) {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// setIDMode reports whether the file p (info its lstat) has a set-id bit,
// carries a file capability or is a device node.
func setIDMode(p string, info fs.FileInfo) bool {
	m := info.Mode()
	if m&fs.ModeCharDevice != 0 {
		// A 0:0 character device is how overlayfs records a deletion in
		// a task's layer (the kernel makes it, not the command): not a
		// device anyone can open.
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Rdev == 0 {
			return false
		}
	}
	switch {
	case m&(fs.ModeSetuid|fs.ModeSetgid) != 0, m&fs.ModeDevice != 0:
		return true
	case m.IsRegular():
		n, _ := unix.Lgetxattr(p, "security.capability", nil)
		return n > 0
	}
	return false
}

// RefuseSetID fails (code denied) when SetIDFiles finds anything under
// roots, after making each found file harmless: set-id bits cleared, file
// capability removed, device node deleted. Call it after a run and before
// anything in roots is committed or kept.
func RefuseSetID(roots ...string) error {
	found, err := SetIDFiles(roots...)
	if err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "cannot check for set-id files: %v", err)
	}
	return refuseFound(found)
}

// refuseFound makes what SetIDFiles found harmless and refuses it.
func refuseFound(found []string) error {
	if len(found) == 0 {
		return nil
	}
	for _, p := range found {
		st, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if st.Mode()&fs.ModeDevice != 0 {
			os.Remove(p)
			continue
		}
		os.Chmod(p, st.Mode().Perm())
		unix.Lremovexattr(p, "security.capability")
	}
	if len(found) > 5 {
		found = append(found[:5], fmt.Sprintf("and %d more", len(found)-5))
	}
	return agentos.Errorf(agentos.EDENIED, "a command left a set-id file, file capability or device node: %s; refusing to keep it (its bits are cleared)", strings.Join(found, ", "))
}

// PrivateDir creates dir if needed and makes it traversable by its owner
// only (0700): worktrees and caches hold what commands produced, which no
// other user of the machine may reach.
func PrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "cannot create %s: %v", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "cannot make %s private (0700): %v", dir, err)
	}
	return nil
}
