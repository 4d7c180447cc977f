package cli

import (
	"context"
	"fmt"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/cli/policysource"
	"github.com/agentos/agentos/config"
)

// policyOrigin says where the policy in force came from (package
// policysource, shared with the light path of `agentos sandbox run`).
type policyOrigin = policysource.Origin

// The working tree's agentos.yaml against the policy in force.
const (
	wtSame        = policysource.WorkingTreeSame
	wtUncommitted = policysource.WorkingTreeUncommitted
	wtMissing     = policysource.WorkingTreeMissing
)

// policySource is the repository's policy source, made once.
func (f *Factory) policySource(ctx context.Context) (*policysource.Source, error) {
	if f.policySrc != nil {
		return f.policySrc, nil
	}
	r, err := f.Repo(ctx)
	if err != nil {
		return nil, err
	}
	f.policySrc = &policysource.Source{Repo: r, Defaults: defaultPolicy}
	return f.policySrc, nil
}

// PolicyAt is the policy that governs work based on commit, the target
// branch's head: agentos.yaml as committed there, else the embedded
// defaults for target (committed false). Every verb and mode gets its
// policy here (through config.AtCommit), never from the working tree.
func (f *Factory) PolicyAt(ctx context.Context, commit, target string) (*config.Config, bool, error) {
	if commit == "" {
		c, err := defaultPolicy(target)
		return c, false, err
	}
	s, err := f.policySource(ctx)
	if err != nil {
		return nil, false, err
	}
	return s.At(ctx, commit, target)
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

// loadPolicy loads the policy in force for the verbs of this process and
// says once, on stderr, when it is not the working tree's file.
func (f *Factory) loadPolicy(ctx context.Context) (*config.Config, error) {
	s, err := f.policySource(ctx)
	if err != nil {
		return nil, err
	}
	cfg, o, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	f.origin = o
	f.policyNotice(o)
	return cfg, nil
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
	if n := o.Notice(); n != "" {
		fmt.Fprintln(f.IO.ErrOut, n)
	}
}
