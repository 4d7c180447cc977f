package coordinator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox"
)

// Copy-on-write task worktrees.
//
// A run's files are a checkout of its base commit shared read-only by every
// task on that commit (a "base", under .agentos/bases/N/), with the task's
// own overlayfs upper layer on top: .agentos/worktrees/TASK is that layer,
// and the view (base plus layer) is mounted at the same path inside each
// command's sandbox, and for AgentOS's own writes in a helper's namespace
// (sandbox.OpenView). The layer is the change: the commit is built from the
// paths it holds, removing a task's worktree removes its layer only, and a
// kept worktree costs what the task changed.
//
// Bases are immutable while used: a run holds a shared flock on its base's
// lock file for as long as the view may be mounted; a new base commit (every
// commit on the target makes one) takes a base no run holds and moves it
// with git's two-tree read-tree, which rewrites only the paths that differ
// (a new base directory, a full checkout, only when every base is in use).
// The flock dies with its process, so a crashed run never pins a base.
//
// Where the kernel or the filesystem cannot do this (probed once per kernel
// and state directory), or AGENTOS_OVERLAY=off, a run gets a full git
// worktree as before and its ReviewPack says so.

// envOverlay turns copy-on-write worktrees off ("off"), for diagnosis and
// for measuring the full-worktree path.
const envOverlay = "AGENTOS_OVERLAY"

// overlayProbes caches the probe per state directory within a process.
var overlayProbes sync.Map // state dir -> error (nil: available)

// overlayUnavailable says why runs use full worktrees here, or "".
func (c *Coordinator) overlayUnavailable() string { return OverlayUnavailable(c.StateDir, c.Env) }

// OverlayUnavailable says why the runs of the repository whose state
// directory is stateDir use full worktrees rather than copy-on-write
// layers, or "": env is the environment they see (AGENTOS_OVERLAY).
// agentos sandbox check asks it too, to probe where runs really write.
func OverlayUnavailable(stateDir string, env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, envOverlay+"="); ok && v == "off" {
			return envOverlay + "=off"
		}
	}
	if !sandbox.Confinable() {
		// A layer is visible only inside the sandbox's namespace: a
		// command that would run unconfined could not see it.
		return "the sandbox is unavailable, and a copy-on-write worktree exists only inside it"
	}
	if v, ok := overlayProbes.Load(stateDir); ok {
		if v == nil {
			return ""
		}
		return v.(error).Error()
	}
	err := probeOverlay(stateDir)
	if err == nil {
		overlayProbes.Store(stateDir, nil)
		return ""
	}
	overlayProbes.Store(stateDir, err)
	return err.Error()
}

// probeOverlay mounts a small overlay under the state directory (the
// filesystem the layers live on), remembering the answer for this kernel.
func probeOverlay(stateDir string) error {
	dir := filepath.Join(stateDir, "bases")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	marker := filepath.Join(dir, "overlay-probe")
	kernel := sandbox.KernelRelease()
	if b, err := os.ReadFile(marker); err == nil {
		k, verdict, _ := strings.Cut(strings.TrimSpace(string(b)), "\t")
		if k == kernel {
			if verdict == "ok" {
				return nil
			}
			return errors.New(verdict)
		}
	}
	err := sandbox.OverlayCheck(dir)
	verdict := "ok"
	if err != nil {
		verdict = strings.ReplaceAll(err.Error(), "\n", " ")
	}
	os.WriteFile(marker, []byte(kernel+"\t"+verdict+"\n"), 0o644)
	return err
}

// baseLease is a run's hold on a base checkout at one commit.
type baseLease struct {
	tree, git, commit string
	f                 *os.File
}

