//go:build linux

package sandbox_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox"
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
