package coordinator

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/sandbox"
)

// TestInvocation: a command is started by the PATH link LookPath pinned
// the target of (a virtualenv's python, a rustup proxy), when the link is
// visible in the sandbox and still points at the pinned executable.
func TestInvocation(t *testing.T) {
	tmp, _ := filepath.EvalSymlinks(t.TempDir())
	repo := filepath.Join(tmp, "repo")
	real := filepath.Join(tmp, "opt/py/bin/python3.12")
	other := filepath.Join(tmp, "opt/py/bin/python3.11")
	for _, f := range []string{real, other} {
		os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.WriteFile(f, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	venv := filepath.Join(repo, ".venv/bin")
	hidden := filepath.Join(tmp, "hidden/bin")
	for _, d := range []string{venv, hidden} {
		os.MkdirAll(d, 0o755)
	}
	os.Symlink(real, filepath.Join(venv, "python"))
	os.Symlink(other, filepath.Join(venv, "python3"))
	os.Symlink(real, filepath.Join(hidden, "py"))
	cfg := &config.Config{Sandbox: config.Sandbox{ReadOnly: []string{".venv", filepath.Join(tmp, "opt")}}}
	pol := sandbox.NewPolicy(cfg, repo, []string{"HOME=" + filepath.Join(tmp, "home")})
	search := venv + ":" + hidden + ":" + filepath.Dir(real)
	for _, c := range []struct{ name, exe, want string }{
		{"python", real, filepath.Join(venv, "python")}, // the venv's link
		{"python3", real, real},                         // links elsewhere now: the pin runs
		{"py", real, real},                              // the link is not visible inside
		{"python3.12", real, real},                      // no link at all
		{filepath.Join(venv, "python"), real, real},     // a path, not a PATH name
		{"missing", real, real},                         // not on PATH
	} {
		if got := invocation(c.name, c.exe, search, pol, filepath.Join(repo, ".agentos/worktrees/t1")); got != c.want {
			t.Errorf("invocation(%s) = %s, want %s", c.name, got, c.want)
		}
	}
}
