package coordinator

import (
	"context"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/telemetry"
)

// AddCommit records a commit, and its span when telemetry is on: like the
// transitions, records and gate decisions above, every commit passes the
// store wrapper, so the pipeline's spans come from this one place.
func (s *redactingStore) AddCommit(ctx context.Context, c agentos.CommitRow, actor agentos.Actor) error {
	err := s.Store.AddCommit(ctx, c, actor)
	if err == nil {
		telemetry.Commit(ctx, c)
	}
	return err
}
