package coordinator

import (
	"context"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox"
)

// Git is what the pipeline needs of the repository it governs: exactly the
// operations it performs, each named, so the pipeline never composes git
// argv itself. Package gitrepo implements it by shelling out to git (whose
// merge machinery decides conflicts); tests may hand in another.
//
// Methods without a wt argument act on the main repository (its object
// database, refs and main working tree); methods taking wt act inside that
// worktree (a task's own worktree, a scratch worktree, or the tree where the
// target branch is checked out).
type Git interface {
	// Dir is the main working tree's absolute path.
	Dir() string

	// Commits and refs.
	ResolveCommit(ctx context.Context, rev string) (string, error)
	HasCommit(ctx context.Context, commit string) bool
	Parent(ctx context.Context, commit string) (string, error)
	IsAncestor(ctx context.Context, a, b string) bool
	CurrentBranch(ctx context.Context) (string, error)
	BranchHead(ctx context.Context, branch string) (string, error)
	// UpdateRef moves branch from oldSHA to newSHA, failing (conflict) when
	// it no longer points at oldSHA: the CAS of red line 8.
	UpdateRef(ctx context.Context, branch, newSHA, oldSHA, reason string) error
	Trailers(ctx context.Context, commit string) (map[string]string, error)
	// TaskCommits lists the commits on branch that carry an AgentOS-Task
	// trailer; CommitOfRun finds the one naming a run ("" if none).
	TaskCommits(ctx context.Context, branch string) ([]string, error)
	CommitOfRun(ctx context.Context, branch, runID string) (string, error)

	// Trees and diffs.
	// ReadTree reads commit's tree a directory at a time (plan checks read
	// only the directories a plan names).
	ReadTree(ctx context.Context, commit string) (agentos.DirLister, error)
	// DirtyPaths lists the main working tree's uncommitted changes at,
	// under or above paths (nil: all).
	DirtyPaths(ctx context.Context, paths []string) ([]string, error)
	// DiffHash is the AgentOS-Diff hash of parent..commit.
	DiffHash(ctx context.Context, parent, commit string) (string, error)
	FileDiff(ctx context.Context, from, to, path string, sizeHint int64) ([]byte, error)
	// FileUpTo reads path in commit (ok false: no such file), not reading a
	// file larger than limit (content nil, size set).
	FileUpTo(ctx context.Context, commit, path string, limit int64) (content []byte, size int64, ok bool, err error)
	CheckPatch(ctx context.Context, commit string, diff []byte) error

	// Worktrees.
	AddWorktree(ctx context.Context, dir, branch, base string) error
	AddDetachedWorktree(ctx context.Context, dir, commit string) error
	RemoveWorktree(ctx context.Context, dir, branch string)
	WorktreeOf(ctx context.Context, branch string) string

	// Copy-on-write worktrees (layer.go): a base checkout (files in tree,
	// its own git directory gitdir) shared by the tasks on one commit, and
	// a task's upper layer over it, seen through view.
	// PrepareBase moves a base checkout from commit from ("" for none) to
	// to, rewriting only the paths that differ.
	PrepareBase(ctx context.Context, tree, gitdir, from, to string) error
	// StageLayer writes the tree of base plus the layer's change and the
	// paths that differ from base, reading only the paths the layer holds.
	// view opens the task's view when the layer alone does not do.
	StageLayer(ctx context.Context, view func() (*sandbox.View, error), tree, gitdir, upper, base string) (string, []string, error)
	// ReplayTree replays commit (parent's child) onto head three-way
	// without a worktree: the tree, or the conflicts and their hunks.
	ReplayTree(ctx context.Context, commit, parent, head string) (string, []string, string, error)
	// RevertSteps computes the revert of commit on head as patch steps
	// (one per changed file), or the conflicting paths, from git's objects
	// alone: no worktree, and nothing written to the repository.
	RevertSteps(ctx context.Context, commit, head, intentID string) (steps []agentos.Step, conflicts []string, err error)
	// TreeSteps lists what differs from base to treeSHA as patch steps.
	TreeSteps(ctx context.Context, base, treeSHA, intentID string) ([]agentos.Step, error)
	// Materialize makes view (head plus an empty layer) hold treeSHA.
	Materialize(ctx context.Context, view *sandbox.View, tree, gitdir, upper, head, treeSHA string) error
	// SetBranch points branch at commit unconditionally (a task's own
	// branch only).
	SetBranch(ctx context.Context, branch, commit string) error

	// Inside a worktree.
	// ApplyPatch and CheckApplied run in view's namespace when it is set
	// (a copy-on-write worktree, whose path wt only that namespace sees).
	ApplyPatch(ctx context.Context, view *sandbox.View, wt string, diff []byte) error
	CheckApplied(ctx context.Context, view *sandbox.View, wt string, diff []byte) error
	StageAll(ctx context.Context, wt string) (bool, error)
	StagedPaths(ctx context.Context, wt, commit string) ([]string, error)
	WriteTree(ctx context.Context, wt string) (string, error)
	// CommitTree writes tree as a commit without moving any ref.
	// Only commit.go calls it (red lines 4 and 7; TestCommitTreeHasOneCaller).
	CommitTree(ctx context.Context, tree, parent, message string, id agentos.CommitIdentity) (string, error)
	ResetSoft(ctx context.Context, wt, commit string) error
	Rebase(ctx context.Context, wt, commit, newBase string) (conflicts []string, detail string, err error)
	Head(ctx context.Context, wt string) (string, error)
	// FastForwardCheckout moves branch, checked out in wt at from, to its
	// descendant to, rewriting only the paths that differ; when any of them
	// has uncommitted changes in wt it touches nothing and returns them.
	FastForwardCheckout(ctx context.Context, wt, branch, from, to, reason string) (dirty []string, err error)

	// Attestations and signatures (attest.go). AddNote sets commit's note
	// under ref without a working tree, by compare-and-swap on ref; Note
	// reads it (ENOTFOUND when none).
	AddNote(ctx context.Context, ref, commit string, note []byte, id agentos.CommitIdentity) error
	Note(ctx context.Context, ref, commit string) ([]byte, error)
	// SignsCommits is the repository's commit.gpgsign with gpg.format ssh;
	// GitSigningKey its user.signingkey when gpg.format is ssh.
	SignsCommits(ctx context.Context) bool
	GitSigningKey(ctx context.Context) string
	CommitSigned(ctx context.Context, commit string) (bool, error)
	// VerifyCommit runs git verify-commit, against allowedSigners when set.
	VerifyCommit(ctx context.Context, commit, allowedSigners string) (string, error)

	// Remotes.
	FetchBranch(ctx context.Context, remote, branch string) (string, error)
	PushFastForward(ctx context.Context, remote, commit, branch string) error
}
