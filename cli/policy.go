package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/policy"
	"github.com/spf13/cobra"
)

func newCmdPolicy(f *Factory) *cobra.Command {
	cmd := group("policy", "Explain and test the gates in agentos.yaml")
	cmd.AddCommand(newCmdPolicyExplain(f), newCmdPolicyTest(f), newCmdPolicyVars(f))
	return cmd
}

// explainView is `agentos policy explain --json`.
type explainView struct {
	Task          string                 `json:"task"`
	State         agentos.State          `json:"state"`
	Mode          agentos.Mode           `json:"mode"`
	PlanHash      string                 `json:"plan_hash"`
	PolicyHash    string                 `json:"policy_hash"`
	PlanPolicy    string                 `json:"plan_policy_hash"`
	Effect        agentos.Effect         `json:"effect"`
	Rules         []policy.RuleResult    `json:"rules"`
	Decisions     []agentos.GateDecision `json:"decisions"`
	Recorded      []agentos.GateDecision `json:"recorded"`
	Requirements  []approval.Requirement `json:"requirements"`
	AutoApproved  bool                   `json:"auto_approved"`
	AutoApprovals []policy.AutoApproval  `json:"auto_approvals"`
	Approvals     []approval.Approval    `json:"approvals"`
	// Source is where the policy in force comes from; Uncommitted is the
	// working tree's agentos.yaml when it differs (not in effect).
	Source      *policyOrigin    `json:"policy_source"`
	Uncommitted *uncommittedView `json:"uncommitted,omitempty"`
}

// uncommittedView is what an uncommitted agentos.yaml would change: nothing
// until it is committed.
type uncommittedView struct {
	Status      string   `json:"status"` // always notInEffect
	Loads       bool     `json:"loads"`
	Differences []string `json:"differences"`
}

const notInEffect = "not in effect: uncommitted"

// uncommitted compares the working tree's agentos.yaml with the policy in
// force; nil when they are the same file.
func uncommitted(o *policyOrigin, inForce *config.Config) *uncommittedView {
	if o == nil || o.WorkingTree == wtSame || (o.WorkingTree == wtMissing && !o.Committed) {
		return nil
	}
	v := &uncommittedView{Status: notInEffect, Differences: []string{}}
	switch {
	case o.WorkingTree == wtMissing:
		v.Differences = append(v.Differences, config.FileName+": deleted")
	case o.Uncommitted != nil:
		v.Loads = true
		v.Differences = append(v.Differences, config.Differences(inForce, o.Uncommitted)...)
	default:
		v.Differences = append(v.Differences, config.FileName+": does not load (see `agentos policy test`)")
	}
	return v
}