func (l *baseLease) release() {
	if l != nil && l.f != nil {
		l.f.Close() // drops the shared flock
		l.f = nil
	}
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// leaseBase returns a base checkout at commit, held shared until release.
func (c *Coordinator) leaseBase(ctx context.Context, commit string) (*baseLease, error) {
	dir := filepath.Join(c.StateDir, "bases")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	pool, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	// Choosing and moving bases is one process at a time; holding one
	// (shared) is not.
	if err := flock(pool, syscall.LOCK_EX); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var slots []int
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() {
			slots = append(slots, n)
		}
	}
	open := func(n int) (*baseLease, error) {
		s := filepath.Join(dir, strconv.Itoa(n))
		f, err := os.OpenFile(filepath.Join(s, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, err
		}
		l := &baseLease{tree: filepath.Join(s, "tree"), git: filepath.Join(s, "git"), f: f}
		b, _ := os.ReadFile(filepath.Join(s, "commit"))
		l.commit = strings.TrimSpace(string(b))
		return l, nil
	}
	// A base at commit already: share it.
	for _, n := range slots {
		l, err := open(n)
		if err != nil {
			return nil, err
		}
		if l.commit == commit {
			if err := flock(l.f, syscall.LOCK_SH); err != nil {
				l.release()
				return nil, err
			}
			touchBase(l)
			return l, nil
		}
		l.release()
	}
	move := func(l *baseLease) (*baseLease, error) {
		from := l.commit
		mark := filepath.Join(filepath.Dir(l.tree), "commit")
		// Unknown until the move is complete: an interrupted move is
		// redone from scratch.
		os.Remove(mark)
		if err := c.Repo.PrepareBase(ctx, l.tree, l.git, from, commit); err != nil {
			l.release()
			return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot prepare the base checkout at %s: %v", short(commit), err)
		}
		if err := writeAtomic(mark, commit+"\n"); err != nil {
			l.release()
			return nil, err
		}
		l.commit = commit
		if err := flock(l.f, syscall.LOCK_SH); err != nil {
			l.release()
			return nil, err
		}
		touchBase(l)
		return l, nil
	}
	// A base no run holds: move it to commit (only the differing paths).
	for _, n := range slots {
		l, err := open(n)
		if err != nil {
			return nil, err
		}
		if flock(l.f, syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			return move(l)
		}
		l.release()
	}
	// Every base is in use: a new one.
	n := 0
	for _, s := range slots {
		n = max(n, s+1)
	}
	if err := os.MkdirAll(filepath.Join(dir, strconv.Itoa(n)), 0o755); err != nil {
		return nil, err
	}
	l, err := open(n)
	if err != nil {
		return nil, err
	}
	if err := flock(l.f, syscall.LOCK_EX); err != nil {
		l.release()
		return nil, err
	}
	l.commit = ""
	return move(l)
}

// touchBase marks a base as just used: idle bases beyond maxIdleBases go
// least recently used first.
func touchBase(l *baseLease) {
	now := time.Now()
	os.Chtimes(l.f.Name(), now, now)
}

// maxIdleBases is how many base checkouts no run holds are kept: each is a
// full checkout, and more than one exists only when runs overlapped.
const maxIdleBases = 2

// GCBase is an idle base checkout housekeeping removes.
type GCBase struct {
	Path     string    `json:"path"` // relative to the repository root
	Commit   string    `json:"commit"`
	LastUsed time.Time `json:"last_used"`
}

// pruneBases removes the idle base checkouts beyond maxIdleBases, least
// recently used first. A base a run holds (its shared flock) is never
// touched, nor walked: only a base this process holds exclusively, with
// the pool locked so no run can choose it meanwhile, is removed. The cost
// follows the number of bases (at most the runs that ever overlapped).
//
// Without wait it does nothing when another process is choosing or
// preparing a base (a write command's housekeeping never waits on a
// checkout); `agentos gc` waits.
func (c *Coordinator) pruneBases(dryRun, wait bool) ([]GCBase, error) {
	dir := filepath.Join(c.StateDir, "bases")
	pool, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR, 0o644)
	if err != nil {
		return nil, nil // no bases
	}
	defer pool.Close()
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	if err := flock(pool, how); err != nil {
		if !wait && err == syscall.EWOULDBLOCK {
			return nil, nil
		}
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type idle struct {
		GCBase
		dir string
		f   *os.File
	}
	var free []idle
	defer func() {
		for _, b := range free {
			b.f.Close()
		}
	}()
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil || !e.IsDir() {
			continue
		}
		s := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(filepath.Join(s, "lock"), os.O_RDWR, 0o644)
		if err != nil {
			continue // being created: its creator holds the pool lock, so not now
		}
		if flock(f, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // in use
			continue
		}
		b := idle{dir: s, f: f}
		if fi, err := f.Stat(); err == nil {
			b.LastUsed = fi.ModTime().UTC()
		}
		cb, _ := os.ReadFile(filepath.Join(s, "commit"))
		b.Commit = strings.TrimSpace(string(cb))
		b.Path, _ = filepath.Rel(c.Repo.Dir(), s)
		free = append(free, b)
	}
	if len(free) <= maxIdleBases {
		return nil, nil
	}
	sort.Slice(free, func(i, j int) bool { return free[i].LastUsed.After(free[j].LastUsed) })
	var out []GCBase
	for _, b := range free[maxIdleBases:] {
		if !dryRun {
			if err := sandbox.RemoveLayer(b.dir); err != nil {
				return out, agentos.WrapError(agentos.EINTERNAL, err, "cannot remove the idle base checkout %s: %v", b.dir, err)
			}
		}
		out = append(out, b.GCBase)
	}
	return out, nil
}

