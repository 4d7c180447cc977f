// Package policysource finds the policy in force for a repository:
// agentos.yaml as committed at the head of the target branch, never the
// working tree's file (cli/policybase.go explains the rule). It is apart
// from package cli, and as light, so that `agentos sandbox run` can load
// the policy before the rest of agentos is initialised (cli/sandboxrun);
// every verb loads it through here.
package policysource

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/gitrepo"
)

// Origin says where the policy in force came from: the commit at the head
// of the target branch, and whether agentos.yaml is committed there.
type Origin struct {
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
	WorkingTreeSame        = "same"
	WorkingTreeUncommitted = "uncommitted"
	WorkingTreeMissing     = "missing"
)

// Source reads the policy of one repository. Files read at commits are
// cached for the process (commits do not change): a person on the target
// branch has HEAD at its head, and its policy is then read once.
type Source struct {
	Repo *gitrepo.Repo
	// Defaults is the policy in force where none is committed on target.
	Defaults  func(target string) (*config.Config, error)
	committed map[string]committedFile
	// parsed is agentos.yaml as Base parsed it at a commit: At of the same
	// commit (the usual case: HEAD is the target's head) does not parse
	// it again (a tenth of `sandbox run`'s own work for a full policy).
	parsed map[string]*config.Config
}

type committedFile struct {
	b  []byte
	ok bool
}

// ReadCommitted reads files at commits through the cache.
func (s *Source) ReadCommitted() config.ReadCommitted {
	return func(ctx context.Context, commit, path string) ([]byte, bool, error) {
		key := commit + ":" + path
		if c, ok := s.committed[key]; ok {
			return c.b, c.ok, nil
		}
		b, ok, err := s.Repo.FileAt(ctx, commit, path)
		if err != nil {
			return nil, false, err
		}
		if s.committed == nil {
			s.committed = map[string]committedFile{}
		}
		s.committed[key] = committedFile{b, ok}
		return b, ok, nil
	}
}

// At is the policy that governs work based on commit, the target branch's
// head: agentos.yaml as committed there, else Defaults for target
// (committed false).
func (s *Source) At(ctx context.Context, commit, target string) (*config.Config, bool, error) {
	defaults := func() (*config.Config, error) { return s.Defaults(target) }
	if commit == "" {
		c, err := defaults()
		return c, false, err
	}
	if c, ok := s.parsed[commit]; ok {
		return c, true, nil
	}
	return config.AtCommit(ctx, s.ReadCommitted(), commit, defaults)
}

// Base finds the commit whose agentos.yaml is in force: the head of the
// target branch. The target is the one agentos.yaml names as committed at
// HEAD (else the branch checked out); with integration.remote it is the
// remote's branch as last fetched. A hook in a person's checkout uses the
// same commit, so an agent that edits agentos.yaml, or commits it on a
// side branch, changes nothing.
func (s *Source) Base(ctx context.Context) (target, commit string, err error) {
	r := s.Repo
	remote := ""
	head, err := r.ResolveCommit(ctx, "HEAD")
	if err != nil {
		head = "" // no commit yet
	}
	if head != "" {
		b, ok, err := s.ReadCommitted()(ctx, head, config.FileName)
		if err != nil {
			return "", "", err
		}
		if ok {
			c, err := config.Parse(b, config.FileName)
			if err != nil {
				return "", "", err
			}
			if s.parsed == nil {
				s.parsed = map[string]*config.Config{}
			}
			s.parsed[head] = c
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

// Load loads the policy in force and says where it came from.
func (s *Source) Load(ctx context.Context) (*config.Config, *Origin, error) {
	target, commit, err := s.Base(ctx)
	if err != nil {
		return nil, nil, err
	}
	cfg, committed, err := s.At(ctx, commit, target)
	if err != nil {
		return nil, nil, err
	}
	if committed && target != "" && cfg.Target != "" && cfg.Target != target {
		return nil, nil, agentos.Errorf(agentos.EINVALID, "%s committed at HEAD names target %s, but as committed on %s it names %s: commit the same target on both", config.FileName, target, target, cfg.Target)
	}
	o := &Origin{Target: target, Commit: commit, Committed: committed}
	o.compareWorkingTree(filepath.Join(s.Repo.Root, config.FileName), cfg)
	return cfg, o, nil
}

// compareWorkingTree records how the working tree's agentos.yaml relates
// to the policy in force (for the notice and `policy explain`).
func (o *Origin) compareWorkingTree(path string, inForce *config.Config) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		o.WorkingTree = WorkingTreeMissing
	case err != nil:
		o.WorkingTree = WorkingTreeUncommitted
	case bytes.Equal(b, inForce.Raw):
		o.WorkingTree = WorkingTreeSame
	default:
		o.WorkingTree = WorkingTreeUncommitted
		if c, err := config.Parse(b, config.FileName); err == nil {
			o.Uncommitted = c
		}
	}
}

// Where names the commit the policy comes from, for messages.
func (o *Origin) Where() string {
	if o.Target == "" {
		return ShortSHA(o.Commit)
	}
	if o.Commit == "" {
		return o.Target
	}
	return o.Target + " at " + ShortSHA(o.Commit)
}

// Notice is what the user is told, once per process, when what governs is
// not the file they may be looking at ("" when it is).
func (o *Origin) Notice() string {
	switch {
	case !o.Committed:
		return "agentos: " + config.FileName + " is not committed on " + o.Where() + ": the embedded defaults govern until you commit it"
	case o.WorkingTree != WorkingTreeSame:
		return "agentos: " + config.FileName + " has uncommitted changes: not in effect (policy from " + o.Where() + ")"
	}
	return ""
}

// NotInForce says what governs instead of the working tree's file.
func (o *Origin) NotInForce() string {
	if o == nil || !o.Committed {
		return "the embedded defaults govern"
	}
	return "the policy committed on " + o.Where() + " governs"
}

// Describe names the source for `policy explain`.
func (o *Origin) Describe() string {
	if o == nil {
		return "unknown source"
	}
	if !o.Committed {
		return "the embedded defaults: " + config.FileName + " is not committed on " + o.Where()
	}
	return "committed on " + o.Where()
}

// ShortSHA is a commit id as messages show it.
func ShortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
