package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentos/agentos/lock"
	"github.com/spf13/cobra"
)

// NewCmdLock builds `agentos lock` and its verbs.
func NewCmdLock(f *Factory) *cobra.Command {
	cmd := group("lock", "List and force-release task, file and integration locks")
	cmd.Long = "Locks are leases (red line 9): a task lock (one runner per task), a lock per file a task writes, " +
		"and a lock on integrating into each target branch. A lease whose holder stops heartbeating expires and " +
		"the next worker that needs it takes it over (audited)."
	cmd.AddCommand(newCmdLockList(f), newCmdLockRelease(f))
	return cmd
}

// LockListOptions are the inputs of `agentos lock list`.
type LockListOptions struct {
	F    *Factory
	JSON bool
}

// LockListDoc is the --json document of `agentos lock list`.
type LockListDoc struct {
	Version int          `json:"version"`
	Now     time.Time    `json:"now"`
	Locks   []lock.Lease `json:"locks"`
}

func newCmdLockList(f *Factory) *cobra.Command {
	opts := &LockListOptions{F: f}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Who holds which lock, since when and until when",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return lockListRun(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON document")
	return cmd
}

func lockListRun(cmd *cobra.Command, opts *LockListOptions) error {
	ctx := cmd.Context()
	db, err := opts.F.DBReadOnly(ctx)
	if err != nil {
		return err
	}
	now := opts.F.Now()
	ls, err := lock.New(db, opts.F.Now).List(ctx)
	if err != nil {
		return err
	}
	out := opts.F.IO.Out
	if opts.JSON {
		if ls == nil {
			ls = []lock.Lease{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(LockListDoc{Version: 1, Now: now.UTC(), Locks: ls})
	}
	if len(ls) == 0 {
		fmt.Fprintln(opts.F.IO.ErrOut, "no locks are held")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCK\tOWNER\tSTATE\tACQUIRED\tHEARTBEAT\tEXPIRES\tKEYS")
	for _, l := range ls {
		state := "held"
		if l.Expired {
			state = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.Owner, state,
			l.Acquired.Format(time.RFC3339), l.Heartbeat.Format(time.RFC3339), l.Expires.Format(time.RFC3339),
			strings.Join(l.Keys, " "))
	}
	return tw.Flush()
}

// LockReleaseOptions are the inputs of `agentos lock release`.
type LockReleaseOptions struct {
	F      *Factory
	ID     string
	Force  bool
	Reason string
}

func newCmdLockRelease(f *Factory) *cobra.Command {
	opts := &LockReleaseOptions{F: f}
	cmd := &cobra.Command{
		Use:   "release LOCK-ID --force --reason TEXT",
		Short: "Force-release a lock whose holder is gone (audited)",
		Long: "Remove a lease whoever holds it. Use it only when the holder is gone and you cannot wait for the " +
			"lease to expire; the release, its reason and who did it are an audit event. A worker that still " +
			"runs under the lease notices at its next heartbeat or write and stops.",
		Args: exactArgs(1, "LOCK-ID --force --reason TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			return lockReleaseRun(cmd, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Force, "force", false, "confirm releasing a lock held by someone else")
	cmd.Flags().StringVar(&opts.Reason, "reason", "", "why the holder is gone (recorded in the audit log)")
	return cmd
}

func lockReleaseRun(cmd *cobra.Command, opts *LockReleaseOptions) error {
	ctx := cmd.Context()
	if !opts.Force {
		return usageErr("releasing lock %s needs --force: it belongs to another worker; check `agentos lock list` first", opts.ID)
	}
	if strings.TrimSpace(opts.Reason) == "" {
		return usageErr("releasing lock %s needs --reason: say why its holder is gone (it is audited)", opts.ID)
	}
	actor, err := opts.F.Actor(ctx)
	if err != nil {
		return err
	}
	db, err := opts.F.DB(ctx)
	if err != nil {
		return err
	}
	// The release and its audit event are one transaction.
	l, err := lock.New(db, opts.F.Now).ForceRelease(ctx, opts.ID, opts.Reason, actor)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.F.IO.ErrOut, "released lock %s of %s (%s)\n", l.ID, l.Owner, strings.Join(l.Keys, " "))
	return nil
}
