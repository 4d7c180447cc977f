package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/gitrepo"
	"github.com/agentos/agentos/sandbox"
	"github.com/spf13/cobra"
)

func newCmdTask(f *Factory) *cobra.Command {
	cmd := group("task", "List, show and clean up tasks")
	cmd.AddCommand(newCmdTaskList(f), newCmdTaskShow(f), newCmdTaskInspect(f), newCmdTaskClean(f), newCmdTaskCancel(f), newCmdTaskReplan(f))
	return cmd
}

func newCmdTaskList(f *Factory) *cobra.Command {
	var state string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--state STATE]",
		Short: "List tasks, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if state != "" && !agentos.ValidState(agentos.State(state)) {
				var names []string
				for _, s := range agentos.States {
					names = append(names, string(s))
				}
				return usageErr("--state %q is not a state (one of %s)", state, strings.Join(names, ", "))
			}
			// Read-only: tasks blocked past blocked_expires_after are listed
			// as blocked until a write command or `agentos gc` cancels them.
			db, err := f.DBReadOnly(ctx)
			if err != nil {
				return err
			}
			ts, err := db.Tasks(ctx, agentos.TaskFilter{State: agentos.State(state), Limit: limit})
			if err != nil {
				return err
			}
			if asJSON {
				if ts == nil {
					ts = []*agentos.Task{}
				}
				return printJSON(f, ts)
			}
			if len(ts) == 0 {
				fmt.Fprintln(f.IO.ErrOut, "no tasks")
				return nil
			}
			defer f.startPager()()
			w := tabwriter.NewWriter(f.IO.Out, 0, 2, 2, ' ', 0)
			fmt.Fprintln(w, "TASK\tSTATE\tMODE\tAGE\tGOAL\tWAITING ON / NOTE")
			for _, t := range ts {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.State, t.Mode, age(f.Now().Sub(t.CreatedAt)), trunc(t.Goal, 50), trunc(t.Reason, 70))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only tasks in this state (e.g. blocked, awaiting_approval)")
	cmd.Flags().IntVar(&limit, "limit", 0, "show at most N tasks")
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func trunc(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func newCmdTaskShow(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show TASK",
		Short: "Show a task: state, plan hash, steps, MemoryPack, commits",
		Args:  exactArgs(1, "TASK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			db, t, err := f.Task(ctx, args[0])
			if err != nil {
				return err
			}
			v := taskView(ctx, f, t)
			if dir, err := f.StatePath(ctx); err == nil {
				if kw, err := coordinator.ReadKeptWorktree(dir, t.ID); err == nil {
					v.Worktree = kw
				}
			}
			if asJSON {
				return printJSON(f, v)
			}
			w := tabwriter.NewWriter(f.IO.Out, 0, 2, 2, ' ', 0)
			fmt.Fprintf(w, "task\t%s\n", t.ID)
			fmt.Fprintf(w, "state\t%s\n", t.State)
			fmt.Fprintf(w, "goal\t%s\n", t.Goal)
			fmt.Fprintf(w, "mode\t%s\n", t.Mode)
			fmt.Fprintf(w, "submitter\t%s\n", t.Submitter)
			fmt.Fprintf(w, "target\t%s\n", t.Target)
			if t.Reason != "" {
				fmt.Fprintf(w, "note\t%s\n", t.Reason)
			}
			fmt.Fprintf(w, "plan\t%s\n", t.PlanHash)
			if v.Memory != nil {
				fmt.Fprintf(w, "memory pack\t%s (%d items)\n", v.Memory.Hash, len(v.Memory.Items))
			}
			for _, c := range v.Commits {
				fmt.Fprintf(w, "commit\t%s\n", c)
			}
			if kw := v.Worktree; kw != nil {
				if kw.Kind == "layer" {
					fmt.Fprintf(w, "worktree\t%s (copy-on-write layer over base %s: %d written, %d deleted, %d bytes)\n", kw.Path, kw.Base, len(kw.Written), len(kw.Deleted), kw.Bytes)
				} else {
					fmt.Fprintf(w, "worktree\t%s (git worktree)\n", kw.Path)
				}
			}
			w.Flush()
			if kw := v.Worktree; kw != nil && kw.Kind == "layer" {
				fmt.Fprintf(f.IO.Out, "\nchanged in the kept worktree (see them over the base: agentos task inspect %s DIR):\n", t.ID)
				for _, p := range kw.Written {
					fmt.Fprintf(f.IO.Out, "  written  %s\n", p)
				}
				for _, p := range kw.Deleted {
					fmt.Fprintf(f.IO.Out, "  deleted  %s\n", p)
				}
				for _, p := range kw.Replaced {
					fmt.Fprintf(f.IO.Out, "  replaced %s/\n", p)
				}
			}
			if t.PlanID != "" {
				if p, _, err := db.Plan(ctx, t.PlanID); err == nil {
					fmt.Fprintf(f.IO.Out, "\nsteps (base %s):\n", p.BaseCommit)
					for i, s := range p.Steps {
						fmt.Fprintf(f.IO.Out, "  %d. %s\n", i+1, stepLine(s))
					}
					for i, c := range p.Verify {
						fmt.Fprintf(f.IO.Out, "  verify %d. %s\n", i+1, strings.Join(c.Argv, " "))
					}
					for _, a := range p.Assumptions {
						fmt.Fprintf(f.IO.Out, "  assumed %s = %q (%s)\n", a.Question, a.Value, a.Why)
					}
				}
			}
			return nil
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func stepLine(s agentos.Step) string {
	switch s.Kind {
	case agentos.StepWrite:
		return fmt.Sprintf("write %s (%d bytes)", s.Path, len(s.Content))
	case agentos.StepPatch:
		return fmt.Sprintf("patch %s %s", strings.Join(s.Paths, ", "), s.DiffHash)
	case agentos.StepDelete, agentos.StepMkdir:
		return fmt.Sprintf("%s %s", s.Kind, s.Path)
	case agentos.StepRename:
		return fmt.Sprintf("rename %s -> %s", s.From, s.To)
	case agentos.StepExec:
		return fmt.Sprintf("exec %s  [%s]", strings.Join(s.Argv, " "), s.Exe)
	}
	return string(s.Kind)
}

func newCmdTaskInspect(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect TASK DIR",
		Short: "Check out a kept copy-on-write worktree (base plus the task's change) into DIR for inspection",
		Long: "Inspect makes DIR (a new directory) a detached git worktree of the repository at the base commit of " +
			"the task's kept copy-on-write worktree, with the task's change written over it: `git status` and " +
			"`git diff` in DIR show what the run changed. The kept layer is not changed. Remove DIR with " +
			"`git worktree remove --force DIR`.",
		Args: exactArgs(2, "TASK DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, t, err := f.Task(ctx, args[0])
			if err != nil {
				return err
			}
			dst, err := filepath.Abs(args[1])
			if err != nil {
				return err
			}
			c, err := f.CoordinatorReadOnly(ctx)
			if err != nil {
				return err
			}
			skipped, err := c.InspectInto(ctx, t.ID, dst)
			if err != nil {
				return err
			}
			for _, p := range skipped {
				fmt.Fprintf(f.IO.ErrOut, "agentos: left out %s (inside a .git directory, which a commit refuses)\n", p)
			}
			fmt.Fprintf(f.IO.Out, "%s holds base plus the change of %s: cd %s && git status\nremove it with: git worktree remove --force %s\n", dst, t.ID, dst, dst)
			return nil
		},
	}
	return cmd
}

func newCmdTaskClean(f *Factory) *cobra.Command {
	var all, asJSON bool
	cmd := &cobra.Command{
		Use:   "clean [TASK...] [--all]",
		Short: "Remove the worktrees (and branches) kept for inspection of finished tasks",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 0 && !all {
				return usageErr("name the tasks to clean, or pass --all")
			}
			db, err := f.DB(ctx)
			if err != nil {
				return err
			}
			repo, err := f.Repo(ctx)
			if err != nil {
				return err
			}
			var ts []*agentos.Task
			if all {
				if ts, err = db.Tasks(ctx, agentos.TaskFilter{}); err != nil {
					return err
				}
			} else {
				for _, id := range args {
					t, err := db.Task(ctx, id)
					if err != nil {
						return err
					}
					ts = append(ts, t)
				}
			}
			dir, _ := f.StatePath(ctx)
			cleaned := []string{}
			for _, t := range ts {
				if !t.State.Terminal() {
					if !all {
						return agentos.Errorf(agentos.ECONFLICT, "task %s is %s: only finished tasks are cleaned", t.ID, t.State)
					}
					continue
				}
				wt := filepath.Join(dir, "worktrees", t.ID)
				branch := "agentos/" + t.ID
				if _, err := os.Stat(wt); err == nil || branchExists(cmd, repo, branch) {
					keep := t.State == agentos.StateCommitted && t.Commit != "" && !onTarget(cmd, repo, t)
					if keep {
						branch = "" // the commit waits on its branch: keep it
					}
					repo.RemoveWorktree(ctx, wt, branch)
					// A copy-on-write worktree's scratch directory and base
					// record go with it.
					sandbox.RemoveLayer(filepath.Join(dir, "worktrees", ".work", t.ID))
					os.Remove(filepath.Join(dir, "worktrees", ".base", t.ID))
					cleaned = append(cleaned, t.ID)
				}
			}
			if asJSON {
				return printJSON(f, map[string]any{"cleaned": cleaned})
			}
			for _, id := range cleaned {
				fmt.Fprintf(f.IO.Out, "cleaned %s\n", id)
			}
			if len(cleaned) == 0 {
				fmt.Fprintln(f.IO.ErrOut, "nothing to clean")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "clean every finished task")
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func branchExists(cmd *cobra.Command, repo *gitrepo.Repo, branch string) bool {
	_, err := repo.BranchHead(cmd.Context(), branch)
	return err == nil
}

func onTarget(cmd *cobra.Command, repo *gitrepo.Repo, t *agentos.Task) bool {
	head, err := repo.BranchHead(cmd.Context(), t.Target)
	return err == nil && repo.IsAncestor(cmd.Context(), t.Commit, head)
}

func newCmdTaskCancel(f *Factory) *cobra.Command {
	var reason string
	var asJSON bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "cancel TASK [--reason TEXT] [--wait DURATION]",
		Short: "Cancel a task: at once when it is not running, else stop its run",
		Long: `Cancel ends a task cancelled, with a ReviewPack, audited with who and why.

A task that is not running (planned, blocked, awaiting approval, queued) is
cancelled at once. A running task (applying, verifying) whose runner is alive
is asked to stop: the request is audited, the runner kills the running command
(its whole process tree) at its next poll and ends the task cancelled, and
this command waits up to --wait for that. A running task whose runner died
(kill -9, a lost machine: its lease expired) is ended here, the way
terraform force-unlock ends a dead lock: the lease takeover is audited and
the task cancelled with the dead run's ReviewPack; its worktree is kept. A
run that had already landed its commit cannot be cancelled (use rollback).`,
		Args: exactArgs(1, "TASK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if wait < 0 {
				return usageErr("--wait must not be negative, got %s", wait)
			}
			c, err := f.Coordinator(ctx)
			if err != nil {
				return err
			}
			actor, err := f.Actor(ctx)
			if err != nil {
				return err
			}
			t, err := c.Cancel(ctx, args[0], actor, reason, wait)
			if err != nil {
				return err
			}
			return f.reportTask(ctx, t, nil, asJSON)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded in the audit log and the ReviewPack)")
	cmd.Flags().DurationVar(&wait, "wait", time.Minute, "how long to wait for a running task's runner to stop it")
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func newCmdTaskReplan(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replan TASK",
		Short: "Plan a stale task again on the current base, policy and memory (its answers kept)",
		Long: `Replan plans a planned, queued or awaiting_approval task again from its
stored plan file or request, on the target's current head and the policy
committed there: the way out of "the plan is stale; re-plan it" after
agentos.yaml, the base or the memory changed. Answers given before are kept;
approvals of the old plan hash no longer count. Exit codes as for plan
(0 planned, 3 blocked, 4 awaiting approval for a submitted task).`,
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
			t, err := c.Replan(ctx, args[0], actor)
			return f.reportTask(ctx, t, err, asJSON)
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}
