package gitrepo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// gitSays is git's own answer, for comparison with the fast paths.
func gitSays(t *testing.T, dir string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err == nil
}

// The refs read from the files answer as git does, in every layout the
// fast paths accept, and fall back to git in those they do not.
func TestFastRefsAgreeWithGit(t *testing.T) {
	ctx := context.Background()
	r, git := notesRepo(t)
	dir := r.Root
	check := func(t *testing.T, branches ...string) {
		t.Helper()
		r, err := Open(ctx, dir) // no state carried over
		if err != nil {
			t.Fatal(err)
		}
		got, _ := r.CurrentBranch(ctx)
		want, _ := gitSays(t, dir, "symbolic-ref", "--quiet", "--short", "HEAD")
		if got != want {
			t.Errorf("CurrentBranch = %q, git says %q", got, want)
		}
		for range 2 { // the second from the commit cache
			got, err := r.ResolveCommit(ctx, "HEAD")
			want, ok := gitSays(t, dir, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
			if got != want || (err == nil) != ok {
				t.Errorf("ResolveCommit(HEAD) = %q, %v; git says %q, %v", got, err, want, ok)
			}
		}
		for _, b := range branches {
			got, err := r.BranchHead(ctx, b)
			want, ok := gitSays(t, dir, "rev-parse", "--verify", "--quiet", "refs/heads/"+b)
			if got != want || (err == nil) != ok {
				t.Errorf("BranchHead(%s) = %q, %v; git says %q, %v", b, got, err, want, ok)
			}
			if !ok && agentos.ErrorCode(err) != agentos.ENOTFOUND {
				t.Errorf("BranchHead(%s): %v, want not_found", b, err)
			}
		}
	}
	t.Run("loose", func(t *testing.T) { check(t, "main", "nope") })
	git("branch", "feature/x")
	git("checkout", "-q", "feature/x")
	t.Run("a branch with a slash", func(t *testing.T) { check(t, "main", "feature/x", "feature") })
	git("pack-refs", "--all")
	t.Run("packed", func(t *testing.T) { check(t, "main", "feature/x", "feature/y") })
	git("commit", "-q", "--allow-empty", "-m", "after packing")
	t.Run("loose over packed", func(t *testing.T) { check(t, "main", "feature/x") })
	git("tag", "feature/x")
	t.Run("a tag of the branch's name (git shortens to heads/...)", func(t *testing.T) { check(t, "feature/x") })
	git("checkout", "-q", "--detach")
	t.Run("detached", func(t *testing.T) { check(t, "main") })
	git("checkout", "-q", "main")
	git("replace", "main", "feature/x")
	t.Run("replace refs", func(t *testing.T) { check(t, "main") })
}

// Once git has answered, the policy's commit and agentos.yaml there are
// known without it: with no git on PATH at all, the answers still come,
// and they are git's.
func TestFastRefsNeedNoGit(t *testing.T) {
	ctx := context.Background()
	r, git := notesRepo(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(r.Root, agentos.PolicyFile), []byte("version: 1\n"), 0o644))
	git("add", ".")
	git("commit", "-q", "-m", "policy")
	git("branch", "side")
	head, err := r.ResolveCommit(ctx, "HEAD")
	must(err)
	want, ok, err := r.FileAt(ctx, head, agentos.PolicyFile)
	must(err)
	first, _ := gitSays(t, r.Root, "rev-list", "--max-parents=0", "HEAD")
	if _, _, err := r.FileAt(ctx, first, agentos.PolicyFile); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := exec.LookPath("git"); err == nil {
		t.Fatal("git still on PATH")
	}
	if b, _ := r.CurrentBranch(ctx); b != "main" {
		t.Errorf("CurrentBranch = %q", b)
	}
	if c, err := r.ResolveCommit(ctx, "HEAD"); c != head || err != nil {
		t.Errorf("ResolveCommit(HEAD) = %q, %v; want %s", c, err, head)
	}
	if c, err := r.BranchHead(ctx, "side"); c != head || err != nil {
		t.Errorf("BranchHead(side) = %q, %v; want %s", c, err, head)
	}
	if b, found, err := r.FileAt(ctx, head, agentos.PolicyFile); string(b) != string(want) || found != ok || err != nil {
		t.Errorf("FileAt = %q, %v, %v; want %q", b, found, err, want)
	}
	if b, found, err := r.FileAt(ctx, first, agentos.PolicyFile); b != nil || found || err != nil {
		t.Errorf("FileAt(first commit) = %q, %v, %v; want no file", b, found, err)
	}
	// What is not cached still needs git: never a guess.
	if _, _, err := r.FileAt(ctx, head, "a.txt"); err == nil {
		t.Error("a file other than the policy was answered without git")
	}
	if _, err := r.ResolveCommit(ctx, "HEAD~1"); err == nil {
		t.Error("a revision other than HEAD was answered without git")
	}
}

