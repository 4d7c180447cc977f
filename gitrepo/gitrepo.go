// Package gitrepo runs git for AgentOS: repository discovery, worktrees,
// diffs and their hashes, commits with trailers, compare-and-swap ref
// updates, three-way rebase and revert. It shells out to the git binary so
// that git's own merge machinery decides conflicts.
package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox"
)

// Repo is a git repository (its main working tree).
type Repo struct {
	Root string // absolute path of the main working tree

	common string // the git common directory, absolute ("" if unknown)
}

// Open finds the repository containing dir.
func Open(ctx context.Context, dir string) (*Repo, error) {
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, agentos.Errorf(agentos.EINVALID, "%s does not exist: pass an existing repository with -C", abs)
	}
	// A plain repository is found without git (fastref.go).
	if root, common, ok := fastOpen(abs); ok {
		return &Repo{Root: root, common: common}, nil
	}
	// One git for both answers (each git start is a few milliseconds of
	// every agentos command); a git too old for --path-format answers the
	// top level alone.
	out, err := run(ctx, abs, nil, "rev-parse", "--show-toplevel", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		if out, err = run(ctx, abs, nil, "rev-parse", "--show-toplevel"); err != nil {
			return nil, agentos.Errorf(agentos.EINVALID, "%s is not a git repository: run `git init` there first, or pass -C DIR", abs)
		}
	}
	root, common, _ := strings.Cut(strings.TrimSpace(out), "\n")
	// A linked worktree is not the repository we govern.
	if common = strings.TrimSpace(common); common != "" {
		c := filepath.Dir(common)
		if c != root && filepath.Base(common) == agentos.GitDir {
			root = c
		}
	} else {
		common = ""
	}
	return &Repo{Root: root, common: common}, nil
}

// Dir is the main working tree's absolute path.
func (r *Repo) Dir() string { return r.Root }

// Git runs git in the main tree and returns stdout.
func (r *Repo) Git(ctx context.Context, args ...string) (string, error) {
	return run(ctx, r.Root, nil, args...)
}

// GitIn runs git in dir (a worktree) with extra environment.
func GitIn(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	return run(ctx, dir, env, args...)
}

// GitError carries git's stderr.
type GitError struct {
	Args   []string
	Stderr string
	Err    error
}

func (e *GitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if i := strings.IndexByte(msg, '\n'); i >= 0 && len(msg) > 400 {
		msg = msg[:i]
	}
	return fmt.Sprintf("git %s: %s", strings.Join(e.Args, " "), msg)
}

func (e *GitError) Unwrap() error { return e.Err }

// baseEnv keeps git deterministic and independent of the user's config
// quirks that would change diff bytes (and so diff hashes).
func baseEnv() []string {
	env := os.Environ()
	// GIT_OPTIONAL_LOCKS=0: `git status` must not rewrite the index, so a dry
	// run leaves the repository byte-identical.
	// No automatic gc/maintenance: it would run inside a user's command and
	// cost tens of milliseconds for nothing AgentOS needs.
	return append(env, "GIT_TERMINAL_PROMPT=0", "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1", "GIT_OPTIONAL_LOCKS=0",
		"GIT_CONFIG_COUNT=2", "GIT_CONFIG_KEY_0=maintenance.auto", "GIT_CONFIG_VALUE_0=false", "GIT_CONFIG_KEY_1=gc.auto", "GIT_CONFIG_VALUE_1=0")
}

func run(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	// A strings.Builder: the output is returned without a final copy (a
	// diff may be as large as limits.file_bytes).
	var out strings.Builder
	err := runTo(ctx, dir, env, &out, args...)
	return out.String(), err
}

