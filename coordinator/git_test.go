package coordinator_test

import (
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/gitrepo"
)

// The git adapter the CLI wires in is the pipeline's Git. (The assertion
// lives here because package coordinator does not import gitrepo.)
var _ coordinator.Git = (*gitrepo.Repo)(nil)
