package coordinator

import (
	"sync"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/policy"
)

// engineCache keeps the compiled gates and command rules of the last few
// policies a coordinator used (a worker's copies, made when agentos.yaml
// changes, share it): compiling a policy runs its examples, and the same
// bytes always compile to the same engines. It belongs to the coordinator,
// not the process, and keeps at most engineCacheSize policies, so a
// long-running worker whose policy keeps changing does not grow it.
type engineCache struct {
	mu      sync.Mutex
	entries []*compiled // oldest first
}

const engineCacheSize = 4

type compiled struct {
	hash string
	pol  *policy.Engine
	cmd  *cmdrule.Engine
}

// entry returns the slot of policy hash, creating it (and dropping the
// oldest) when absent. Callers hold ec.mu.
func (ec *engineCache) entry(hash string) *compiled {
	for _, e := range ec.entries {
		if e.hash == hash {
			return e
		}
	}
	e := &compiled{hash: hash}
	if len(ec.entries) == engineCacheSize {
		ec.entries = ec.entries[1:]
	}
	ec.entries = append(ec.entries, e)
	return e
}

// policyEngine compiles agentos.yaml's gates (type-checked, examples run).
func (c *Coordinator) policyEngine() (*policy.Engine, error) {
	return cachedEngine(c.engines, c.Config, func(e *compiled) **policy.Engine { return &e.pol }, policy.Load)
}

// commandRules compiles agentos.yaml's command rules.
func (c *Coordinator) commandRules() (*cmdrule.Engine, error) {
	return cachedEngine(c.engines, c.Config, func(e *compiled) **cmdrule.Engine { return &e.cmd }, func(cfg *config.Config) (*cmdrule.Engine, error) {
		e, err := cmdrule.New(cfg.Commands)
		if err != nil {
			return nil, agentos.WrapError(agentos.EINVALID, err, "%s: commands: %s", config.FileName, agentos.ErrorMessage(err))
		}
		return e, nil
	})
}

// cachedEngine returns the engine slot picks for cfg, compiling it on a
// miss (outside the lock: compiling twice in a race is harmless). A nil
// cache compiles every time. Errors are not cached.
func cachedEngine[E any](ec *engineCache, cfg *config.Config, slot func(*compiled) **E, build func(*config.Config) (*E, error)) (*E, error) {
	if ec == nil {
		return build(cfg)
	}
	ec.mu.Lock()
	got := *slot(ec.entry(cfg.Hash))
	ec.mu.Unlock()
	if got != nil {
		return got, nil
	}
	e, err := build(cfg)
	if err != nil {
		return nil, err
	}
	ec.mu.Lock()
	*slot(ec.entry(cfg.Hash)) = e
	ec.mu.Unlock()
	return e, nil
}