func writeAtomic(p, content string) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// taskTree is where one run's files are: a full git worktree (base nil), or
// the task's layer over a shared base.
type taskTree struct {
	c      *Coordinator
	dir    string // run.Worktree: the git worktree, or the layer (also the view's mount point)
	branch string
	base   *baseLease
	work   string
	view   *sandbox.View
	// fallback says why this run has a full worktree ("" for a layer).
	fallback string
}

// openTree prepares a run's tree at the plan's base commit, with the task's
// branch pointing there.
func (c *Coordinator) openTree(ctx context.Context, t *agentos.Task, base string, run *agentos.Run) (*taskTree, error) {
	tt := &taskTree{c: c, dir: run.Worktree, branch: branchOf(t.ID), work: filepath.Join(filepath.Dir(run.Worktree), ".work", t.ID)}
	if tt.fallback = c.overlayUnavailable(); tt.fallback != "" {
		if err := c.Repo.AddWorktree(ctx, tt.dir, tt.branch, base); err != nil {
			return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot create the task worktree: %v", err)
		}
		return tt, nil
	}
	// What an earlier attempt left (a layer or, before, a worktree).
	c.removeTree(ctx, tt.dir, "")
	l, err := c.leaseBase(ctx, base)
	if err != nil {
		return nil, err
	}
	tt.base = l
	if err := os.MkdirAll(tt.dir, 0o755); err != nil {
		tt.release()
		return nil, err
	}
	if err := c.recordLayerBase(t.ID, base); err != nil {
		tt.release()
		return nil, err
	}
	if err := c.Repo.SetBranch(ctx, tt.branch, base); err != nil {
		tt.release()
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot create the task branch %s: %v", tt.branch, err)
	}
	return tt, nil
}

// overlay is what a command's sandbox mounts at the worktree (nil: the
// worktree is a plain directory). AgentOS's own view is closed first: one
// mount of a layer at a time.
func (tt *taskTree) overlay() (*sandbox.Overlay, error) {
	if tt.base == nil {
		return nil, nil
	}
	tt.closeView()
	if err := tt.freshWork(); err != nil {
		return nil, err
	}
	return &sandbox.Overlay{Lower: tt.base.tree, Upper: tt.dir, Work: tt.work}, nil
}

func (tt *taskTree) freshWork() error {
	sandbox.RemoveLayer(tt.work)
	return os.MkdirAll(tt.work, 0o755)
}

