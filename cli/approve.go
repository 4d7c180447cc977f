package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/signers"
	"github.com/spf13/cobra"
)

// agentSessionEnv are variables AgentOS sets for contractor agents; a command
// that sees one runs inside an agent's session and never decides for a human.
var agentSessionEnv = []string{"AGENTOS_HOOK", "AGENTOS_WORKTREE"}

func refuseAgentSession(verb string) error {
	for _, k := range agentSessionEnv {
		if _, ok := os.LookupEnv(k); ok {
			return agentos.Errorf(agentos.EDENIED, "agentos %s runs inside an agent session (%s is set): an agent can never %s for a human", verb, k, verb)
		}
	}
	return nil
}

type approveOptions struct {
	plan    string
	comment string
	json    bool
}

func newCmdApprove(f *Factory) *cobra.Command {
	var o approveOptions
	cmd := &cobra.Command{
		Use:   "approve TASK --plan sha256:…",
		Short: "Approve exactly one plan hash of a task waiting for approval; it is queued (and applied, for a run)",
		Long: `Approve records your approval of the task's current plan, named by its hash
(shown by ` + "`agentos task show TASK`" + `), bound to the current base commit, policy
hash and MemoryPack. When every gate's approvals are there (N of M distinct
approvers), the task is queued. A task whose own ` + "`agentos run`" + ` stopped for
this approval is then applied, through the scheduler rules like any run
(exit 5 when a rule holds it); a submitted or planned task waits in the
queue for ` + "`agentos worker`" + ` or ` + "`agentos apply TASK`" + `. Exits 4 while more
approvals are needed. Only humans approve; an agent never approves, and a
re-plan clears approvals.`,
		Args: exactArgs(1, "TASK --plan sha256:…"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := refuseAgentSession("approve"); err != nil {
				return err
			}
			if o.plan == "" {
				return usageErr("--plan is required: name the plan hash shown by `agentos task show %s`", args[0])
			}
			who, err := f.Decider(ctx, signers.RoleApprove)
			if err != nil {
				return err
			}
			c, err := f.Coordinator(ctx)
			if err != nil {
				return err
			}
			res, err := c.Approve(ctx, args[0], strings.TrimSpace(o.plan), who, o.comment)
			if res == nil {
				return err
			}
			if res.Queued && !o.json {
				if rerr := f.reportTask(ctx, res.Task, err, false); err == nil && rerr == nil {
					fmt.Fprintf(f.IO.Out, "  next    approved and queued: `agentos worker` runs it under the scheduler rules, or run it now with `agentos apply %s`\n", res.Task.ID)
				}
				return err
			}
			if !res.Applied {
				if o.json {
					if perr := printJSON(f, res); perr != nil {
						return perr
					}
					return err
				}
				for _, r := range res.Status.Rules {
					fmt.Fprintf(f.IO.Out, "%s\t%d/%d\t%s\n", r.RuleID, r.Have, r.Need, joinActors(r.By))
				}
				return err
			}
			return f.reportTask(ctx, res.Task, err, o.json)
		},
	}
	cmd.Flags().StringVar(&o.plan, "plan", "", "the plan `hash` you reviewed (sha256:…)")
	cmd.Flags().StringVar(&o.comment, "comment", "", "a comment recorded with the approval")
	addJSONFlag(cmd, f, &o.json)
	return cmd
}

func newCmdReject(f *Factory) *cobra.Command {
	var plan, reason string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "reject TASK --reason \"…\"",
		Short: "Reject the plan of a task waiting for approval; the task ends rejected",
		Args:  exactArgs(1, "TASK --reason \"…\""),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := refuseAgentSession("reject"); err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return usageErr("--reason is required: say why the plan is rejected")
			}
			who, err := f.Decider(ctx, signers.RoleApprove)
			if err != nil {
				return err
			}
			c, err := f.Coordinator(ctx)
			if err != nil {
				return err
			}
			t, err := c.Reject(ctx, args[0], strings.TrimSpace(plan), who, reason)
			return f.reportTask(ctx, t, err, asJSON)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the plan is rejected (recorded, redacted)")
	cmd.Flags().StringVar(&plan, "plan", "", "the plan `hash` rejected (default: the task's current plan)")
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func joinActors(as []agentos.Actor) string {
	ss := make([]string, len(as))
	for i, a := range as {
		ss[i] = string(a)
	}
	return strings.Join(ss, ", ")
}
