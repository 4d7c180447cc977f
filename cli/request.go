package cli

import (
	"context"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/planner/openai"
)

// runRequest is the natural-language entry of `agentos run "REQUEST"` (and
// its flags --mode, --set, --label, --json): the configured planner (openai
// or contractor) plans, then the normal path gates, applies and commits.
// NewRootCmd wires it into `run`.
func runRequest(ctx context.Context, f *Factory, request string, p *planFlags) error {
	mode := agentos.Mode("")
	if p.mode != "" {
		m, err := agentos.ParseMode(p.mode)
		if err != nil {
			return err
		}
		mode = m
	}
	values, err := parseSets(p.set)
	if err != nil {
		return err
	}
	actor, err := f.Actor(ctx)
	if err != nil {
		return err
	}
	c, err := f.Coordinator(ctx)
	if err != nil {
		return err
	}
	t, err := c.RunRequest(ctx, coordinator.NLRequest{Text: request, Mode: mode, Values: values, Actor: actor, Labels: p.labels})
	if t == nil {
		return err
	}
	return f.reportTask(ctx, t, err, p.json)
}

// modelPlanners are the planner kinds that ask a model, wired into the
// pipeline here: the coordinator declares the interface and never imports
// a model SDK.
func modelPlanners() map[string]coordinator.NewModelPlanner {
	return map[string]coordinator.NewModelPlanner{
		"openai": func(cfg config.Planner, getenv func(string) string) (coordinator.ModelPlanner, error) {
			p, err := openai.New(cfg.OpenAI, getenv)
			if err != nil {
				return nil, err
			}
			return p, nil
		},
	}
}
