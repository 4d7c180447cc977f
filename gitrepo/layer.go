package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox"
)

// base is a base checkout ("slot"): a checkout of one commit shared read-only by
// every task on that commit: Tree holds the files, Git a small git directory of
// its own (HEAD, index, and a commondir pointing at the repository), like a
// linked worktree's but unregistered, so `git worktree` and fetch never see
// it. Tree/.git points there: git run in the checkout, or in a task's view
// of it, behaves as in a worktree.
type base struct {
	Tree string
	Git  string
}

func (b base) env(worktree string) []string {
	if worktree == "" {
		worktree = b.Tree
	}
	return []string{"GIT_DIR=" + b.Git, "GIT_WORK_TREE=" + worktree}
}

// PrepareBase makes b hold commit to. from is the commit it holds now (""
// when it holds nothing, or its state is unknown): then it is checked out in
// full; otherwise git's two-tree merge rewrites only the paths that differ
// between from and to.
func (r *Repo) PrepareBase(ctx context.Context, tree, gitdir, from, to string) error {
	b := base{Tree: tree, Git: gitdir}
	if from != "" {
		if err := r.moveBase(ctx, b, from, to); err == nil {
			return nil
		}
		// Damaged (an interrupted update): start over.
	}
	os.RemoveAll(b.Tree)
	os.RemoveAll(b.Git)
	if err := os.MkdirAll(b.Tree, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(b.Git, 0o755); err != nil {
		return err
	}
	common, err := r.Git(ctx, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.Git, "commondir"), []byte(strings.TrimSpace(common)+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.Git, "HEAD"), []byte(to+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.Tree, agentos.GitDir), []byte("gitdir: "+b.Git+"\n"), 0o644); err != nil {
		return err
	}
	if _, err := run(ctx, b.Tree, b.env(""), splitBase("read-tree", "--reset", "-u", to)...); err != nil {
		return err
	}
	// The files written in the checkout's last second are "racily clean"
	// (as new as the index): a split index keeps every such entry in its
	// small file, and each later write of the base's index, or of a
	// task's copy of it, re-reads those files (tens of thousands at 100k
	// paths). One refresh, writing a new shared index, settles them.
	if _, err := run(ctx, b.Tree, b.env(""), splitBase("-c", "splitIndex.maxPercentChange=0", "update-index", "-q", "--refresh")...); err != nil && exitCode(err) != 1 {
		return err
	}
	return r.finishBase(ctx, b, to)
}

// moveBaseMax is how many changed paths a base moves by writing those
// paths alone; beyond it git's two-tree read-tree, which walks both trees
// and rewrites the whole index anyway, is no slower.
const moveBaseMax = 2000

// moveBase moves a base checkout from one commit to another by the paths
// that differ only: each is removed, the base's index learns the new
// entries, and git checks them out (filters, modes and symlinks as a
// checkout does). Unlike `read-tree -m -u from to` nothing walks the two
// trees: the cost follows the diff, not the repository.
func (r *Repo) moveBase(ctx context.Context, b base, from, to string) error {
	out, err := run(ctx, b.Tree, r.objectsOnly(b.env("")), "diff-tree", "-r", "-z", "--no-renames", from, to)
	if err != nil {
		return err
	}
	f := splitNUL(out)
	if len(f)/2 > moveBaseMax {
		if _, err := run(ctx, b.Tree, b.env(""), splitBase("read-tree", "-m", "-u", from, to)...); err != nil {
			return err
		}
		return r.finishBase(ctx, b, to)
	}
	var del, add bytes.Buffer
	var write, gone []string
	for i := 0; i+1 < len(f); i += 2 {
		meta := strings.Fields(strings.TrimPrefix(f[i], ":"))
		p := f[i+1]
		if len(meta) < 5 {
			return errors.New("unexpected diff-tree output")
		}
		if meta[0] == "160000" || meta[1] == "160000" {
			// A submodule's directory: read-tree knows how.
			if _, err := run(ctx, b.Tree, b.env(""), splitBase("read-tree", "-m", "-u", from, to)...); err != nil {
				return err
			}
			return r.finishBase(ctx, b, to)
		}
		if err := os.RemoveAll(filepath.Join(b.Tree, filepath.FromSlash(p))); err != nil {
			return err
		}
		if meta[4] == "D" {
			del.WriteString("0 " + strings.Repeat("0", len(meta[3])) + "\t" + p + "\x00")
			gone = append(gone, p)
			continue
		}
		add.WriteString(meta[1] + " " + meta[3] + "\t" + p + "\x00")
		write = append(write, p)
	}
	// Directories a deletion emptied go, as a checkout removes them.
	for _, p := range gone {
		for d := filepath.Dir(filepath.FromSlash(p)); d != "."; d = filepath.Dir(d) {
			if os.Remove(filepath.Join(b.Tree, d)) != nil {
				break
			}
		}
	}
	// Deletions first: a file may replace a directory it deleted.
	if del.Len()+add.Len() > 0 {
		if _, err := runStdin(ctx, b.Tree, b.env(""), append(del.Bytes(), add.Bytes()...), splitBase("update-index", "-z", "--index-info")...); err != nil {
			return err
		}
	}
	if len(write) > 0 {
		if _, err := runStdin(ctx, b.Tree, b.env(""), nulJoin(write), splitBase("checkout-index", "-f", "-z", "--stdin")...); err != nil {
			return err
		}
	}
	// The index's cache tree stays valid outside the changed paths, so no
	// write-tree here: the next task's staging recomputes those only.
	return os.WriteFile(filepath.Join(b.Git, "HEAD"), []byte(to+"\n"), 0o644)
}