// gitCommand is the one place AgentOS starts git. Every git runs in its
// own process group, so a terminal's Ctrl-C or hang-up reaches AgentOS and
// not git: AgentOS decides (a worker finishing its grace period still
// commits and integrates), and cancelling ctx kills git's whole group (ssh,
// hooks) rather than git alone. The exceptions are the commands that talk
// to a remote (fetch, push, ls-remote): ssh asks for a passphrase on the
// terminal, which a background process group cannot read (it would stop on
// SIGTTIN), so they stay in the terminal's group and its Ctrl-C stops them.
// GIT_TERMINAL_PROMPT=0 (baseEnv) keeps git itself from prompting.
func gitCommand(ctx context.Context, dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), env...)
	if !mayPrompt(args) {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error {
			// The group's id is git's pid (Setpgid with Pgid 0).
			if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
				return cmd.Process.Kill()
			}
			return nil
		}
	}
	return cmd
}

// mayPrompt reports whether git args may prompt on the terminal: the
// commands that reach a remote (over ssh, a passphrase).
func mayPrompt(args []string) bool {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-c" || a == "-C":
			i++ // its value
		case strings.HasPrefix(a, "-"):
		default:
			return a == "fetch" || a == "push" || a == "ls-remote" || a == "pull" || a == "clone"
		}
	}
	return false
}

// runTo runs git with its output streamed to w.
func runTo(ctx context.Context, dir string, env []string, w io.Writer, args ...string) error {
	cmd := gitCommand(ctx, dir, env, args...)
	var errb bytes.Buffer
	cmd.Stdout = w
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return &GitError{Args: args, Stderr: errb.String(), Err: err}
	}
	return nil
}

// CurrentBranch returns the branch checked out in the main tree ("" if detached).
func (r *Repo) CurrentBranch(ctx context.Context) (string, error) {
	if b, ok := r.fastCurrentBranch(); ok {
		return b, nil
	}
	out, err := r.Git(ctx, "symbolic-ref", "--quiet", "--short", "HEAD")
	if err != nil {
		return "", nil
	}
	return strings.TrimSpace(out), nil
}

// ResolveCommit returns the full sha of rev, or a not_found error.
func (r *Repo) ResolveCommit(ctx context.Context, rev string) (string, error) {
	// HEAD from the files, when git said before that it is a commit
	// (fastref.go).
	var head string
	if rev == "HEAD" {
		if id, ok := r.fastHead(); ok {
			if r.knownCommit(id) {
				return id, nil
			}
			head = id
		}
	}
	out, err := r.Git(ctx, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	if err != nil {
		return "", agentos.Errorf(agentos.ENOTFOUND, "%s is not a commit in %s", rev, r.Root)
	}
	id := strings.TrimSpace(out)
	if head != "" && head == id {
		r.remember(id, "commit", nil)
	}
	return id, nil
}

// BranchHead returns the commit a branch points to.
func (r *Repo) BranchHead(ctx context.Context, branch string) (string, error) {
	if id, found, ok := r.fastBranchHead(branch); ok {
		if !found {
			return "", agentos.Errorf(agentos.ENOTFOUND, "branch %s does not exist (does the repository have a first commit?)", branch)
		}
		return id, nil
	}
	out, err := r.Git(ctx, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch)
	if err != nil {
		return "", agentos.Errorf(agentos.ENOTFOUND, "branch %s does not exist (does the repository have a first commit?)", branch)
	}
	return strings.TrimSpace(out), nil
}

// DirtyPaths returns the paths with uncommitted changes (staged, unstaged or
// untracked) in the main working tree at, under or above the given paths
// (nil: anywhere). Limiting git's status to those paths keeps its cost to
// them instead of a stat of every file and a scan of every directory.
func (r *Repo) DirtyPaths(ctx context.Context, paths []string) ([]string, error) {
	return r.DirtyPathsIn(ctx, r.Root, paths)
}

// DirtyPathsIn is DirtyPaths in worktree wt.
func (r *Repo) DirtyPathsIn(ctx context.Context, wt string, paths []string) ([]string, error) {
	args := []string{"status", "--porcelain=v1", "-z", "--untracked-files=all"}
	if paths != nil {
		args = append(args, "--")
		seen := map[string]bool{}
		add := func(p string) {
			if !seen[p] {
				seen[p] = true
				args = append(args, ":(top,literal)"+p)
			}
		}
		for _, p := range paths {
			if p == "" || p == "." {
				args = args[:4] // the whole tree
				break
			}
			add(p)
			// A parent that is (or was) a file is a change above the path.
			// One that is a directory on disk cannot be: naming it would
			// only widen the scan to its whole subtree.
			for d := path.Dir(p); d != "."; d = path.Dir(d) {
				if fi, err := os.Lstat(filepath.Join(wt, filepath.FromSlash(d))); err != nil || !fi.IsDir() {
					add(d)
				}
			}
		}
		if len(args) == 5 {
			return nil, nil // no paths
		}
	}
	out, err := run(ctx, wt, nil, args...)
	if err != nil {
		return nil, err
	}
	var dirty []string
	fields := strings.Split(out, "\x00")
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if len(f) < 4 {
			continue
		}
		status, p := f[:2], f[3:]
		dirty = append(dirty, p)
		if status[0] == 'R' || status[0] == 'C' {
			i++ // the next field is the rename source
			if i < len(fields) && fields[i] != "" {
				dirty = append(dirty, fields[i])
			}
		}
	}
	sort.Strings(dirty)
	return dirty, nil
}