// Open finds a plain repository from the file system and answers as git
// does everywhere: where it cannot say (worktrees, submodules, another
// owner, core.worktree, no repository) git decides.
func TestFastOpenAgreesWithGit(t *testing.T) {
	ctx := context.Background()
	r, git := notesRepo(t)
	base := filepath.Dir(r.Root)
	mk := func(p string) string {
		t.Helper()
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sub := mk(filepath.Join(r.Root, "a", "b"))
	link := filepath.Join(base, "link")
	if err := os.Symlink(r.Root, link); err != nil {
		t.Fatal(err)
	}
	wt := filepath.Join(base, "wt")
	git("worktree", "add", "-q", wt)
	nested := mk(filepath.Join(r.Root, "nested"))
	if out, err := exec.Command("git", "init", "-q", nested).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	gitfile := mk(filepath.Join(r.Root, "gitfile"))
	if err := os.WriteFile(filepath.Join(gitfile, ".git"), []byte("gitdir: "+filepath.Join(r.Root, ".git")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := mk(filepath.Join(base, "outside"))
	for _, dir := range []string{r.Root, sub, link, filepath.Join(link, "a"), wt, nested, gitfile, filepath.Join(r.Root, ".git", "refs"), outside} {
		got, err := Open(ctx, dir)
		out, gerr := gitSays(t, dir, "rev-parse", "--show-toplevel", "--path-format=absolute", "--git-common-dir")
		if (err == nil) != gerr {
			t.Errorf("%s: Open error %v, git ok %v", dir, err, gerr)
			continue
		}
		if err != nil {
			continue
		}
		root, common, _ := strings.Cut(out, "\n")
		if c := filepath.Dir(common); c != root && filepath.Base(common) == ".git" {
			root = c // a linked worktree governs its main repository
		}
		if got.Root != root || got.common != common {
			t.Errorf("%s: Open = %s, %s; git says %s, %s", dir, got.Root, got.common, root, common)
		}
	}
	t.Run("without git", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		got, err := Open(ctx, sub)
		if err != nil || got.Root != r.Root {
			t.Fatalf("Open(%s) = %+v, %v; want %s found without git", sub, got, err, r.Root)
		}
		for _, dir := range []string{wt, gitfile} {
			if _, err := Open(ctx, dir); err == nil {
				t.Errorf("Open(%s) answered without git", dir)
			}
		}
		git := func(args ...string) {
			t.Helper()
			cmd := exec.Command("/usr/bin/env", append([]string{"git", "-C", r.Root}, args...)...)
			cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin:/usr/local/bin")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v %s", err, out)
			}
		}
		git("config", "core.worktree", sub)
		if _, err := Open(ctx, r.Root); err == nil {
			t.Error("core.worktree: answered without git")
		}
		git("config", "--unset", "core.worktree")
		if os.Geteuid() == 0 {
			if err := os.Chown(r.Root, 12345, 12345); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(ctx, r.Root); err == nil {
				t.Error("a repository of another owner: answered without git")
			}
		}
	})
}