// A base's index is split (git's split index): the entries of the whole
// tree in a shared file written when the base is checked out, and a small
// file with what changed since. Moving a base and staging a task's change
// on a copy of its index then write the small file only, not an index of
// every path. When a write makes a new shared file (a fifth of the entries
// changed), the old one goes at once: a base is written only while no run
// holds it, so no copy of its index still needs the old file.
func splitBase(args ...string) []string {
	return append([]string{"-c", "core.splitIndex=true", "-c", "splitIndex.sharedIndexExpire=now"}, args...)
}

// splitCopy is for a task's copy of a base's index: the copy keeps the
// base's mode (split or not) and never writes a shared file of its own,
// which would outlive the copy.
func splitCopy(args ...string) []string {
	return append([]string{"-c", "splitIndex.maxPercentChange=100"}, args...)
}

func (r *Repo) finishBase(ctx context.Context, b base, to string) error {
	if err := os.WriteFile(filepath.Join(b.Git, "HEAD"), []byte(to+"\n"), 0o644); err != nil {
		return err
	}
	// Primes the index's cache tree, so a task's tree is written from
	// the subtrees its change invalidated only.
	_, err := run(ctx, b.Tree, b.env(""), splitBase("write-tree")...)
	return err
}

// LayerChange is what a task's upper layer holds, read from the layer
// alone (never the whole tree).
type LayerChange struct {
	Files     []string // regular files and symlinks written
	Deleted   []string // whiteouts: paths deleted
	Opaque    []string // directories that replaced whatever was below them
	Protected []string // paths inside a .git directory, which git cannot stage
}

// ReadLayer walks an upper layer.
func ReadLayer(upper string) (LayerChange, error) {
	var lc LayerChange
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == upper {
			return nil
		}
		rel, _ := filepath.Rel(upper, p)
		rel = filepath.ToSlash(rel)
		if d.Name() == agentos.GitDir {
			lc.Protected = append(lc.Protected, rel)
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			if sandbox.IsOpaque(p) {
				lc.Opaque = append(lc.Opaque, rel)
			}
		case d.Type()&fs.ModeCharDevice != 0 && sandbox.IsWhiteout(p):
			lc.Deleted = append(lc.Deleted, rel)
		case d.Type().IsRegular(), d.Type()&fs.ModeSymlink != 0:
			lc.Files = append(lc.Files, rel)
		}
		return nil
	})
	return lc, err
}

