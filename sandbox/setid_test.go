//go:build linux

package sandbox_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox"
	"golang.org/x/sys/unix"
)

func TestRefuseSetID(t *testing.T) {
	wt := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(wt, "sub", ".git"), 0o755))
	must(t, os.WriteFile(filepath.Join(wt, "plain"), []byte("x"), 0o755))
	must(t, os.Mkdir(filepath.Join(wt, "shared"), 0o755))
	must(t, os.Chmod(filepath.Join(wt, "shared"), 0o755|os.ModeSetgid))
	if err := sandbox.RefuseSetID(wt); err != nil {
		t.Fatalf("a clean tree (a setgid directory included) was refused: %v", err)
	}
	x := filepath.Join(wt, "sub", "x")
	must(t, os.WriteFile(x, []byte("#!/bin/sh\n"), 0o755))
	must(t, os.Chmod(x, 0o755|os.ModeSetuid|os.ModeSetgid))
	err := sandbox.RefuseSetID(wt)
	if agentos.ErrorCode(err) != agentos.EDENIED || !strings.Contains(err.Error(), x) {
		t.Fatalf("err = %v, want denied naming %s", err, x)
	}
	st, err := os.Stat(x)
	must(t, err)
	if st.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 || st.Mode().Perm() != 0o755 {
		t.Fatalf("mode after = %v, want the set-id bits cleared", st.Mode())
	}
}

func TestPrivateDir(t *testing.T) {
	d := filepath.Join(t.TempDir(), "worktrees")
	must(t, os.Mkdir(d, 0o755))
	must(t, sandbox.PrivateDir(d))
	st, err := os.Stat(d)
	must(t, err)
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("mode = %v, want 0700", st.Mode().Perm())
	}
}

// A .git a command makes below the repository's own is walked like any
// directory: only the repository's .git is read-only to commands.
func TestSetIDFilesWalksANestedGitDir(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, ".git"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "sub/.git"), 0o755))
	p := filepath.Join(root, "sub/.git/hook")
	must(t, os.WriteFile(p, []byte("x"), 0o755))
	must(t, os.Chmod(p, 0o755|os.ModeSetuid))
	found, err := sandbox.SetIDFiles(root)
	if err != nil || len(found) != 1 || found[0] != p {
		t.Fatalf("SetIDFiles = %v, %v; want %s", found, err, p)
	}
}

// After a run: a set-id bit anywhere is found whatever the file's age,
// and a file capability on a file whose status changed during the run.
func TestRefuseSetIDSince(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "a/b"), 0o755))
	old, capped := filepath.Join(root, "a/b/old"), filepath.Join(root, "a/capped")
	must(t, os.WriteFile(old, []byte("x"), 0o755))
	must(t, os.WriteFile(capped, []byte("x"), 0o755))
	start := time.Now()
	if err := sandbox.RefuseSetIDSince(start, root); err != nil {
		t.Fatalf("a clean tree was refused: %v", err)
	}
	must(t, os.Chmod(old, 0o755|os.ModeSetuid))
	err := sandbox.RefuseSetIDSince(start, root)
	if agentos.ErrorCode(err) != agentos.EDENIED || !strings.Contains(err.Error(), old) {
		t.Fatalf("err = %v, want denied naming %s", err, old)
	}
	if os.Getuid() != 0 {
		return
	}
	// VFS_CAP_REVISION_2, CAP_NET_RAW permitted.
	capv := []byte{0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if err := unix.Lsetxattr(capped, "security.capability", capv, 0); err != nil {
		t.Skipf("cannot set a file capability here: %v", err)
	}
	err = sandbox.RefuseSetIDSince(start, root)
	if agentos.ErrorCode(err) != agentos.EDENIED || !strings.Contains(err.Error(), capped) {
		t.Fatalf("err = %v, want denied naming %s", err, capped)
	}
	if n, _ := unix.Lgetxattr(capped, "security.capability", nil); n > 0 {
		t.Errorf("the file capability is still there")
	}
}

// BenchmarkRefuseSetIDLargeTree: the check after `sandbox run` in a
// repository of 10,000 files (100 directories of 100).
func BenchmarkRefuseSetIDLargeTree(b *testing.B) {
	root := b.TempDir()
	for d := range 100 {
		dir := filepath.Join(root, fmt.Sprintf("d%d", d))
		os.MkdirAll(dir, 0o755)
		for f := range 100 {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", f)), []byte("x\n"), 0o644)
		}
	}
	start := time.Now()
	for b.Loop() {
		if err := sandbox.RefuseSetIDSince(start, root); err != nil {
			b.Fatal(err)
		}
	}
}