// Exists reports whether path exists as a file or tree in commit.
func (r *Repo) Exists(ctx context.Context, commit, path string) bool {
	_, err := r.Git(ctx, "cat-file", "-e", commit+":"+path)
	return err == nil
}

// DiffHash is the one definition of a commit's diff hash (trailer
// AgentOS-Diff): SHA-256 over `git diff --binary --full-index --no-renames
// PARENT COMMIT`, with git's config kept out so any clone computes the same.
func (r *Repo) DiffHash(ctx context.Context, parent, commit string) (string, error) {
	// Hashed as git writes it: the whole diff is never held in memory.
	h := sha256.New()
	err := runTo(ctx, r.Root, nil, h, "-c", "core.quotePath=true", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false",
		"diff", "--binary", "--full-index", "--no-renames", "--no-ext-diff", "--no-textconv", "--no-color", parent, commit)
	if err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// AddWorktree creates a worktree at dir on a new branch at base. An existing
// worktree or branch of the same name (from an earlier attempt) is replaced.
func (r *Repo) AddWorktree(ctx context.Context, dir, branch, base string) error {
	if _, err := os.Stat(dir); err == nil {
		r.RemoveWorktree(ctx, dir, "")
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	// -B resets a leftover branch of an earlier attempt.
	if _, err := r.Git(ctx, "worktree", "add", "--quiet", "-B", branch, dir, base); err != nil {
		// A stale registration (directory deleted by hand) blocks the
		// branch: prune and try once more.
		r.Git(ctx, "worktree", "prune")
		_, err = r.Git(ctx, "worktree", "add", "--quiet", "-B", branch, dir, base)
		return err
	}
	return nil
}

// AddDetachedWorktree creates a scratch worktree at dir with commit checked
// out detached: no branch or ref is created.
func (r *Repo) AddDetachedWorktree(ctx context.Context, dir, commit string) error {
	_, err := r.Git(ctx, "worktree", "add", "--quiet", "--detach", dir, commit)
	return err
}

// RemoveWorktree removes a worktree directory and its branch, ignoring what is
// already gone.
func (r *Repo) RemoveWorktree(ctx context.Context, dir, branch string) {
	if _, err := os.Stat(dir); err == nil {
		if _, err := r.Git(ctx, "worktree", "remove", "--force", dir); err != nil {
			os.RemoveAll(dir)
			r.Git(ctx, "worktree", "prune")
		}
	}
	if branch != "" {
		r.Git(ctx, "branch", "-D", branch)
	}
}

// identityEnv makes id the author and committer of a commit.
func identityEnv(id agentos.CommitIdentity) []string {
	return []string{
		"GIT_AUTHOR_NAME=" + id.Name, "GIT_AUTHOR_EMAIL=" + id.Email,
		"GIT_COMMITTER_NAME=" + id.Name, "GIT_COMMITTER_EMAIL=" + id.Email,
	}
}

// StageAll stages every change in the worktree and returns whether anything
// differs from HEAD.
func (r *Repo) StageAll(ctx context.Context, wt string) (bool, error) {
	if _, err := run(ctx, wt, nil, "add", "--all", "--", "."); err != nil {
		return false, err
	}
	_, err := run(ctx, wt, nil, "diff", "--cached", "--quiet")
	if err == nil {
		return false, nil
	}
	var ge *GitError
	if errors.As(err, &ge) {
		var ee *exec.ExitError
		if errors.As(ge.Err, &ee) && ee.ExitCode() == 1 {
			return true, nil
		}
	}
	return false, err
}

// CommitTree writes tree as a commit with parent and message, without
// moving any ref, and returns its sha.
func (r *Repo) CommitTree(ctx context.Context, tree, parent, message string, id agentos.CommitIdentity) (string, error) {
	args := append(signArgs(id), "commit-tree", tree, "-p", parent, "-F", "-")
	if id.Sign {
		args = append(args, "-S")
	}
	cmd := gitCommand(ctx, r.Root, identityEnv(id), args...)
	cmd.Stdin = strings.NewReader(message)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if id.Sign {
			return "", signError(id, errb.String(), err)
		}
		return "", &GitError{Args: []string{"commit-tree"}, Stderr: errb.String(), Err: err}
	}
	sha := strings.TrimSpace(out.String())
	if id.Sign {
		// Signing was asked for: an unsigned commit is never made.
		if signed, err := r.CommitSigned(ctx, sha); err != nil || !signed {
			return "", signError(id, "git wrote no signature", err)
		}
	}
	return sha, nil
}

// WriteTree writes the index of worktree wt as a tree and returns its sha.
func (r *Repo) WriteTree(ctx context.Context, wt string) (string, error) {
	out, err := run(ctx, wt, nil, "write-tree")
	return strings.TrimSpace(out), err
}

// ResetSoft points worktree wt's HEAD at commit, keeping index and files.
func (r *Repo) ResetSoft(ctx context.Context, wt, commit string) error {
	_, err := run(ctx, wt, nil, "reset", "--quiet", "--soft", commit)
	return err
}

// StagedPaths lists the paths whose staged content in worktree wt differs
// from commit.
func (r *Repo) StagedPaths(ctx context.Context, wt, commit string) ([]string, error) {
	out, err := run(ctx, wt, nil, "diff", "--cached", "--name-only", "--no-renames", "-z", commit)
	if err != nil {
		return nil, err
	}
	return splitNUL(out), nil
}

// Head returns the commit worktree wt has checked out.
func (r *Repo) Head(ctx context.Context, wt string) (string, error) {
	out, err := run(ctx, wt, nil, "rev-parse", "--verify", "--quiet", "HEAD")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

// Trailers parses the AgentOS trailers of a commit.
func (r *Repo) Trailers(ctx context.Context, commit string) (map[string]string, error) {
	out, err := r.Git(ctx, "log", "-1", "--format=%(trailers:only,unfold)", commit)
	if err != nil {
		return nil, err
	}
	t := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if ok && strings.HasPrefix(k, "AgentOS-") {
			t[k] = strings.TrimSpace(v)
		}
	}
	return t, nil
}

// TaskCommits lists the commits on branch whose message carries an
// AgentOS-Task trailer, newest first.
func (r *Repo) TaskCommits(ctx context.Context, branch string) ([]string, error) {
	out, err := r.Git(ctx, "log", "--format=%H %(trailers:key="+agentos.TrailerTask+",valueonly,separator=%x2C)", "refs/heads/"+branch, "--")
	if err != nil {
		return nil, err
	}
	var shas []string
	for _, line := range strings.Split(out, "\n") {
		sha, task, _ := strings.Cut(strings.TrimSpace(line), " ")
		if sha != "" && strings.TrimSpace(task) != "" {
			shas = append(shas, sha)
		}
	}
	return shas, nil
}

// CommitOfRun returns the newest commit on branch whose message names
// runID in an AgentOS-Run trailer, or "" when there is none.
func (r *Repo) CommitOfRun(ctx context.Context, branch, runID string) (string, error) {
	out, err := r.Git(ctx, "log", "-1", "--format=%H", "--fixed-strings", "--grep", agentos.TrailerRun+": "+runID, "refs/heads/"+branch)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

// Parent returns the first parent of commit.
func (r *Repo) Parent(ctx context.Context, commit string) (string, error) {
	out, err := r.Git(ctx, "rev-parse", "--verify", "--quiet", commit+"^1")
	if err != nil {
		return "", agentos.Errorf(agentos.EINVALID, "commit %s has no parent", commit)
	}
	return strings.TrimSpace(out), nil
}

// UpdateRef moves refs/heads/branch from old to new atomically; it fails
// when the branch no longer points at old.
func (r *Repo) UpdateRef(ctx context.Context, branch, newSHA, oldSHA, reason string) error {
	_, err := r.Git(ctx, "update-ref", "-m", reason, "refs/heads/"+branch, newSHA, oldSHA)
	if err != nil {
		return agentos.WrapError(agentos.ECONFLICT, err, "branch %s moved while integrating", branch)
	}
	return nil
}

// IsAncestor reports whether a is an ancestor of b.
func (r *Repo) IsAncestor(ctx context.Context, a, b string) bool {
	if a == b && a != "" {
		return true // a commit is its own ancestor: no git process for it
	}
	_, err := r.Git(ctx, "merge-base", "--is-ancestor", a, b)
	return err == nil
}

func splitNUL(out string) []string {
	var ps []string
	for _, p := range strings.Split(out, "\x00") {
		if p != "" {
			ps = append(ps, p)
		}
	}
	return ps
}

// FileDiff is the binary diff of one path between two commits, as recorded
// with a run's patches.
//
// sizeHint, when known (about what the diff adds: the new file's size
// and one byte per line), sizes the buffer the diff is read into once: a
// large diff read into a growing buffer holds its last two sizes at once.
// The bytes are the caller's: the commit's secret scan turns a large diff
// into its added lines in place.
func (r *Repo) FileDiff(ctx context.Context, from, to, path string, sizeHint int64) ([]byte, error) {
	var out bytes.Buffer
	if sizeHint > 0 {
		out.Grow(int(sizeHint + 4096)) // and the header
	}
	err := runTo(ctx, r.Root, nil, &out, "diff", "--binary", "--full-index", "--no-renames", "--no-color", from, to, "--", path)
	return out.Bytes(), err
}

// Rebase replays commit (whose parent is oldBase) onto newBase three-way in
// worktree wt, using git's merge machinery, and leaves the worktree at the
// result with the changes staged but not committed. On conflict it returns
// the conflicting paths and the conflict text, and resets the worktree.
func (r *Repo) Rebase(ctx context.Context, wt, commit, newBase string) (conflicts []string, detail string, err error) {
	if _, err := GitIn(ctx, wt, nil, "reset", "--quiet", "--hard", newBase); err != nil {
		return nil, "", err
	}
	_, cerr := GitIn(ctx, wt, nil, "-c", "merge.conflictStyle=merge", "cherry-pick", "--no-commit", "--allow-empty", commit)
	if cerr == nil {
		return nil, "", nil
	}
	out, _ := GitIn(ctx, wt, nil, "diff", "--name-only", "--diff-filter=U")
	for _, p := range strings.Split(strings.TrimSpace(out), "\n") {
		if p != "" {
			conflicts = append(conflicts, p)
		}
	}
	if len(conflicts) == 0 {
		return nil, "", cerr
	}
	d, _ := GitIn(ctx, wt, nil, "diff")
	GitIn(ctx, wt, nil, "cherry-pick", "--abort")
	GitIn(ctx, wt, nil, "reset", "--quiet", "--hard", newBase)
	return conflicts, d, nil
}

// ApplyPatch applies a unified diff to the worktree's files (in view's
// namespace when v is set).
func (r *Repo) ApplyPatch(ctx context.Context, v *sandbox.View, wt string, diff []byte) error {
	_, err := gitVia(ctx, v, wt, nil, diff, "apply", "--whitespace=nowarn", "-")
	return err
}

// CheckPatch reports whether diff applies cleanly to the tree at commit
// without touching anything: it uses a throwaway index.
func (r *Repo) CheckPatch(ctx context.Context, commit string, diff []byte) error {
	idx, err := os.CreateTemp("", "agentos-index-*")
	if err != nil {
		return err
	}
	idx.Close()
	defer os.Remove(idx.Name())
	env := []string{"GIT_INDEX_FILE=" + idx.Name()}
	if _, err := run(ctx, r.Root, env, "read-tree", commit); err != nil {
		return err
	}
	cmd := gitCommand(ctx, r.Root, env, "apply", "--cached", "--check", "-")
	cmd.Stdin = bytes.NewReader(diff)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return &GitError{Args: []string{"apply", "--check"}, Stderr: errb.String(), Err: err}
	}
	return nil
}

// WorktreeOf returns the path of the worktree where branch is checked out,
// or "".
func (r *Repo) WorktreeOf(ctx context.Context, branch string) string {
	out, err := r.Git(ctx, "worktree", "list", "--porcelain")
	if err != nil {
		return ""
	}
	var path string
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "worktree "); ok {
			path = p
		}
		if b, ok := strings.CutPrefix(line, "branch "); ok && b == "refs/heads/"+branch {
			return path
		}
	}
	return ""
}