// StageLayer writes the tree of base plus a task's change and lists the
// paths that differ from base. view is the task's worktree as this process
// sees it (base with the layer on top); the layer's own walk says which
// paths to look at, and git stages exactly those as `git add --all` would
// (ignored new files stay out, modes, symlinks and filters as usual), on a
// copy of the base checkout's index. Nothing scans the whole tree.
//
// view opens the task's view; it is asked for only when the layer deletes
// or replaces something, or changes a .gitignore or .gitattributes. Else
// git reads the layer itself (every path to stage is a file in it, and the
// ignore and attribute files it consults are the base's), and no helper
// has to mount the view for the commit.
func (r *Repo) StageLayer(ctx context.Context, view func() (*sandbox.View, error), baseTree, gitdir, upper, base string) (tree string, changed []string, err error) {
	b := baseOf(baseTree, gitdir)
	lc, err := ReadLayer(upper)
	if err != nil {
		return "", nil, err
	}
	var v *sandbox.View
	if layerNeedsView(lc) {
		if v, err = view(); err != nil {
			return "", nil, err
		}
	}
	idx, err := os.CreateTemp(filepath.Dir(b.Git), ".index-*")
	if err != nil {
		return "", nil, err
	}
	idx.Close()
	defer os.Remove(idx.Name())
	if err := copyFile(filepath.Join(b.Git, "index"), idx.Name()); err != nil {
		return "", nil, err
	}
	env := append(b.env(upper), "GIT_INDEX_FILE="+idx.Name())
	// What base has at or under each path the layer touched: removed
	// unless the view still has it.
	specs := append(append(append([]string{}, lc.Deleted...), lc.Opaque...), lc.Files...)
	inBase := map[string]bool{}
	for chunk := range chunks(specs, 1000) {
		out, err := run(ctx, b.Tree, b.env(""), append([]string{"ls-tree", "-r", "-z", "--name-only", "--full-tree", base, "--"}, chunk...)...)
		if err != nil {
			return "", nil, err
		}
		for _, p := range splitNUL(out) {
			inBase[p] = true
		}
	}
	var fresh []string
	for _, f := range lc.Files {
		if !inBase[f] {
			fresh = append(fresh, f)
		}
	}
	ignored := map[string]bool{}
	if len(fresh) > 0 {
		// Without the view, the base checkout has every ignore file
		// that applies (the layer changes none).
		dir, ienv := upper, env
		if v == nil {
			dir, ienv = b.Tree, append(b.env(""), "GIT_INDEX_FILE="+idx.Name())
		}
		// --no-index: the paths are new, so none is tracked, and the
		// index (every path of the tree) need not be read.
		out, err := gitVia(ctx, v, dir, ienv, nulJoin(fresh), "check-ignore", "--no-index", "-z", "--stdin")
		if err != nil && exitCode(err) != 1 { // 1: nothing ignored
			return "", nil, err
		}
		for _, p := range splitNUL(out) {
			ignored[p] = true
		}
	}
	update := make([]string, 0, len(inBase)+len(lc.Files))
	for p := range inBase {
		update = append(update, p)
	}
	for _, f := range fresh {
		if !ignored[f] {
			update = append(update, f)
		}
	}
	sort.Strings(update)
	if len(update) > 0 {
		if _, err := gitVia(ctx, v, upper, env, nulJoin(update), splitCopy("update-index", "--add", "--remove", "--replace", "-z", "--stdin")...); err != nil {
			return "", nil, err
		}
	}
	out, err := run(ctx, b.Tree, []string{"GIT_DIR=" + b.Git, "GIT_INDEX_FILE=" + idx.Name()}, splitCopy("write-tree")...)
	if err != nil {
		return "", nil, err
	}
	tree = strings.TrimSpace(out)
	out, err = run(ctx, r.Root, r.objectsOnly(nil), "diff-tree", "-r", "-z", "--name-only", "--no-renames", base, tree)
	if err != nil {
		return "", nil, err
	}
	return tree, splitNUL(out), nil
}

// layerNeedsView reports whether staging lc needs the view of base plus
// layer rather than the layer alone.
func layerNeedsView(lc LayerChange) bool {
	if len(lc.Deleted)+len(lc.Opaque)+len(lc.Protected) > 0 {
		return true
	}
	for _, f := range lc.Files {
		if n := path.Base(f); n == ".gitignore" || n == ".gitattributes" {
			return true
		}
	}
	return false
}

// ReplayTree replays commit (whose parent is parent) onto head without a
// worktree, three-way, as a cherry-pick would: the resulting tree, or the
// conflicting paths with the conflicted files' diff against head.
func (r *Repo) ReplayTree(ctx context.Context, commit, parent, head string) (tree string, conflicts []string, detail string, err error) {
	if !r.IsAncestor(ctx, parent, head) {
		// merge-tree (git 2.39) merges from the merge base, which is
		// parent only when head descends from it: otherwise a scratch
		// worktree does what it always did.
		return r.replayInWorktree(ctx, commit, head)
	}
	out, err := r.Git(ctx, "merge-tree", "--write-tree", "--name-only", "--no-messages", head, commit)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if err == nil {
		return strings.TrimSpace(lines[0]), nil, "", nil
	}
	if exitCode(err) != 1 || len(lines) < 2 {
		return "", nil, "", err
	}
	tree = strings.TrimSpace(lines[0])
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); l != "" && !contains(conflicts, l) {
			conflicts = append(conflicts, l)
		}
	}
	detail, _ = r.Git(ctx, append([]string{"diff", head, tree, "--"}, conflicts...)...)
	return "", conflicts, detail, nil
}

