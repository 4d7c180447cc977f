package coordinator

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/policy"
)

// gateResult evaluates the policy over a task's plan.
func (c *Coordinator) gateResult(ctx context.Context, t *agentos.Task, p *agentos.Plan) (policy.Result, error) {
	e, err := c.policyEngine()
	if err != nil {
		return policy.Result{}, err
	}
	var intent *agentos.Intent
	if p.IntentID != "" {
		if in, err := c.DB.Intent(ctx, p.IntentID); err == nil {
			intent = in
		} else if agentos.ErrorCode(err) != agentos.ENOTFOUND {
			return policy.Result{}, err
		}
	}
	runs, err := c.runsPlanFiles(p)
	if err != nil {
		return policy.Result{}, err
	}
	res := e.Evaluate(policy.Input{Task: *t, Intent: intent, Plan: *p, RunsPlanFiles: runs})
	// Command rules that say approve (or deny) join the gate result, so
	// approvals of commands are bound to the plan hash like any gate.
	if err := c.commandGates(p, &res); err != nil {
		return policy.Result{}, err
	}
	return res, nil
}

// evaluateGates decides whether a plan may run unattended. It returns the
// strictest effect and every decision (each is stored and audited by Gate,
// and lands in the ReviewPack). In full_auto, where nobody can be asked, a
// plan that needs approval runs only when standing auto_approve rules cover
// every rule holding it (each covering rule is recorded as a decision);
// otherwise it is denied. Gating a new plan clears the approvals of the
// task's earlier plans (they stay in the history).
func (c *Coordinator) evaluateGates(ctx context.Context, t *agentos.Task, p *agentos.Plan) (agentos.Effect, []agentos.GateDecision, error) {
	res, err := c.gateResult(ctx, t, p)
	if err != nil {
		return "", nil, err
	}
	if _, err := approval.NewStore(c.DB).Clear(ctx, t.ID, p.Hash, "superseded by plan "+p.Hash); err != nil {
		return "", nil, err
	}
	effect, decisions := res.Effect, res.Decisions
	if effect == agentos.EffectRequireApproval && t.Mode == agentos.ModeFullAuto {
		if res.AutoApproved {
			for _, a := range res.AutoApprovals {
				decisions = append(decisions, agentos.GateDecision{
					RuleID: "auto_approve." + a.AutoRuleID, Effect: agentos.EffectAllow, Step: -1, PolicyHash: res.PolicyHash,
					Reason: fmt.Sprintf("standing approval %s covers %s (full_auto)", a.AutoRuleID, a.RuleID),
				})
			}
			effect = agentos.EffectAllow
		} else {
			decisions = append(decisions, agentos.GateDecision{
				RuleID: "full_auto", Effect: agentos.EffectDeny, Step: -1, PolicyHash: res.PolicyHash,
				Reason: fmt.Sprintf("full_auto never waits for a human and no auto_approve rule covers %s; run the task in semi_auto or add a standing rule", strings.Join(res.Uncovered, ", ")),
			})
			effect = agentos.EffectDeny
		}
	}
	return effect, decisions, nil
}

// GateResult is what the gates (policy rules and command rules) say of a
// task's plan now; `agentos policy explain` prints it.
func (c *Coordinator) GateResult(ctx context.Context, t *agentos.Task, p *agentos.Plan) (policy.Result, error) {
	return c.gateResult(ctx, t, p)
}

// runsPlanFiles finds, for each exec step and verify check (numbered after
// the steps), the files written by the plan's earlier steps (any step, for
// a check) that an interpreter in its command runs: directly (sh s.sh),
// behind a wrapper (env, timeout: any argv suffix that is an interpreter
// run counts, failing towards approval) or inside sh -c (every sub-command
// the command rules found). The built-in gate policy.InterpreterRule holds
// such a plan for a human.
func (c *Coordinator) runsPlanFiles(p *agentos.Plan) (map[int][]string, error) {
	runs := map[int][]string{}
	written := map[string]bool{}
	check := func(idx int, argv []string, cwd string) error {
		d, err := c.decideCommand(argv, c.Repo.Dir())
		if err != nil {
			return err
		}
		cands := [][]string{argv, d.Argv}
		for _, sub := range d.Commands {
			cands = append(cands, sub.Argv)
		}
		for _, a := range cands {
			for i := range a {
				script := cmdrule.ScriptOf(a[i:])
				if script == "" {
					continue
				}
				if f := writtenFile(written, cwd, script); f != "" && !slices.Contains(runs[idx], f) {
					runs[idx] = append(runs[idx], f)
				}
			}
		}
		return nil
	}
	for i, s := range p.Steps {
		if s.Kind == agentos.StepExec {
			if err := check(i, s.Argv, s.Cwd); err != nil {
				return nil, err
			}
		}
		for _, w := range s.Writes() {
			if w != "" {
				written[path.Clean(w)] = true
			}
		}
	}
	for j, ch := range p.Verify {
		if err := check(len(p.Steps)+j, ch.Argv, ch.Cwd); err != nil {
			return nil, err
		}
	}
	return runs, nil
}

// writtenFile returns the plan-written path script names (relative to the
// command's cwd; a python module may be a file or a package), or "".
func writtenFile(written map[string]bool, cwd, script string) string {
	if path.IsAbs(script) {
		return "" // outside the worktree: not something a step wrote
	}
	rel := path.Clean(path.Join(cwd, script))
	for _, cand := range []string{rel, rel + ".py", rel + "/__main__.py"} {
		for w := range written {
			if cand == w || strings.HasPrefix(cand, w+"/") {
				return rel
			}
		}
	}
	return ""
}
