package cli

import (
	"context"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
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