// path is the run's worktree as this process sees it: the worktree, or the
// mounted view of base plus layer.
func (tt *taskTree) path(ctx context.Context) (string, error) {
	if tt.base == nil {
		return tt.dir, nil
	}
	if tt.view != nil {
		return tt.view.Path, nil
	}
	if err := tt.freshWork(); err != nil {
		return "", err
	}
	v, err := sandbox.OpenView(ctx, sandbox.Overlay{Lower: tt.base.tree, Upper: tt.dir, Work: tt.work}, tt.dir)
	if err != nil {
		return "", agentos.WrapError(agentos.EINTERNAL, err, "cannot mount the task's copy-on-write worktree: %v (set %s=off to use full worktrees)", err, envOverlay)
	}
	tt.view = v
	return v.Path, nil
}

func (tt *taskTree) closeView() {
	if tt.view != nil {
		tt.view.Close()
		tt.view = nil
	}
}

// release ends the run's use of the tree; the layer (or worktree) stays
// until finishRun, gc or `agentos task clean` removes it.
func (tt *taskTree) release() {
	if tt == nil {
		return
	}
	tt.closeView()
	if tt.base != nil {
		sandbox.RemoveLayer(tt.work)
		tt.base.release()
	}
}

// stage writes the tree of the run's result and lists the paths that differ
// from parent.
func (tt *taskTree) stage(ctx context.Context, parent string) (string, []string, error) {
	c := tt.c
	if tt.base == nil {
		changed, err := c.Repo.StageAll(ctx, tt.dir)
		if err != nil || !changed {
			return "", nil, err
		}
		paths, err := c.Repo.StagedPaths(ctx, tt.dir, parent)
		if err != nil {
			return "", nil, err
		}
		tree, err := c.Repo.WriteTree(ctx, tt.dir)
		return tree, paths, err
	}
	if tt.base.commit != parent {
		return "", nil, agentos.Errorf(agentos.EINTERNAL, "the run's base checkout is at %s, not at the commit's parent %s", short(tt.base.commit), short(parent))
	}
	defer tt.closeView()
	view := func() (*sandbox.View, error) {
		if _, err := tt.path(ctx); err != nil {
			return nil, err
		}
		return tt.view, nil
	}
	return c.Repo.StageLayer(ctx, view, tt.base.tree, tt.base.git, tt.dir, parent)
}

// committed points the task's branch (and a worktree's HEAD) at sha.
func (tt *taskTree) committed(ctx context.Context, sha string) error {
	if tt.base == nil {
		return tt.c.Repo.ResetSoft(ctx, tt.dir, sha)
	}
	return tt.c.Repo.SetBranch(ctx, tt.branch, sha)
}

// rebase replays commit (parent's child) onto head: afterwards the tree
// holds head plus the replayed change, uncommitted.
func (tt *taskTree) rebase(ctx context.Context, commit, parent, head string) ([]string, string, error) {
	c := tt.c
	if tt.base == nil {
		return c.Repo.Rebase(ctx, tt.dir, commit, head)
	}
	tree, conflicts, detail, err := c.Repo.ReplayTree(ctx, commit, parent, head)
	if err != nil || len(conflicts) > 0 {
		return conflicts, detail, err
	}
	// A fresh layer over a base at head, holding the replayed change.
	tt.closeView()
	l, err := c.leaseBase(ctx, head)
	if err != nil {
		return nil, "", err
	}
	tt.base.release()
	tt.base = l
	if err := sandbox.RemoveLayer(tt.dir); err != nil {
		return nil, "", agentos.WrapError(agentos.EINTERNAL, err, "cannot reset the task's layer at %s: %v", tt.dir, err)
	}
	if err := os.MkdirAll(tt.dir, 0o755); err != nil {
		return nil, "", err
	}
	if err := c.recordLayerBase(filepath.Base(tt.dir), head); err != nil {
		return nil, "", err
	}
	if _, err := tt.path(ctx); err != nil {
		return nil, "", err
	}
	defer tt.closeView()
	if err := c.Repo.Materialize(ctx, tt.view, l.tree, l.git, tt.dir, head, tree); err != nil {
		return nil, "", agentos.WrapError(agentos.EINTERNAL, err, "cannot write the rebased change into the task's layer: %v", err)
	}
	return nil, "", nil
}