// ListTree lists every file and directory of commit (recursively), reading
// only the object database.
func (r *Repo) ListTree(ctx context.Context, commit string) ([]agentos.TreeEntry, error) {
	out, err := r.Git(ctx, "ls-tree", "-r", "-t", "-z", "--full-tree", commit)
	if err != nil {
		return nil, err
	}
	var es []agentos.TreeEntry
	for _, rec := range strings.Split(out, "\x00") {
		meta, p, ok := strings.Cut(rec, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta)
		if len(f) < 2 {
			continue
		}
		es = append(es, agentos.TreeEntry{Path: p, Dir: f[1] == "tree", Symlink: f[0] == "120000"})
	}
	return es, nil
}

// CheckApplied reports whether diff is present in the worktree: its reverse
// applies cleanly.
func (r *Repo) CheckApplied(ctx context.Context, v *sandbox.View, wt string, diff []byte) error {
	_, err := gitVia(ctx, v, wt, nil, diff, "apply", "--reverse", "--check", "--whitespace=nowarn", "-")
	return err
}

// ErrPushRejected is the cause of a push the remote refused because the
// branch moved (not a fast-forward): fetch, rebase and try again.
var ErrPushRejected = errors.New("the remote branch moved (not a fast-forward)")

// FetchBranch fetches branch from remote into refs/remotes/REMOTE/BRANCH
// and returns the commit it points to there.
func (r *Repo) FetchBranch(ctx context.Context, remote, branch string) (string, error) {
	tracking := "refs/remotes/" + remote + "/" + branch
	// A fetch checks connectivity against every ref, the HEADs of the
	// other worktrees included; one that another run is adding or removing
	// at that moment fails it. Such a failure passes: try a few times.
	var err error
	for try := range 6 {
		if _, err = r.Git(ctx, "fetch", "--quiet", "--no-tags", "--", remote, "+refs/heads/"+branch+":"+tracking); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(try+1) * 50 * time.Millisecond):
		}
	}
	if err != nil {
		return "", agentos.WrapError(agentos.ECONFLICT, err, "cannot fetch %s from %s: %v", branch, remote, err)
	}
	out, err := r.Git(ctx, "rev-parse", "--verify", "--quiet", tracking)
	if err != nil {
		return "", agentos.Errorf(agentos.ENOTFOUND, "remote %s has no branch %s", remote, branch)
	}
	return strings.TrimSpace(out), nil
}

