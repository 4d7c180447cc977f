package coordinator

import (
	"context"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
)

// PolicyAt says which policy governs work based on a commit: agentos.yaml as
// committed there, else the embedded defaults (the CLI wires it over
// config.AtCommit). With it set, a plan is made, admitted and landed only
// while the policy committed at its base is the one it pins; nil (library
// use, unit tests) trusts Config as handed in.
type PolicyAt func(ctx context.Context, commit string) (*config.Config, error)

// checkPolicyAt refuses work on base when the policy committed there is not
// want (the hash a plan pins, or the one this command loaded): the target
// moved and the commit it moved to changed agentos.yaml.
func (c *Coordinator) checkPolicyAt(ctx context.Context, base, want, what string) error {
	if c.PolicyAt == nil {
		return nil
	}
	cfg, err := c.PolicyAt(ctx, base)
	if err != nil {
		return err
	}
	if cfg.Hash != want {
		return agentos.Errorf(agentos.ECONFLICT, "%s is committed at %s as policy %s, not %s: %s", config.FileName, short(base), short(cfg.Hash), short(want), what)
	}
	return nil
}
