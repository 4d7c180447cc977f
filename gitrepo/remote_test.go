package gitrepo_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/gitrepo"
)

// A push never forces: when the remote moved, it is refused with
// ErrPushRejected (retryable) and the remote keeps its commit.
func TestPushFastForwardOnly(t *testing.T) {
	root := t.TempDir()
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	bare := filepath.Join(root, "remote.git")
	git(root, "init", "-q", "--bare", "-b", "main", bare)
	a := filepath.Join(root, "a")
	git(root, "init", "-q", "-b", "main", a)
	os.WriteFile(filepath.Join(a, "f"), []byte("1\n"), 0o644)
	git(a, "add", "f")
	git(a, "commit", "-q", "-m", "one")
	git(a, "remote", "add", "origin", bare)
	git(a, "push", "-q", "origin", "main")

	repo, err := gitrepo.Open(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.FetchBranch(t.Context(), "origin", "main")
	if err != nil || head != git(a, "rev-parse", "main") {
		t.Fatalf("FetchBranch = %s, %v", head, err)
	}
	// Someone else moves the remote.
	b := filepath.Join(root, "b")
	git(root, "clone", "-q", bare, b)
	os.WriteFile(filepath.Join(b, "g"), []byte("2\n"), 0o644)
	git(b, "add", "g")
	git(b, "commit", "-q", "-m", "two")
	git(b, "push", "-q", "origin", "main")
	theirs := git(b, "rev-parse", "HEAD")

	// A commit on the old head is not a fast-forward any more.
	os.WriteFile(filepath.Join(a, "f"), []byte("3\n"), 0o644)
	git(a, "commit", "-q", "-am", "three")
	mine := git(a, "rev-parse", "HEAD")
	err = repo.PushFastForward(t.Context(), "origin", mine, "main")
	if !errors.Is(err, gitrepo.ErrPushRejected) || agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Fatalf("push over a moved remote = %v, want ErrPushRejected (conflict)", err)
	}
	if got := git(bare, "rev-parse", "main"); got != theirs {
		t.Fatalf("the remote moved to %s, want it kept at %s", got, theirs)
	}
	// After fetching and rebasing, the push goes through.
	if head, err = repo.FetchBranch(t.Context(), "origin", "main"); err != nil || head != theirs {
		t.Fatalf("FetchBranch = %s, %v", head, err)
	}
	git(a, "rebase", "-q", head)
	mine = git(a, "rev-parse", "HEAD")
	if err := repo.PushFastForward(t.Context(), "origin", mine, "main"); err != nil {
		t.Fatal(err)
	}
	if got := git(bare, "rev-parse", "main"); got != mine {
		t.Fatalf("remote main = %s, want %s", got, mine)
	}
	// A remote that refuses for another reason is not retried as a move.
	os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte("#!/bin/sh\necho no pushes today >&2\nexit 1\n"), 0o755)
	git(a, "commit", "-q", "--allow-empty", "-m", "four")
	err = repo.PushFastForward(t.Context(), "origin", git(a, "rev-parse", "HEAD"), "main")
	if err == nil || errors.Is(err, gitrepo.ErrPushRejected) || agentos.ErrorCode(err) == agentos.ECONFLICT {
		t.Fatalf("push refused by a hook = %v, want a non-retryable error", err)
	}
}
