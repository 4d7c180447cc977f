package gitrepo

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A base checkout moved to a new commit by its diff alone holds exactly
// what a fresh checkout of that commit holds (deletions, a file replacing a
// directory and the reverse, a mode change, a symlink, directories a
// deletion emptied), and its index is the new commit's tree; files the
// diff does not name are not rewritten.
func TestMoveBaseByDiff(t *testing.T) {
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
	git("init", "-q", "-b", "main")
	write("keep/a.txt", "a\n", 0o644)
	write("gone/only/x.txt", "x\n", 0o644)
	write("dir2file/y.txt", "y\n", 0o644)
	write("file2dir", "f\n", 0o644)
	write("run.sh", "#!/bin/sh\n", 0o644)
	write("edit.txt", "old\n", 0o644)
	git("add", "-A")
	git("commit", "-q", "-m", "one")
	from := git("rev-parse", "HEAD")
	git("rm", "-q", "-r", "gone", "dir2file", "file2dir")
	write("dir2file", "now a file\n", 0o644)
	write("file2dir/z.txt", "now a dir\n", 0o644)
	os.Chmod(filepath.Join(dir, "run.sh"), 0o755)
	write("edit.txt", "new\n", 0o644)
	if err := os.Symlink("keep/a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	git("add", "-A")
	git("commit", "-q", "-m", "two")
	to := git("rev-parse", "HEAD")

	r, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	b := base{Tree: filepath.Join(state, "tree"), Git: filepath.Join(state, "git")}
	if err := r.PrepareBase(t.Context(), b.Tree, b.Git, "", from); err != nil {
		t.Fatal(err)
	}
	var before os.FileInfo
	if before, err = os.Stat(filepath.Join(b.Tree, "keep/a.txt")); err != nil {
		t.Fatal(err)
	}
	// moveBase itself, not PrepareBase: a failure must not hide behind
	// PrepareBase's fresh checkout.
	if err := r.moveBase(t.Context(), b, from, to); err != nil {
		t.Fatalf("moveBase: %v", err)
	}
	after, err := os.Stat(filepath.Join(b.Tree, "keep/a.txt"))
	if err != nil || !os.SameFile(before, after) {
		t.Errorf("keep/a.txt was rewritten (or lost: %v), though the diff does not name it", err)
	}
	if got := strings.TrimSpace(runGit(t, b.Tree, b.env(""), "write-tree")); got != git("rev-parse", to+"^{tree}") {
		t.Errorf("the base's index writes tree %s, not %s's", got, to)
	}
	if head, _ := os.ReadFile(filepath.Join(b.Git, "HEAD")); strings.TrimSpace(string(head)) != to {
		t.Errorf("HEAD = %q, want %s", head, to)
	}
	// The base's index is split: a shared file of every entry, and a
	// small index; a task's copy of it writes neither a shared file of its
	// own nor a whole index.
	shared, _ := filepath.Glob(filepath.Join(b.Git, "sharedindex.*"))
	if len(shared) != 1 {
		t.Fatalf("shared index files %v, want one", shared)
	}
	cp := filepath.Join(state, ".index-copy")
	if err := copyFile(filepath.Join(b.Git, "index"), cp); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(b.Tree, "added.txt"), []byte("added\n"), 0o644)
	copyEnv := append(b.env(""), "GIT_INDEX_FILE="+cp)
	runGit(t, b.Tree, copyEnv, splitCopy("update-index", "--add", "added.txt")...)
	tree := strings.TrimSpace(runGit(t, b.Tree, copyEnv, splitCopy("write-tree")...))
	os.Remove(filepath.Join(b.Tree, "added.txt"))
	if again, _ := filepath.Glob(filepath.Join(b.Git, "sharedindex.*")); len(again) != 1 {
		t.Errorf("staging on a copy of the index wrote a shared index: %v", again)
	}
	if names := runGit(t, b.Tree, nil, "ls-tree", "--name-only", tree); !strings.Contains(names, "added.txt") || !strings.Contains(names, "keep") {
		t.Errorf("the copy's tree lists %q", names)
	}
	want := listing(t, dir)
	got := listing(t, b.Tree)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("moved base:\n%s\nwant (a checkout of the commit):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func runGit(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	out, err := run(t.Context(), dir, env, args...)
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return out
}

// listing is every path under root but .git, with its type, mode and
// content (a symlink's target).
func listing(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		if rel == ".git" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, _ := d.Info()
		line := rel + " " + fi.Mode().String()
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case d.Type().IsRegular():
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		out = append(out, line)
		return nil
	})
	return out
}
