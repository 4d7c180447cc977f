package gitrepo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The revert of a commit on a later head, computed from objects alone,
// applies on top of that head to give what `git revert` gives (later edits
// to nearby lines survive), reports conflicts with later edits of the same
// lines, reverts a root commit to nothing, and leaves the repository's
// objects, refs, index and files exactly as they were.
func TestRevertSteps(t *testing.T) {
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
	write := func(p, content string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q", "-b", "main")
	write("root.txt", "root\n")
	git("add", "-A")
	git("commit", "-q", "-m", "root")
	root := git("rev-parse", "HEAD")
	write("notes.txt", "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n")
	write("gone.txt", "gone\n")
	git("add", "-A")
	git("commit", "-q", "-m", "base")
	write("notes.txt", "one\nTWO\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n")
	git("rm", "-q", "gone.txt")
	write("added.txt", "added\n")
	git("add", "-A")
	git("commit", "-q", "-m", "the task")
	task := git("rev-parse", "HEAD")
	write("notes.txt", "one\nTWO\nthree\nfour\nfive\nsix\nseven\neight\nNINE\nten\n")
	git("commit", "-q", "-am", "later, nearby")
	head := git("rev-parse", "HEAD")

	r, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		return git("count-objects", "-v") + "\n" + git("for-each-ref") + "\n" + git("ls-files", "-s") + "\n" + git("status", "--porcelain", "--untracked-files=all") + "\n" + git("worktree", "list")
	}
	before := snapshot()

	steps, conflicts, err := r.RevertSteps(t.Context(), task, head, "i1")
	if err != nil || len(conflicts) > 0 {
		t.Fatalf("RevertSteps: %v, conflicts %v", err, conflicts)
	}
	if len(steps) != 3 {
		t.Fatalf("%d steps, want 3 (notes.txt, gone.txt, added.txt): %+v", len(steps), steps)
	}
	if after := snapshot(); after != before {
		t.Errorf("the repository changed:\n%s\nwas\n%s", after, before)
	}
	// The steps applied on head give git revert's tree.
	var patch strings.Builder
	for _, s := range steps {
		if s.IntentID != "i1" || s.DiffHash == "" {
			t.Errorf("step %v: intent %q, hash %q", s.Paths, s.IntentID, s.DiffHash)
		}
		patch.WriteString(s.Diff)
	}
	apply := exec.Command("git", "apply", "--index", "-")
	apply.Dir = dir
	apply.Stdin = strings.NewReader(patch.String())
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("git apply: %v\n%s", err, out)
	}
	got := git("write-tree")
	git("reset", "-q", "--hard", head)
	git("revert", "--no-edit", task)
	if want := git("rev-parse", "HEAD^{tree}"); got != want {
		t.Errorf("tree after the steps %s, git revert gives %s", got, want)
	}
	git("reset", "-q", "--hard", head)

	// The same lines changed later: conflicts, nothing written.
	write("notes.txt", "one\ntwo, later\nthree\nfour\nfive\nsix\nseven\neight\nNINE\nten\n")
	git("commit", "-q", "-am", "later, same line")
	head2 := git("rev-parse", "HEAD")
	before = snapshot()
	steps, conflicts, err = r.RevertSteps(t.Context(), task, head2, "i2")
	if err != nil || len(steps) > 0 || strings.Join(conflicts, ",") != "notes.txt" {
		t.Errorf("conflicting revert: steps %d, conflicts %v, %v", len(steps), conflicts, err)
	}
	if after := snapshot(); after != before {
		t.Errorf("a conflicting revert changed the repository:\n%s\nwas\n%s", after, before)
	}

	// A root commit reverts to nothing of its own.
	steps, conflicts, err = r.RevertSteps(t.Context(), root, head2, "i3")
	if err != nil || len(conflicts) > 0 || len(steps) != 1 || steps[0].Paths[0] != "root.txt" || !strings.Contains(steps[0].Diff, "deleted file") {
		t.Errorf("root revert: %+v, %v, %v", steps, conflicts, err)
	}
}