func (r *Repo) replayInWorktree(ctx context.Context, commit, head string) (string, []string, string, error) {
	dir, err := os.MkdirTemp("", "agentos-replay-")
	if err != nil {
		return "", nil, "", err
	}
	os.Remove(dir)
	if err := r.AddDetachedWorktree(ctx, dir, head); err != nil {
		return "", nil, "", err
	}
	defer r.RemoveWorktree(context.WithoutCancel(ctx), dir, "")
	conflicts, detail, err := r.Rebase(ctx, dir, commit, head)
	if err != nil || len(conflicts) > 0 {
		return "", conflicts, detail, err
	}
	tree, err := r.WriteTree(ctx, dir)
	return tree, nil, "", err
}

// Materialize makes the view (base head plus an empty layer) hold tree:
// the paths that differ are removed, and git checks out the new content
// (filters, modes and symlinks as a checkout does).
func (r *Repo) Materialize(ctx context.Context, v *sandbox.View, baseTree, gitdir, upper, head, tree string) error {
	b := baseOf(baseTree, gitdir)
	out, err := run(ctx, r.Root, r.objectsOnly(nil), "diff-tree", "-r", "-z", "--no-renames", head, tree)
	if err != nil {
		return err
	}
	f := splitNUL(out)
	var info bytes.Buffer
	var write []string
	for i := 0; i+1 < len(f); i += 2 {
		meta := strings.Fields(strings.TrimPrefix(f[i], ":"))
		p := f[i+1]
		if len(meta) < 5 {
			continue
		}
		if err := os.RemoveAll(filepath.Join(v.Path, filepath.FromSlash(p))); err != nil {
			return err
		}
		if meta[4] != "D" && meta[1] != "160000" {
			info.WriteString(meta[1] + " " + meta[3] + "\t" + p + "\x00")
			write = append(write, p)
		}
	}
	if len(write) == 0 {
		return nil
	}
	idx, err := os.CreateTemp(filepath.Dir(b.Git), ".index-*")
	if err != nil {
		return err
	}
	idx.Close()
	defer os.Remove(idx.Name())
	os.Remove(idx.Name())
	env := append(b.env(upper), "GIT_INDEX_FILE="+idx.Name())
	if _, err := runStdin(ctx, b.Tree, env, info.Bytes(), "update-index", "-z", "--index-info"); err != nil {
		return err
	}
	_, err = gitVia(ctx, v, upper, env, nulJoin(write), "checkout-index", "-f", "-z", "--stdin")
	return err
}

// objectsOnly is env for a git command that needs the object database
// only, with no index to read: diff-tree reads the whole index (for
// attributes its raw output never uses), tens of milliseconds at 100k
// paths. The index named does not exist (nothing creates it), which git
// takes as an empty index.
func (r *Repo) objectsOnly(env []string) []string {
	if r.common == "" {
		return env
	}
	return append(append([]string{}, env...), "GIT_INDEX_FILE="+filepath.Join(r.common, "agentos-no-index"))
}

func baseOf(tree, gitdir string) base { return base{Tree: tree, Git: gitdir} }

// SetBranch points refs/heads/branch at commit, whatever it pointed to.
func (r *Repo) SetBranch(ctx context.Context, branch, commit string) error {
	_, err := r.Git(ctx, "update-ref", "refs/heads/"+branch, commit)
	return err
}

func chunks(s []string, n int) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for i := 0; i < len(s); i += n {
			if !yield(s[i:min(i+n, len(s))]) {
				return
			}
		}
	}
}

func nulJoin(ps []string) []byte {
	var b bytes.Buffer
	for _, p := range ps {
		b.WriteString(p)
		b.WriteByte(0)
	}
	return b.Bytes()
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	var ve *sandbox.ViewExitError
	if errors.As(err, &ve) {
		return ve.Code
	}
	return -1
}

// gitVia runs git in dir, inside the view's namespace when v is set (there
// dir, a task's layer path, is the task's worktree).
func gitVia(ctx context.Context, v *sandbox.View, dir string, env []string, stdin []byte, args ...string) (string, error) {
	if v == nil {
		return runStdin(ctx, dir, env, stdin, args...)
	}
	out, err := v.Run(ctx, dir, append(baseEnv(), env...), stdin, append([]string{"git"}, args...)...)
	if err != nil {
		ge := &GitError{Args: args, Err: err}
		var ve *sandbox.ViewExitError
		if errors.As(err, &ve) {
			ge.Stderr = ve.Stderr
		} else {
			ge.Stderr = err.Error()
		}
		return out, ge
	}
	return out, nil
}

func runStdin(ctx context.Context, dir string, env []string, stdin []byte, args ...string) (string, error) {
	cmd := gitCommand(ctx, dir, env, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), &GitError{Args: args, Stderr: errb.String(), Err: err}
	}
	return out.String(), nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
