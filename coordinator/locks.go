package coordinator

import (
	"context"
	"slices"
	"strings"

	"github.com/agentos/agentos"
)

// Locks is what the executor holds while it writes: Covers is checked before
// every write (red line 9's choke point in the executor).
type Locks interface {
	Covers(path string) bool
	Release(ctx context.Context)
}

// planLocks covers exactly the plan's write set.
type planLocks struct{ paths []string }

func (l planLocks) Covers(p string) bool {
	if slices.Contains(l.paths, p) {
		return true
	}
	for _, q := range l.paths {
		if strings.HasPrefix(p, q+"/") {
			return true
		}
	}
	return false
}

func (planLocks) Release(context.Context) {}

// acquireLocks takes the locks a task needs to apply its plan.
func (c *Coordinator) acquireLocks(ctx context.Context, t *agentos.Task, p *agentos.Plan) (Locks, error) {
	return planLocks{paths: p.Paths()}, nil
}

// lockIntegration serialises integration into a target branch.
func (c *Coordinator) lockIntegration(ctx context.Context, t *agentos.Task, target string) (func(), error) {
	return func() {}, nil
}