// HasCommit reports whether the object database holds commit.
func (r *Repo) HasCommit(ctx context.Context, commit string) bool {
	_, err := r.Git(ctx, "cat-file", "-e", commit+"^{commit}")
	return err == nil
}

// PushFastForward pushes commit to branch on remote, never forcing. A push
// the remote refuses because the branch moved returns an error wrapping
// ErrPushRejected (ECONFLICT: fetch, rebase, try again); any other refusal
// (a hook, permissions) is EDENIED.
func (r *Repo) PushFastForward(ctx context.Context, remote, commit, branch string) error {
	out, err := r.Git(ctx, "push", "--porcelain", "--quiet", "--", remote, commit+":refs/heads/"+branch)
	if err == nil {
		return nil
	}
	var ge *GitError
	detail := out
	if errors.As(err, &ge) {
		detail += ge.Stderr
	}
	// --porcelain marks a refused ref with "!" and says why in brackets.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "!") && (strings.Contains(line, "non-fast-forward") || strings.Contains(line, "fetch first")) {
			return agentos.WrapError(agentos.ECONFLICT, fmt.Errorf("%w: %s", ErrPushRejected, strings.TrimSpace(line)), "%s on %s moved while pushing", branch, remote)
		}
	}
	// Not a move: retrying cannot help (integrate retries conflicts only).
	return agentos.WrapError(agentos.EDENIED, err, "push of %s to %s on %s was refused: %s", commit, branch, remote, strings.TrimSpace(detail))
}

