package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// planFlags are shared by plan, run and submit.
type planFlags struct {
	file    string
	mode    string
	set     []string
	answers string
	labels  []string
	json    bool
}

func (p *planFlags) add(cmd *cobra.Command, fileFlag string) {
	cmd.Flags().StringVar(&p.file, fileFlag, "", "the plan `file` (YAML)")
	cmd.Flags().StringVar(&p.mode, "mode", "", "autonomy mode: interactive, semi_auto or full_auto (default: agentos.yaml modes.default, else semi_auto)")
	cmd.Flags().StringArrayVar(&p.set, "set", nil, "answer a param up front: `ID=VALUE` (repeatable)")
	cmd.Flags().StringVar(&p.answers, "answers", "", "answers given up front: a YAML or JSON `file` of ID: VALUE")
	cmd.Flags().StringSliceVar(&p.labels, "label", nil, "label the task (repeatable)")
}

func (p *planFlags) request(ctx context.Context, f *Factory, autoApply bool) (coordinator.PlanRequest, error) {
	var req coordinator.PlanRequest
	if p.file == "" {
		return req, usageErr("missing the plan file: pass --plan FILE (or --file FILE)")
	}
	mode := agentos.Mode("")
	if p.mode != "" {
		m, err := agentos.ParseMode(p.mode)
		if err != nil {
			return req, err
		}
		mode = m
	}
	values, err := parseSets(p.set)
	if err != nil {
		return req, err
	}
	if p.answers != "" {
		b, err := os.ReadFile(p.answers)
		if err != nil {
			return req, agentos.Errorf(agentos.EINVALID, "cannot read answers file %s: %v", p.answers, err)
		}
		var m map[string]string
		if err := yaml.Unmarshal(b, &m); err != nil {
			return req, agentos.Errorf(agentos.EINVALID, "answers file %s: want a mapping of ID: VALUE: %v", p.answers, err)
		}
		for k, v := range m {
			if _, dup := values[k]; !dup {
				values[k] = v
			}
		}
	}
	actor, err := f.Actor(ctx)
	if err != nil {
		return req, err
	}
	return coordinator.PlanRequest{File: p.file, Mode: mode, Values: values, Actor: actor, AutoApply: autoApply, Labels: p.labels}, nil
}

func parseSets(sets []string) (map[string]string, error) {
	values := map[string]string{}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, usageErr("--set %q: want ID=VALUE", s)
		}
		if _, dup := values[k]; dup {
			return nil, usageErr("--set %s given twice", k)
		}
		values[k] = v
	}
	return values, nil
}

func newCmdPlan(f *Factory) *cobra.Command {
	var p planFlags
	var check bool
	cmd := &cobra.Command{
		Use:   "plan --file PLAN.yaml",
		Short: "Dry run: validate, hash and store a plan; touches nothing",
		Long: `Plan creates a task from a plan file and plans it without touching the
working tree, the index or any ref: every path and command is checked
against the base commit, questions are asked or the task blocks, the
MemoryPack is frozen, and the plan is stored with its SHA-256.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			req, err := p.request(ctx, f, false)
			if err != nil {
				return err
			}
			if check {
				// Nothing is stored: the read-only pipeline does.
				c, err := f.CoordinatorReadOnly(ctx)
				if err != nil {
					return err
				}
				fc, err := c.CheckFile(ctx, req)
				if err != nil {
					return err
				}
				if p.json {
					return printJSON(f, fc)
				}
				fmt.Fprintf(f.IO.Out, "%s: valid (%d step(s), %d check(s), against %s)\n", fc.File, fc.Steps, fc.Checks, shortSHA(fc.Base))
				if len(fc.Open) > 0 {
					fmt.Fprintf(f.IO.Out, "  params to answer first: %s (their steps are checked once answered: pass --set ID=VALUE)\n", strings.Join(fc.Open, ", "))
				}
				return nil
			}
			c, err := f.Coordinator(ctx)
			if err != nil {
				return err
			}
			t, err := c.PlanFile(ctx, req)
			return f.reportTask(ctx, t, err, p.json)
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "only check the plan file against the base and the policy: no task, nothing stored")
	p.add(cmd, "file")
	cmd.Flags().StringVar(&p.file, "plan", "", "the plan `file` (same as --file)")
	addJSONFlag(cmd, f, &p.json)
	return cmd
}

// requestFunc runs a natural-language request (`agentos run "REQUEST"`).
type requestFunc func(ctx context.Context, f *Factory, request string, p *planFlags) error

// newCmdRun builds `run`; request handles the natural-language form (the
// root wires runRequest, request.go).
func newCmdRun(f *Factory, request requestFunc) *cobra.Command {
	var p planFlags
	cmd := &cobra.Command{
		Use:   "run (--plan PLAN.yaml | \"REQUEST\")",
		Short: "Plan and apply in one go; stops where a question or a gate says so",
		Long: `Run plans and applies. Like every run, it passes the scheduler rules of
agentos.yaml first (audited; see ` + "`agentos scheduler explain TASK`" + `). It exits 0
when the change is committed, 3 when the task is blocked on questions, 4 when
the plan awaits approval, 5 when a scheduler rule holds the task (it stays
queued for ` + "`agentos worker`" + ` or a later ` + "`agentos apply TASK`" + `), 1 when the task
failed and 2 on bad input. Ctrl-C (SIGINT), SIGTERM or a closed terminal
(SIGHUP) kills the running command's process tree and ends the task cancelled
with its ReviewPack; run then exits 130, 143 or 129.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) > 0 {
				if p.file != "" {
					return usageErr("give either --plan FILE or a request, not both")
				}
				return request(ctx, f, strings.Join(args, " "), &p)
			}
			req, err := p.request(ctx, f, true)
			if err != nil {
				return err
			}
			c, err := f.Coordinator(ctx)
			if err != nil {
				return err
			}
			t, err := c.Run(ctx, req)
			return f.reportTask(ctx, t, err, p.json)
		},
	}
	p.add(cmd, "plan")
	cmd.Flags().StringVar(&p.file, "file", "", "the plan `file` (same as --plan)")
	cmd.Flags().BoolVarP(&f.Yes, "yes", "y", false, "interactive mode: apply without showing the plan and asking first")
	addJSONFlag(cmd, f, &p.json)
	return cmd
}

