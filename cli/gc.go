package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/agentos/agentos/coordinator"
	"github.com/spf13/cobra"
)

// GCOptions are the inputs of `agentos gc`.
type GCOptions struct {
	F      *Factory
	DryRun bool
	JSON   bool
}

// NewCmdGC builds `agentos gc`.
func NewCmdGC(f *Factory) *cobra.Command {
	opts := &GCOptions{F: f}
	cmd := &cobra.Command{
		Use:   "gc [--dry-run] [--json]",
		Short: "Housekeeping: cancel tasks blocked past blocked_expires_after, remove worktrees past retention.worktrees",
		Long: "Gc does the housekeeping agentos.yaml asks for: it cancels the tasks blocked longer than " +
			"blocked_expires_after (each cancellation audited, with a ReviewPack) and removes the worktrees and " +
			"branches of tasks that ended longer ago than retention.worktrees (each removal audited; a commit that " +
			"has not reached its target keeps its branch), and removes idle base checkouts of copy-on-write worktrees beyond " +
			"the two most recently used (never one a run holds). Write commands (plan, apply, run, answer, approve, reject, " +
			"cancel, rollback, submit, worker) do the same when they start; read commands never do. Gc also upgrades " +
			"the store to this binary's schema. With --dry-run it lists what it would do and changes nothing.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return gcRun(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "list what would be done; change nothing")
	addJSONFlag(cmd, f, &opts.JSON)
	return cmd
}

func gcRun(cmd *cobra.Command, opts *GCOptions) error {
	ctx := cmd.Context()
	f := opts.F
	actor, err := f.Actor(ctx)
	if err != nil {
		return err
	}
	var c *coordinator.Coordinator
	if opts.DryRun {
		c, err = f.CoordinatorReadOnly(ctx)
	} else {
		// Not f.Coordinator: that would do the housekeeping as the system
		// before this command does it as the human who asked.
		db, derr := f.DB(ctx)
		if derr != nil {
			return derr
		}
		c, err = f.coordinator(ctx, db)
	}
	if err != nil {
		return err
	}
	rep, err := c.GC(ctx, actor, opts.DryRun)
	// On an error, what was done before it is audited: report it too.
	if opts.JSON {
		if perr := printJSON(f, rep); perr != nil {
			return perr
		}
		return err
	}
	printGC(f.IO.Out, "", rep)
	if err == nil && len(rep.Expired) == 0 && len(rep.Worktrees) == 0 && len(rep.Caches) == 0 && len(rep.Bases) == 0 {
		fmt.Fprintln(f.IO.ErrOut, "nothing to clean up")
	}
	return err
}

// printGC writes one line per housekeeping action, each line after prefix.
func printGC(w io.Writer, prefix string, rep *coordinator.GCReport) {
	if rep == nil {
		return
	}
	cancel, remove := "cancelled", "removed"
	if rep.DryRun {
		cancel, remove = "would cancel", "would remove"
	}
	for _, e := range rep.Expired {
		fmt.Fprintf(w, "%s%s %s: %s\n", prefix, cancel, e.Task, e.Reason)
	}
	for _, wt := range rep.Worktrees {
		branch := ""
		if wt.Branch != "" {
			branch = ", branch " + wt.Branch
		}
		fmt.Fprintf(w, "%s%s the worktree of %s (retention.worktrees): %s%s\n", prefix, remove, wt.Task, wt.Path, branch)
	}
	for _, b := range rep.Bases {
		fmt.Fprintf(w, "%s%s the idle base checkout %s (at %.12s, last used %s)\n", prefix, remove, b.Path, b.Commit, b.LastUsed.Format(time.RFC3339))
	}
	for _, dir := range rep.Caches {
		fmt.Fprintf(w, "%s%s the build cache of an earlier policy, unused for a day: %s\n", prefix, remove, dir)
	}
}