// TreeReader reads one commit's tree a directory at a time through a
// single `git cat-file --batch`: what a check needs of a large tree costs
// the directories it looks at, not a listing of every file.
type TreeReader struct {
	commit string
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
}

// ReadTree starts a TreeReader on commit; Close it.
func (r *Repo) ReadTree(ctx context.Context, commit string) (agentos.DirLister, error) {
	cmd := gitCommand(ctx, r.Root, nil, "cat-file", "--batch")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &TreeReader{commit: commit, cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

// ListDir lists the entries directly in dir ("." for the root), with full
// paths; nil when dir is not a directory of the commit.
func (tr *TreeReader) ListDir(dir string) ([]agentos.TreeEntry, error) {
	if strings.ContainsAny(dir, "\n\x00") {
		return nil, fmt.Errorf("path %q cannot be looked up", dir)
	}
	spec := tr.commit + ":" + dir
	if dir == "." || dir == "" {
		spec, dir = tr.commit+"^{tree}", ""
	}
	if _, err := io.WriteString(tr.in, spec+"\n"); err != nil {
		return nil, err
	}
	head, err := tr.out.ReadString('\n')
	if err != nil {
		return nil, err
	}
	f := strings.Fields(head)
	if len(f) != 3 {
		return nil, nil // missing, ambiguous: not a directory
	}
	size, err := strconv.Atoi(f[2])
	if err != nil {
		return nil, fmt.Errorf("git cat-file: unexpected %q", head)
	}
	body := make([]byte, size+1) // and the newline
	if _, err := io.ReadFull(tr.out, body); err != nil {
		return nil, err
	}
	if f[1] != "tree" {
		return nil, nil
	}
	hashLen := len(f[0]) / 2
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	var es []agentos.TreeEntry
	for b := body[:size]; len(b) > 0; {
		sp := bytes.IndexByte(b, ' ')
		nul := bytes.IndexByte(b, 0)
		if sp < 0 || nul < sp || nul+1+hashLen > len(b) {
			return nil, fmt.Errorf("git cat-file: malformed tree %s", f[0])
		}
		mode, name := string(b[:sp]), string(b[sp+1:nul])
		es = append(es, agentos.TreeEntry{Path: prefix + name, Dir: mode == "40000", Symlink: mode == "120000"})
		b = b[nul+1+hashLen:]
	}
	return es, nil
}

// Close ends the reader's git process.
func (tr *TreeReader) Close() error {
	tr.in.Close()
	return tr.cmd.Wait()
}