// layerSteps turns a contractor's layer over base checkout l (at base) into
// patch steps: the layer's paths are staged as a task's are (only they are
// read), and the steps are the diff from base to that tree.
func (c *Coordinator) layerSteps(ctx context.Context, l *baseLease, upper, work, base, intentID string) ([]agentos.Step, error) {
	var v *sandbox.View
	defer func() {
		if v != nil {
			v.Close()
		}
	}()
	view := func() (*sandbox.View, error) {
		sandbox.RemoveLayer(work)
		if err := os.MkdirAll(work, 0o755); err != nil {
			return nil, err
		}
		var err error
		v, err = sandbox.OpenView(ctx, sandbox.Overlay{Lower: l.tree, Upper: upper, Work: work}, upper)
		return v, err
	}
	tree, changed, err := c.Repo.StageLayer(ctx, view, l.tree, l.git, upper, base)
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot collect the contractor's changes: %v", err)
	}
	if len(changed) == 0 {
		return []agentos.Step{}, nil
	}
	return c.Repo.TreeSteps(ctx, base, tree, intentID)
}

// isLayer reports whether dir is a task's layer (not a git worktree, which
// has a .git file).
func isLayer(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, agentos.GitDir))
	return errors.Is(err, os.ErrNotExist)
}

// removeTree removes a task's layer or worktree and, when branch is set,
// its branch. A layer's removal walks the layer only, never the tree.
func (c *Coordinator) removeTree(ctx context.Context, dir, branch string) {
	if _, err := os.Lstat(dir); err == nil && !isLayer(dir) {
		c.Repo.RemoveWorktree(ctx, dir, branch)
		return
	}
	sandbox.RemoveLayer(dir)
	sandbox.RemoveLayer(filepath.Join(filepath.Dir(dir), ".work", filepath.Base(dir)))
	os.Remove(layerBaseFile(filepath.Dir(dir), filepath.Base(dir)))
	if branch != "" {
		c.Repo.RemoveWorktree(ctx, dir, branch) // the directory is gone: deletes the branch only
	}
}

// layerBaseFile records the commit a task's layer lies over: the base
// checkouts move on, so a kept layer names its own.
func layerBaseFile(worktrees, task string) string {
	return filepath.Join(worktrees, ".base", task)
}

// layerBase is the commit task's kept layer lies over ("" if unrecorded).
func (c *Coordinator) layerBase(task string) string {
	b, err := os.ReadFile(layerBaseFile(filepath.Join(c.StateDir, "worktrees"), task))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (c *Coordinator) recordLayerBase(task, commit string) error {
	p := layerBaseFile(filepath.Join(c.StateDir, "worktrees"), task)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return writeAtomic(p, commit+"\n")
}

// inspectHint tells a person how to look at what a kept layer holds.
func inspectHint(task, dir, base string) []string {
	return []string{
		fmt.Sprintf("agentos task show %s    # the paths the run changed over base %s (its layer: %s)", task, short(base), dir),
		fmt.Sprintf("agentos task inspect %s DIR    # base plus the run's change, checked out in DIR (git status and git diff show the change)", task),
	}
}

// renameIn renames inside the worktree. overlayfs (without redirect_dir,
// which an unprivileged mount cannot have) refuses to rename a directory
// that comes from the base with EXDEV: it is then copied and removed, as
// mv(1) does.
func renameIn(root *os.Root, host, from, to string) error {
	err := root.Rename(from, to)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	src, dst := filepath.Join(host, filepath.FromSlash(from)), filepath.Join(host, filepath.FromSlash(to))
	if err := copyTree(src, dst); err != nil {
		return err
	}
	return os.RemoveAll(src)
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(target, fi.Mode().Perm())
		case d.Type()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, fi.Mode().Perm())
		}
	})
}
