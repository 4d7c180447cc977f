package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/contractor"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/session"
	"github.com/spf13/cobra"
)

// NewCmdSession builds `agentos session claude|codex|opencode [-- ARGS…]`,
// `agentos session checkpoint [TASK]` and `agentos session list`. The logic
// is in package session and coordinator.RunSession; this only wires.
func NewCmdSession(f *Factory) *cobra.Command {
	grp := group("session", "Work with your agent CLI interactively, inside the sandbox, on a task of its own")
	grp.Long = `A session starts your agent CLI (Claude Code, Codex or OpenCode) with its own
interactive UI in your terminal, inside the AgentOS sandbox, on a copy of the
repository that is the session's task: your checkout is not touched while you
work. The agent reaches only its model endpoints (from its environment and
configuration), and every tool call it makes is decided by AgentOS's hook, as
for contractors; a call that needs a person is handed to the CLI's own prompt.

When the agent exits (/exit, Ctrl-D, or ` + "`agentos session checkpoint`" + ` from another
terminal), what it changed becomes the task's plan and goes through the normal
pipeline: gates, approval per policy, the verify checks, commit, ReviewPack
(which lists every tool decision of the session). Sessions run side by side.`
	for _, agent := range session.Agents {
		grp.AddCommand(newCmdSessionAgent(f, agent))
	}
	grp.AddCommand(newCmdSessionCheckpoint(f), newCmdSessionList(f))
	return grp
}

func newCmdSessionAgent(f *Factory, agent string) *cobra.Command {
	var goal string
	var asJSON, timings bool
	cmd := &cobra.Command{
		Use:   agent + " [-- ARGS...]",
		Short: "Start " + agent + " interactively in the sandbox; its work lands through the pipeline when it exits",
		Long: "Starts " + agent + " in your terminal inside the AgentOS sandbox, on a task of its own. Arguments after -- go to " + agent + ".\n" +
			"Exit codes as for `agentos run`: 0 committed, 4 awaiting approval, 1 failed (a session that changed nothing fails its task).",
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dash := cmd.ArgsLenAtDash(); dash != 0 && len(args) > 0 {
				return usageErr("arguments for %s go after --: agentos session %s -- %s", agent, agent, strings.Join(args, " "))
			}
			ctx := cmd.Context()
			in, _ := f.IO.In.(*os.File)
			out, _ := f.IO.Out.(*os.File)
			repo, err := f.Repo(ctx)
			if err != nil {
				return err
			}
			state, err := f.StatePath(ctx)
			if err != nil {
				return err
			}
			home, _ := os.UserHomeDir()
			s, err := session.New(session.Options{Agent: agent, Args: args, In: in, Out: out, Getenv: os.Getenv, Home: home, Repo: repo.Root, StateDir: state})
			if err != nil {
				return err
			}
			defer s.Close()
			c, err := f.Coordinator(ctx)
			if err != nil {
				return err
			}
			actor, err := f.Actor(ctx)
			if err != nil {
				return err
			}
			// The agent owns the terminal while it runs: nothing else prints.
			if prog := c.Progress; prog != nil {
				c.Progress = func(ev coordinator.ProgressEvent) {
					if !s.Active() {
						prog(ev)
					}
				}
			}
			fmt.Fprintf(f.IO.ErrOut, "agentos: starting %s in the sandbox (network: %s); its work lands when it exits\n", agent, strings.Join(s.Endpoints(), ", "))
			t, err := c.RunSession(ctx, coordinator.SessionRequest{
				Agent: agent, Goal: goal, Actor: actor,
				Interactive: func(spec *contractor.Spec) {
					if f.progressEnd != nil {
						f.progressEnd() // its redraw would write over the agent's screen
					}
					s.Configure(spec)
				},
				Started: func(t *agentos.Task) { s.Started(t.ID) },
			})
			s.Close()
			if timings && !s.AgentEnded.IsZero() {
				fmt.Fprintf(f.IO.ErrOut, "agentos: agent ran %s; pipeline after it took %s\n",
					s.AgentEnded.Sub(s.AgentStarted).Round(time.Millisecond), time.Since(s.AgentEnded).Round(time.Millisecond))
			}
			return f.reportTask(ctx, t, err, asJSON)
		},
	}
	cmd.Flags().StringVarP(&goal, "goal", "m", "", "what the session is for (the commit message's subject)")
	cmd.Flags().BoolVar(&timings, "timings", false, "print how long the agent ran and how long the pipeline took after it")
	cmd.Flags().BoolVarP(&f.Yes, "yes", "y", false, "interactive mode: apply without showing the plan and asking first")
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func newCmdSessionCheckpoint(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "checkpoint [TASK]",
		Short: "End a running session's agent now and send its work through the pipeline",
		Long: "Ends the agent of the running session of TASK (or the only session running in this repository), " +
			"as if it had exited: what it changed so far becomes the task's plan and goes through the pipeline, " +
			"in the session's own terminal. Start a new session to go on.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			state, err := f.StatePath(cmd.Context())
			if err != nil {
				return err
			}
			task := ""
			if len(args) == 1 {
				task = args[0]
			}
			r, err := session.RequestCheckpoint(state, task)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(f, r)
			}
			fmt.Fprintf(f.IO.Out, "checkpoint requested: session %s (%s, pid %d)\n", r.Task, r.Agent, r.PID)
			return nil
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func newCmdSessionList(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the sessions running in this repository",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			state, err := f.StatePath(cmd.Context())
			if err != nil {
				return err
			}
			rs, err := session.List(state)
			if err != nil {
				return err
			}
			if asJSON {
				if rs == nil {
					rs = []session.Record{}
				}
				return printJSON(f, rs)
			}
			for _, r := range rs {
				fmt.Fprintf(f.IO.Out, "%s  %-8s  pid %-7d  since %s\n", r.Task, r.Agent, r.PID, r.Started.Local().Format(time.DateTime))
			}
			return nil
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}
