package coordinator

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/policy"
)

// Command rules (agentos.yaml commands.rules) are decided three times, by one
// engine: at plan time (a deny refuses the plan), at the gates (an approve
// needs a human approval of the plan, bound to its hash like any gate) and
// right before the command runs (checkCommand), where the decision is
// recorded with the argv as matched.

// decideCommand decides argv; dir is where relative program paths resolve.
func (c *Coordinator) decideCommand(argv []string, dir string) (cmdrule.Decision, error) {
	e, err := c.commandRules()
	if err != nil {
		return cmdrule.Decision{}, err
	}
	return e.Decide(argv, cmdrule.PathLookup(c.execPath(), dir)), nil
}

// planCommandCheck is the plan-time check: a command a rule denies is
// refused before anything is stored.
func (c *Coordinator) planCommandCheck(argv []string) error {
	d, err := c.decideCommand(argv, c.Repo.Dir())
	if err != nil {
		return err
	}
	if d.Effect == cmdrule.Deny {
		return agentos.Errorf(agentos.EDENIED, "command rule %s denies %q: %s", d.RuleID, strings.Join(argv, " "), d.Reason)
	}
	return nil
}

// commandGates adds to a gate result one require_approval decision (and
// requirement) for every exec step or verify check that a command rule says
// needs approval. In full_auto no standing rule covers them.
func (c *Coordinator) commandGates(p *agentos.Plan, res *policy.Result) error {
	type cmd struct {
		argv []string
		step int
	}
	var cmds []cmd
	for i, s := range p.Steps {
		if s.Kind == agentos.StepExec {
			cmds = append(cmds, cmd{s.Argv, i})
		}
	}
	for j, ch := range p.Verify {
		cmds = append(cmds, cmd{ch.Argv, len(p.Steps) + j})
	}
	var approvers []agentos.Actor
	for _, a := range c.Config.Approvers {
		approvers = append(approvers, agentos.Human(strings.TrimPrefix(a, "human:")))
	}
	seen := map[string]bool{}
	for _, x := range cmds {
		d, err := c.decideCommand(x.argv, c.Repo.Dir())
		if err != nil {
			return err
		}
		switch d.Effect {
		case cmdrule.Deny:
			res.Decisions = append(res.Decisions, agentos.GateDecision{RuleID: "commands." + d.RuleID, Effect: agentos.EffectDeny, Step: x.step, PolicyHash: c.Config.Hash,
				Reason: fmt.Sprintf("%s: %s", strings.Join(x.argv, " "), d.Reason)})
			res.Effect = agentos.EffectDeny
		case cmdrule.Approve:
			id := "commands." + d.RuleID
			res.Decisions = append(res.Decisions, agentos.GateDecision{RuleID: id, Effect: agentos.EffectRequireApproval, Step: x.step, PolicyHash: c.Config.Hash,
				Reason: fmt.Sprintf("%s needs a human: %s", strings.Join(x.argv, " "), d.Reason)})
			if res.Effect != agentos.EffectDeny {
				res.Effect = agentos.EffectRequireApproval
			}
			if !seen[id] {
				seen[id] = true
				res.Requirements = append(res.Requirements, approval.Requirement{RuleID: id, Approvers: approvers, Approvals: 1, Reason: d.Reason})
				res.AutoApproved = false
				res.Uncovered = append(res.Uncovered, id)
			}
		}
	}
	return nil
}

// checkCommand decides, right before it runs, whether a command may run, and
// records the decision (rule, decision, argv as matched, each sub-command). A
// deny refuses; an approve runs only if the plan's gates required that
// approval (admission has then checked it).
func (c *Coordinator) checkCommand(ctx context.Context, t *agentos.Task, run *agentos.Run, argv []string, exe, dir string) error {
	d, err := c.decideCommand(argv, dir)
	if err != nil {
		return err
	}
	data := agentos.CommandRuleEvent{Rule: d.RuleID, Decision: d.Effect, Argv: d.Argv, Reason: d.Reason, Exe: exe}
	if len(d.Commands) > 1 {
		data.Commands = auditSubCommands(d.Commands)
	}
	if _, err := c.DB.Append(ctx, agentos.EventInput{Task: t.ID, Run: run.ID, Actor: agentos.System, Kind: agentos.EventCommandRule, Data: data}); err != nil {
		return err
	}
	switch d.Effect {
	case cmdrule.Allow:
		return nil
	case cmdrule.Approve:
		ds, err := c.DB.GateDecisions(ctx, t.ID, t.PlanHash)
		if err != nil {
			return err
		}
		for _, g := range ds {
			if g.RuleID == "commands."+d.RuleID && g.Effect == agentos.EffectRequireApproval {
				return nil
			}
		}
		return agentos.Errorf(agentos.EDENIED, "command %q needs approval under rule %s, and its plan was not approved for it", strings.Join(argv, " "), d.RuleID)
	}
	return agentos.Errorf(agentos.EDENIED, "command rule %s denies %q: %s", d.RuleID, strings.Join(argv, " "), d.Reason)
}

// redact hides secrets in text that is stored (records, ReviewPacks).
func (c *Coordinator) redact(s string) string {
	if c.Redact != nil {
		return c.Redact(s)
	}
	return s
}