func newCmdPolicyExplain(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "explain TASK",
		Short: "Evaluate every gate over a task's plan: id, effect, whether and on which step it matched, why",
		Args:  exactArgs(1, "TASK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			db, err := f.DBReadOnly(ctx)
			if err != nil {
				return err
			}
			cfg, err := f.Config(ctx)
			if err != nil {
				return err
			}
			e, err := policy.Load(cfg)
			if err != nil {
				return err
			}
			t, err := db.Task(ctx, args[0])
			if err != nil {
				return err
			}
			if t.PlanID == "" {
				return agentos.Errorf(agentos.ECONFLICT, "task %s has no plan yet (it is %s): nothing to explain", t.ID, t.State)
			}
			p, _, err := db.Plan(ctx, t.PlanID)
			if err != nil {
				return err
			}
			var intent *agentos.Intent
			if p.IntentID != "" {
				if intent, err = db.Intent(ctx, p.IntentID); err != nil && agentos.ErrorCode(err) != agentos.ENOTFOUND {
					return err
				}
			}
			res := e.Evaluate(policy.Input{Task: *t, Intent: intent, Plan: *p})
			// The coordinator's view adds the command rules (approve/deny).
			if c, err := f.CoordinatorReadOnly(ctx); err == nil {
				if full, err := c.GateResult(ctx, t, p); err == nil {
					res = full
				}
			}
			recorded, err := db.GateDecisions(ctx, t.ID, p.Hash)
			if err != nil {
				return err
			}
			approvals, err := approval.NewStore(db).List(ctx, t.ID)
			if err != nil {
				return err
			}
			v := explainView{
				Task: t.ID, State: t.State, Mode: t.Mode, PlanHash: p.Hash, PolicyHash: e.Hash(), PlanPolicy: p.PolicyHash,
				Effect: res.Effect, Rules: res.Rules, Decisions: res.Decisions, Recorded: recorded,
				Requirements: res.Requirements, AutoApproved: res.AutoApproved, AutoApprovals: res.AutoApprovals, Approvals: approvals,
				Source: f.origin, Uncommitted: uncommitted(f.origin, cfg),
			}
			if asJSON {
				return printJSON(f, v)
			}
			printPolicyExplain(f, v)
			return nil
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func printPolicyExplain(f *Factory, v explainView) {
	out := f.IO.Out
	fmt.Fprintf(out, "task %s (%s, %s)\nplan %s\npolicy %s (%s)\n", v.Task, v.State, v.Mode, v.PlanHash, v.PolicyHash, v.Source.Describe())
	if v.PlanPolicy != v.PolicyHash {
		fmt.Fprintf(f.IO.ErrOut, "note: the plan was gated under policy %s; this is the current policy's view (applying it needs a re-plan)\n", v.PlanPolicy)
	}
	fmt.Fprintf(out, "effect: %s\n\n", v.Effect)
	w := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(w, "RULE\tEFFECT\tSCOPE\tMATCHED\tWHY")
	for _, r := range v.Rules {
		scope := "plan"
		if r.PerStep {
			scope = "step"
		}
		matched := "no"
		if r.Matched {
			matched = "yes"
			if len(r.Steps) > 0 {
				matched = "steps"
				for i, s := range r.Steps {
					sep := ","
					if i == 0 {
						sep = " "
					}
					matched += fmt.Sprintf("%s%d", sep, s+1)
				}
			}
		}
		why := ""
		if r.Error != "" {
			matched, why = "error", r.Error
		}
		for _, d := range v.Decisions {
			if d.RuleID == r.RuleID && why == "" {
				why = d.Reason
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.RuleID, r.Effect, scope, matched, why)
	}
	for _, d := range v.Decisions {
		if strings.HasPrefix(d.RuleID, "commands.") {
			fmt.Fprintf(w, "%s\t%s\tstep\tstep %d\t%s\n", d.RuleID, d.Effect, d.Step+1, d.Reason)
		}
	}
	w.Flush()
	if len(v.Requirements) > 0 {
		fmt.Fprintln(out, "\napprovals required:")
		for _, r := range v.Requirements {
			who := "any human"
			if len(r.Approvers) > 0 {
				who = joinActors(r.Approvers)
			}
			fmt.Fprintf(out, "  %s: %d of %s\n", r.RuleID, max(r.Approvals, 1), who)
		}
	}
	for _, a := range v.AutoApprovals {
		fmt.Fprintf(out, "  standing approval %s covers %s (full_auto)\n", a.AutoRuleID, a.RuleID)
	}
	if u := v.Uncommitted; u != nil {
		fmt.Fprintf(out, "\nworking tree %s (%s):\n", config.FileName, u.Status)
		for _, d := range u.Differences {
			fmt.Fprintf(out, "  %s (%s)\n", d, u.Status)
		}
		if len(u.Differences) == 0 {
			fmt.Fprintf(out, "  the same rules, other bytes (%s)\n", u.Status)
		}
	}
	if len(v.Approvals) > 0 {
		fmt.Fprintln(out, "\napproval history:")
		for _, a := range v.Approvals {
			state := "counts"
			switch {
			case a.Cleared != "":
				state = "cleared: " + a.Cleared
			case a.PlanHash != v.PlanHash:
				state = "other plan"
			}
			fmt.Fprintf(out, "  %s  %s  %s  %s  base %s  (%s)\n", a.Time.UTC().Format("2006-01-02 15:04:05"), a.Kind, a.Actor, a.PlanHash, shortSHA(a.Binding.Base), state)
		}
	}
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func newCmdPolicyTest(f *Factory) *cobra.Command {
	var asJSON, committed bool
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run every gate rule's match / not_match examples (of the working tree's agentos.yaml; --committed: of the policy in force)",
		Long: "Checks agentos.yaml as it is in the working tree, so a policy can be tested before it is " +
			"committed; it says which file it checked and whether that file is in force (only the " +
			"committed agentos.yaml governs). --committed checks the policy in force instead.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, file, inForce, err := policyUnderTest(ctx, f, committed)
			if err != nil {
				return err
			}
			fmt.Fprintf(f.IO.ErrOut, "checking %s\n", file)
			e, err := policy.Compile(cfg)
			if err != nil {
				return err
			}
			results := e.CheckExamples()
			failed := 0
			for _, r := range results {
				if !r.OK {
					failed++
				}
			}
			// Command rules (commands.rules) carry examples too.
			cmdExamples := 0
			for _, r := range cfg.Commands.Rules {
				cmdExamples += len(r.Match) + len(r.NotMatch)
			}
			cmdFails := []string{}
			if ce, err := cmdrule.New(cfg.Commands); err != nil {
				cmdFails = append(cmdFails, agentos.ErrorMessage(err))
			} else {
				cmdFails = append(cmdFails, ce.CheckExamples()...)
			}
			total := len(results) + cmdExamples
			failed += len(cmdFails)
			if asJSON {
				if results == nil {
					results = []policy.ExampleResult{}
				}
				if err := printJSON(f, map[string]any{"policy_hash": e.Hash(), "file": file, "in_force": inForce, "examples": results,
					"command_examples": map[string]any{"count": cmdExamples, "failures": cmdFails}, "failed": failed}); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					if r.OK {
						fmt.Fprintf(f.IO.Out, "ok    %s %s %d\n", r.RuleID, r.Kind, r.Index+1)
					} else {
						fmt.Fprintf(f.IO.Out, "FAIL  %s %s %d: %s\n", r.RuleID, r.Kind, r.Index+1, r.Problem)
					}
				}
				if len(cmdFails) == 0 && cmdExamples > 0 {
					fmt.Fprintf(f.IO.Out, "ok    commands.rules: %d examples\n", cmdExamples)
				}
				for _, msg := range cmdFails {
					fmt.Fprintf(f.IO.Out, "FAIL  commands.rules: %s\n", msg)
				}
				fmt.Fprintf(f.IO.ErrOut, "%d examples, %d failed\n", total, failed)
			}
			if failed > 0 {
				return agentos.Errorf(agentos.EFAILED, "%d of %d policy examples failed: fix the rules or their examples in agentos.yaml", failed, total)
			}
			return nil
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	cmd.Flags().BoolVar(&committed, "committed", false, "check the policy in force (as committed) instead of the working tree's file")
	return cmd
}

// policyUnderTest is the policy `policy test` checks and a line naming it:
// the working tree's agentos.yaml (whether it is in force or not), or with
// committed the policy in force.
func policyUnderTest(ctx context.Context, f *Factory, committed bool) (*config.Config, string, bool, error) {
	f.policyNoticed = true // the line below says it
	if committed {
		cfg, err := f.ConfigUnchecked(ctx)
		if err != nil {
			return nil, "", false, err
		}
		return cfg, "the policy in force (" + f.origin.Describe() + ")", true, nil
	}
	r, err := f.Repo(ctx)
	if err != nil {
		return nil, "", false, err
	}
	path := filepath.Join(r.Root, config.FileName)
	cfg, err := config.Load(path)
	if err != nil {
		return nil, "", false, err
	}
	// Whether it is in force: the policy in force may not load; then it is
	// not this file either.
	inForce := false
	if cur, err := f.ConfigUnchecked(ctx); err == nil {
		inForce = cur.Hash == cfg.Hash && f.origin.Committed
	}
	if inForce {
		return cfg, path + " (in force: " + f.origin.Describe() + ")", true, nil
	}
	return cfg, path + " (working tree; " + notInEffect + " — only the committed " + config.FileName + " governs)", false, nil
}

func newCmdPolicyVars(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "vars",
		Short: "List the variables and functions gate conditions can use",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				type entry struct {
					Name string `json:"name"`
					Type string `json:"type"`
					Doc  string `json:"doc"`
				}
				out := []entry{}
				for _, v := range policy.Variables {
					out = append(out, entry{v.Name, fmt.Sprint(v.Type), v.Doc})
				}
				out = append(out, entry{"glob(path|list, pattern)", "bool", "** spans directories; a pattern without / matches the base name"},
					entry{"risk_at_least(risk, min)", "bool", "low < medium < high < critical"})
				return printJSON(f, out)
			}
			w := tabwriter.NewWriter(f.IO.Out, 0, 2, 2, ' ', 0)
			fmt.Fprintln(w, "VARIABLE\tTYPE\tMEANING")
			for _, v := range policy.Variables {
				fmt.Fprintf(w, "%s\t%s\t%s\n", v.Name, v.Type, v.Doc)
			}
			fmt.Fprintln(w, "glob(path|list, pattern)\tbool\t** spans directories; a pattern without / matches the base name")
			fmt.Fprintln(w, "risk_at_least(risk, min)\tbool\tlow < medium < high < critical")
			return w.Flush()
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}
