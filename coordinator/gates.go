package coordinator

import (
	"context"

	"github.com/agentos/agentos"
)

// evaluateGates decides whether a plan may run unattended. It returns the
// strictest effect and every decision (each is stored and audited by Gate).
func (c *Coordinator) evaluateGates(ctx context.Context, t *agentos.Task, p *agentos.Plan) (agentos.Effect, []agentos.GateDecision, error) {
	if len(c.Config.Gates) > 0 {
		// Never silently allow a plan the policy has rules for.
		return agentos.EffectDeny, []agentos.GateDecision{{RuleID: "engine", Effect: agentos.EffectDeny, Reason: "gates are configured but this build has no gate engine", Step: -1, PolicyHash: c.Config.Hash}}, nil
	}
	return agentos.EffectAllow, []agentos.GateDecision{{RuleID: "no-gates", Effect: agentos.EffectAllow, Reason: "agentos.yaml defines no gates", Step: -1, PolicyHash: c.Config.Hash}}, nil
}
