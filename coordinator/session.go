package coordinator

import (
	"context"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/contractor"
)

// PlannerSession is the planner of a task made from a person's interactive
// agent session (`agentos session claude|codex|opencode`): the agent CLI
// worked on the task's own layer in the sandbox while the person watched,
// and what it changed is the plan.
const PlannerSession = "session"

// SessionRequest starts a person's agent session as a task.
type SessionRequest struct {
	// Agent is the CLI: claude, codex or opencode.
	Agent string
	// Goal says what the session was for (the commit message's subject).
	Goal   string
	Mode   agentos.Mode
	Actor  agentos.Actor
	Labels []string
	// Interactive fills in the interactive parts of the agent's run: its
	// terminal, the person's arguments, the model endpoints it may reach,
	// the variables and login it takes from the person, the stop channel.
	Interactive func(*contractor.Spec)
	// Started, when set, is told the task once it exists (before the agent
	// starts), so that the caller can name it (checkpoints, listings).
	Started func(*agentos.Task)
}

// RunSession runs a person's agent session on a layer of its own over the
// target's head, exactly as a contractor runs (same sandbox, same hook
// decisions, same recording), then sends what the agent changed through the
// normal pipeline: validation, gates, approval per policy, the verify
// checks, commit and ReviewPack. Nothing reaches the person's checkout
// before that commit. A session that changed nothing fails its task, with
// its decisions still in the audit and the ReviewPack.
func (c *Coordinator) RunSession(ctx context.Context, req SessionRequest) (*agentos.Task, error) {
	t, err := c.runSession(ctx, req)
	return c.endIfInterrupted(ctx, t, err)
}

func (c *Coordinator) runSession(ctx context.Context, req SessionRequest) (*agentos.Task, error) {
	mode := req.Mode
	if mode == "" {
		mode = agentos.ModeSemiAuto
		if c.Config.Modes.Default != "" {
			mode = agentos.Mode(c.Config.Modes.Default)
		}
	}
	target, _, err := c.targetAndBase(ctx)
	if err != nil {
		return nil, err
	}
	goal := strings.TrimSpace(req.Goal)
	if goal == "" {
		goal = "work of an agentos session with " + req.Agent
	}
	t := &agentos.Task{
		ID: NewID("t"), Mode: mode, Goal: firstLine(goal), Request: "agentos session " + req.Agent + ": " + goal, Planner: PlannerSession,
		Submitter: req.Actor, Labels: req.Labels, Target: target, AutoApply: true,
	}
	if _, err := c.startTask(ctx, t, nil, req.Actor); err != nil {
		return c.startedOrNot(ctx, t), err
	}
	if req.Started != nil {
		req.Started(t)
	}
	t, err = c.planWithAgent(ctx, t, req.Agent, PlannerSession, func(agentos.Intent, *agentos.MemoryPack) contractor.Spec {
		s := contractor.Spec{Name: req.Agent, Getenv: c.getenv}
		if req.Interactive != nil {
			req.Interactive(&s)
		}
		return s
	})
	if err != nil || t == nil || t.State != agentos.StatePlanned {
		return t, err
	}
	if t.Mode == agentos.ModeInteractive && c.ConfirmApply != nil {
		if err := c.confirmApply(ctx, t); err != nil {
			return t, err
		}
	}
	return c.Apply(ctx, t.ID, req.Actor)
}
