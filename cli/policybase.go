package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/gitrepo"
)

// policyOrigin says where the policy in force came from: the commit at the
// head of the target branch, and whether agentos.yaml is committed there.
type policyOrigin struct {
	Target    string `json:"target"`
	Commit    string `json:"commit"`    // "" when the target has no commit yet
	Committed bool   `json:"committed"` // false: the embedded defaults govern
	// WorkingTree is how the working tree's agentos.yaml relates to the
	// policy in force: "same", "uncommitted" (it differs: not in effect),
	// "missing" or "" (not looked at).
	WorkingTree string `json:"working_tree"`
	// Uncommitted is the working tree's file when it differs and loads.
	Uncommitted *config.Config `json:"-"`
}

// The working tree's agentos.yaml against the policy in force.
const (
	wtSame        = "same"
	wtUncommitted = "uncommitted"
	wtMissing     = "missing"
)

// PolicyAt is the policy that governs work based on commit, the target
// branch's head: agentos.yaml as committed there, else the embedded
// defaults for target (committed false). Every verb and mode gets its
// policy here (through config.AtCommit), never from the working tree.
func (f *Factory) PolicyAt(ctx context.Context, commit, target string) (*config.Config, bool, error) {
	defaults := func() (*config.Config, error) { return defaultPolicy(target) }
	if commit == "" {
		c, err := defaults()
		return c, false, err
	}
	r, err := f.Repo(ctx)
	if err != nil {
		return nil, false, err
	}
	return config.AtCommit(ctx, f.readCommitted(r), commit, defaults)
}

// committedFile is a file as read at a commit (commits do not change).
type committedFile struct {
	b  []byte
	ok bool
}

// readCommitted reads files at commits through a per-process cache: a
// person on the target branch has HEAD at its head, and its policy is
// then read once.
func (f *Factory) readCommitted(r *gitrepo.Repo) config.ReadCommitted {
	return func(ctx context.Context, commit, path string) ([]byte, bool, error) {
		key := commit + ":" + path
		if c, ok := f.committed[key]; ok {
			return c.b, c.ok, nil
		}
		b, ok, err := r.FileAt(ctx, commit, path)
		if err != nil {
			return nil, false, err
		}
		if f.committed == nil {
			f.committed = map[string]committedFile{}
		}
		f.committed[key] = committedFile{b, ok}
		return b, ok, nil
	}
}

// defaultPolicy is the policy in force where none is committed: what
// `agentos init` writes into a repository with no build system (basic
// commands only, the sandbox required, the default gates, nothing runs
// unverified) — nothing the working tree holds can widen it.
func defaultPolicy(target string) (*config.Config, error) {
	body, _, err := renderPolicy(target, nil)
	if err != nil {
		return nil, err
	}
	c, err := config.Parse(body, "the embedded default policy")
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "the embedded default policy does not load (a bug): %v", err)
	}
	return c, nil
}

// policyBase finds the commit whose agentos.yaml is in force: the head of
// the target branch. The target is the one agentos.yaml names as committed
// at HEAD (else the branch checked out); with integration.remote it is the
// remote's branch as last fetched. A hook in a person's checkout uses the
// same commit, so an agent that edits agentos.yaml, or commits it on a
// side branch, changes nothing.
func (f *Factory) policyBase(ctx context.Context, r *gitrepo.Repo) (target, commit string, err error) {
	remote := ""
	head, err := r.ResolveCommit(ctx, "HEAD")
	if err != nil {
		head = "" // no commit yet
	}
	if head != "" {
		b, ok, err := f.readCommitted(r)(ctx, head, config.FileName)
		if err != nil {
			return "", "", err
		}
		if ok {
			c, err := config.Parse(b, config.FileName)
			if err != nil {
				return "", "", err
			}
			target, remote = c.Target, c.Integration.Remote
		}
	}
	if target == "" {
		target, _ = r.CurrentBranch(ctx)
	}
	if target == "" {
		// Detached and nothing names a target: HEAD itself (planning
		// refuses later for want of a target branch).
		return "", head, nil
	}
	if remote != "" {
		if c, err := r.ResolveCommit(ctx, "refs/remotes/"+remote+"/"+target); err == nil {
			return target, c, nil
		}
	}
	commit, err = r.BranchHead(ctx, target)
	if agentos.ErrorCode(err) == agentos.ENOTFOUND {
		return target, "", nil // no commit yet: the defaults govern
	}
	return target, commit, err
}

// loadPolicy loads the policy in force for the verbs of this process and
// says once, on stderr, when it is not the working tree's file.
func (f *Factory) loadPolicy(ctx context.Context) (*config.Config, error) {
	r, err := f.Repo(ctx)
	if err != nil {
		return nil, err
	}
	target, commit, err := f.policyBase(ctx, r)
	if err != nil {
		return nil, err
	}
	cfg, committed, err := f.PolicyAt(ctx, commit, target)
	if err != nil {
		return nil, err
	}
	if committed && target != "" && cfg.Target != "" && cfg.Target != target {
		return nil, agentos.Errorf(agentos.EINVALID, "%s committed at HEAD names target %s, but as committed on %s it names %s: commit the same target on both", config.FileName, target, target, cfg.Target)
	}
	o := &policyOrigin{Target: target, Commit: commit, Committed: committed}
	o.compareWorkingTree(filepath.Join(r.Root, config.FileName), cfg)
	f.origin = o
	f.policyNotice(o)
	return cfg, nil
}

// compareWorkingTree records how the working tree's agentos.yaml relates
// to the policy in force (for the notice and `policy explain`).
func (o *policyOrigin) compareWorkingTree(path string, inForce *config.Config) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		o.WorkingTree = wtMissing
	case err != nil:
		o.WorkingTree = wtUncommitted
	case bytes.Equal(b, inForce.Raw):
		o.WorkingTree = wtSame
	default:
		o.WorkingTree = wtUncommitted
		if c, err := config.Parse(b, config.FileName); err == nil {
			o.Uncommitted = c
		}
	}
}

// where names the commit the policy comes from, for messages.
func (o *policyOrigin) where() string {
	if o.Target == "" {
		return shortSHA(o.Commit)
	}
	if o.Commit == "" {
		return o.Target
	}
	return o.Target + " at " + shortSHA(o.Commit)
}

// policyNotice tells the user, once per process, that what governs is not
// the file they may be looking at.
func (f *Factory) policyNotice(o *policyOrigin) {
	// With --json, stderr holds only the error object: the notice is in
	// `policy explain --json` (policy_source, uncommitted) instead.
	if f.policyNoticed || f.JSONErrors || f.Quiet {
		return
	}
	f.policyNoticed = true
	switch {
	case !o.Committed:
		fmt.Fprintf(f.IO.ErrOut, "agentos: %s is not committed on %s: the embedded defaults govern until you commit it\n", config.FileName, o.where())
	case o.WorkingTree != wtSame:
		fmt.Fprintf(f.IO.ErrOut, "agentos: %s has uncommitted changes: not in effect (policy from %s)\n", config.FileName, o.where())
	}
}

// notInForce says what governs instead of the working tree's file.
func notInForce(o *policyOrigin) string {
	if o == nil || !o.Committed {
		return "the embedded defaults govern"
	}
	return "the policy committed on " + o.where() + " governs"
}

// describe names the source for `policy explain`.
func (o *policyOrigin) describe() string {
	if o == nil {
		return "unknown source"
	}
	if !o.Committed {
		return "the embedded defaults: " + config.FileName + " is not committed on " + o.where()
	}
	return "committed on " + o.where()
}
