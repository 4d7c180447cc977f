package sandbox

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"golang.org/x/sys/unix"
)

// Defence in depth behind the seccomp filter: no set-id file, file
// capability or device node may survive in a worktree or cache that
// agentos commits from or keeps.

// SetIDFiles lists what under roots has a set-id bit (files, not
// directories: a setgid directory only passes its group on), carries a
// file capability or is a device node, in lexical order. A root's own
// .git is skipped: it is read-only to every command (a .git further down
// is not).
func SetIDFiles(roots ...string) ([]string, error) { return setIDFiles(time.Time{}, roots...) }

// RefuseSetID fails (code denied) when SetIDFiles finds anything under
// roots, after making each found file harmless: set-id bits cleared, file
// capability removed, device node deleted. Call it after a run and before
// anything in roots is committed or kept.
func RefuseSetID(roots ...string) error { return RefuseSetIDSince(time.Time{}, roots...) }

// RefuseSetIDSince is RefuseSetID after a run that started at start: a
// file whose status last changed before it (its ctime, which no process
// can set back) cannot have gained a file capability during the run, so
// only the others are asked for one. The walk and the mode of every file
// stay: a set-id bit is in the mode, which comes with the walk.
func RefuseSetIDSince(start time.Time, roots ...string) error {
	if !start.IsZero() {
		// Timestamps are the kernel's coarse clock, a tick behind; and a
		// clock set back during the run would hide a change: then
		// everything is asked.
		if time.Now().Round(0).Before(start.Round(0)) {
			start = time.Time{}
		} else {
			start = start.Add(-time.Second)
		}
	}
	found, err := setIDFiles(start, roots...)
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