func newCmdApply(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "apply TASK",
		Short: "Apply exactly the stored plan of a task: worktree, steps, verify, commit",
		Long: `Apply runs the stored plan of a planned or queued task once the scheduler
rules of agentos.yaml dispatch it (audited, like a worker's dispatch). It
exits 0 when committed, 4 when the plan awaits approval, 5 when a scheduler
rule holds or skips the task or another task holds a lock on one of its
files (it stays queued: ` + "`agentos scheduler explain TASK`" + ` says why), 1 when it
failed and 2 on bad input. A signal stops the run and cancels the task (exit
130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).`,
		Args: exactArgs(1, "TASK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := f.Coordinator(ctx)
			if err != nil {
				return err
			}
			actor, err := f.Actor(ctx)
			if err != nil {
				return err
			}
			t, err := c.Apply(ctx, args[0], actor)
			return f.reportTask(ctx, t, err, asJSON)
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

// reportTask prints a task's outcome (data on stdout) and passes err on for
// the exit code.
func (f *Factory) reportTask(ctx context.Context, t *agentos.Task, err error, asJSON bool) error {
	if t == nil {
		return err
	}
	if asJSON {
		if perr := printJSON(f, taskView(ctx, f, t)); perr != nil {
			return perr
		}
		return err
	}
	out := f.IO.Out
	state := string(t.State)
	switch t.State {
	case agentos.StateCommitted, agentos.StateRolledBack:
		state = f.IO.OutColor("green", state)
	case agentos.StateFailed, agentos.StateRejected, agentos.StateCancelled:
		state = f.IO.OutColor("red", state)
	case agentos.StateBlocked, agentos.StateAwaitingApproval:
		state = f.IO.OutColor("yellow", state)
	}
	fmt.Fprintf(out, "task %s %s\n", t.ID, state)
	if t.PlanHash != "" {
		fmt.Fprintf(out, "  plan    %s\n", t.PlanHash)
	}
	if t.Commit != "" {
		// The target is not moved when its checkout is dirty: the commit
		// then waits on the task's branch, and saying "on main" would lie.
		where := t.Target
		if r, rerr := f.Repo(ctx); rerr == nil && !r.IsAncestor(ctx, t.Commit, "refs/heads/"+t.Target) {
			where = "agentos/" + t.ID + " (" + t.Target + " not moved)"
		}
		fmt.Fprintf(out, "  commit  %s on %s\n", t.Commit, where)
	}
	if t.Reason != "" && err == nil {
		fmt.Fprintf(out, "  note    %s\n", t.Reason)
	}
	if db, derr := f.DBReadOnly(ctx); derr == nil {
		if rp, _, rerr := db.Review(ctx, t.ID); rerr == nil && (t.State.Terminal()) {
			if dir, serr := f.StatePath(ctx); serr == nil {
				run := rp.Run
				if run == "" {
					run = "plan"
				}
				fmt.Fprintf(out, "  review  %s/reviews/%s-%s.md\n", dir, t.ID, run)
			}
		}
	}
	return err
}

// TaskView is the JSON shape of a task in command output
// (coordinator.View builds it, for the HTTP API too).
type TaskView = coordinator.TaskView

func taskView(ctx context.Context, f *Factory, t *agentos.Task) TaskView {
	db, err := f.DBReadOnly(ctx)
	if err != nil {
		return TaskView{Task: t, Plans: []coordinator.PlanRef{}, Runs: []string{}, Commits: []string{}}
	}
	return coordinator.View(ctx, db, t)
}
