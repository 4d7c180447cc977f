package gitrepo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// A checked-out branch fast-forwarded by the changed paths alone ends with
// the files, modes, symlinks and index a `git merge --ff-only` gives
// (deletions, a file replacing a directory and the reverse, directories a
// deletion emptied), while uncommitted changes elsewhere stay; a change in
// the way (unstaged, staged, untracked, a file where a directory goes)
// leaves everything as it was; a branch that moved meanwhile puts the files
// back.
func TestFastForwardCheckout(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(p, content string, mode os.FileMode) {
		t.Helper()
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(full, mode)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	git("init", "-q", "-b", "main")
	write("keep/a.txt", "a\n", 0o644)
	write("gone/only/x.txt", "x\n", 0o644)
	write("dir2file/y.txt", "y\n", 0o644)
	write("file2dir", "f\n", 0o644)
	write("run.sh", "#!/bin/sh\n", 0o644)
	write("edit.txt", "old\n", 0o644)
	write("other.txt", "other\n", 0o644)
	git("add", "-A")
	git("commit", "-q", "-m", "one")
	from := git("rev-parse", "HEAD")
	git("checkout", "-q", "-b", "task")
	git("rm", "-q", "-r", "gone", "dir2file", "file2dir")
	write("dir2file", "now a file\n", 0o644)
	write("file2dir/z.txt", "now a dir\n", 0o644)
	os.Chmod(filepath.Join(dir, "run.sh"), 0o755)
	write("edit.txt", "new\n", 0o644)
	write("fresh/n.txt", "n\n", 0o644)
	if err := os.Symlink("keep/a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	git("add", "-A")
	git("commit", "-q", "-m", "two")
	to := git("rev-parse", "HEAD")
	git("checkout", "-q", "main")

	r, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// In the way: nothing moves, nothing is rewritten.
	for _, c := range []struct{ name, setup, undo, want string }{
		{"unstaged", "echo mine >> edit.txt", "git checkout -- edit.txt", "edit.txt"},
		{"staged", "echo mine >> run.sh && git add run.sh", "git reset -q run.sh && git checkout -- run.sh", "run.sh"},
		{"untracked", "mkdir -p fresh && echo mine > fresh/n.txt", "rm -r fresh", "fresh/n.txt"},
		{"file-for-dir", "echo mine > fresh", "rm fresh", "fresh"},
	} {
		sh := exec.Command("sh", "-c", c.setup)
		sh.Dir = dir
		if out, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, out)
		}
		before := git("status", "--porcelain", "--untracked-files=all")
		dirty, err := r.FastForwardCheckout(ctx, dir, "main", from, to, "test")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if strings.Join(dirty, ",") != c.want {
			t.Errorf("%s: dirty = %q, want %q", c.name, dirty, c.want)
		}
		if h := git("rev-parse", "main"); h != from {
			t.Errorf("%s: main moved to %s", c.name, h)
		}
		if after := git("status", "--porcelain", "--untracked-files=all"); after != before {
			t.Errorf("%s: the tree changed:\n%s\nwas\n%s", c.name, after, before)
		}
		if got := read("gone/only/x.txt"); got != "x\n" {
			t.Errorf("%s: gone/only/x.txt = %q", c.name, got)
		}
		sh = exec.Command("sh", "-c", c.undo)
		sh.Dir = dir
		if out, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, out)
		}
	}

	// The branch moved meanwhile: a conflict, and the files are from's.
	git("branch", "-f", "elsewhere", to)
	if _, err := r.FastForwardCheckout(ctx, dir, "elsewhere", from, to, "test"); err == nil {
		t.Fatal("fast-forward of a branch that is not at from succeeded")
	} else if agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Fatalf("moved branch: %v, want a conflict", err)
	}
	if got := git("status", "--porcelain", "--untracked-files=all"); got != "" {
		t.Fatalf("the files were not put back:\n%s", got)
	}
	if got := read("gone/only/x.txt"); got != "x\n" {
		t.Errorf("gone/only/x.txt = %q after the put-back", got)
	}

	// Clean where it matters, dirty elsewhere.
	write("other.txt", "local edit\n", 0o644)
	dirty, err := r.FastForwardCheckout(ctx, dir, "main", from, to, "test")
	if err != nil || len(dirty) > 0 {
		t.Fatalf("fast-forward: %v, dirty %q", err, dirty)
	}
	if h := git("rev-parse", "HEAD"); h != to {
		t.Fatalf("HEAD = %s, want %s", h, to)
	}
	if got := git("status", "--porcelain", "--untracked-files=all"); got != "M other.txt" {
		t.Errorf("status after the fast-forward:\n%s\nwant only the local edit", got)
	}
	if got := read("other.txt"); got != "local edit\n" {
		t.Errorf("other.txt = %q: the local edit was lost", got)
	}
	for p, want := range map[string]string{"dir2file": "now a file\n", "file2dir/z.txt": "now a dir\n", "edit.txt": "new\n", "fresh/n.txt": "n\n", "keep/a.txt": "a\n"} {
		if got := read(p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	for _, p := range []string{"gone", "dir2file/y.txt"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s is still there", p)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "run.sh")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh is not executable: %v %v", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "link")); err != nil || l != "keep/a.txt" {
		t.Errorf("link = %q, %v", l, err)
	}
	// The index holds to's tree with fresh stat data: nothing to refresh.
	if got := git("diff-files", "--name-only"); got != "other.txt" {
		t.Errorf("diff-files = %q, want only other.txt", got)
	}
	if got := git("write-tree"); got != git("rev-parse", to+"^{tree}") {
		t.Errorf("index tree %s is not %s's", got, to)
	}
}
