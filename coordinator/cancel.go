package coordinator

import (
	"context"

	"github.com/agentos/agentos"
)

// Cancel ends a task that is not running, with a ReviewPack. A task that is
// applying or verifying belongs to its runner: stop that process (or let its
// lease expire) instead.
func (c *Coordinator) Cancel(ctx context.Context, taskID string, actor agentos.Actor, reason string) (*agentos.Task, error) {
	t, err := c.DB.Task(ctx, taskID)
	if err != nil {
		return nil, err
	}
	switch t.State {
	case agentos.StateApplying, agentos.StateVerifying:
		return t, agentos.Errorf(agentos.ECONFLICT, "task %s is %s: stop the process running it (its locks expire) before cancelling", t.ID, t.State)
	}
	if !agentos.CanTransition(t.State, agentos.StateCancelled) {
		return t, agentos.Errorf(agentos.ECONFLICT, "task %s is %s: it has already ended", t.ID, t.State)
	}
	if reason == "" {
		reason = "cancelled by " + string(actor)
	}
	if _, err := c.transition(ctx, t, agentos.StateCancelled, actor, agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{}); err != nil {
		return t, err
	}
	_, err = c.writeReview(ctx, t, nil)
	return t, err
}
