package cli

import (
	"fmt"
	"sync"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
	"github.com/spf13/cobra"
)

// NewCmdSubmit builds `agentos submit --plan FILE`: plan, gate, queue.
func NewCmdSubmit(f *Factory) *cobra.Command {
	var p planFlags
	cmd := &cobra.Command{
		Use:   "submit --plan PLAN.yaml",
		Short: "Plan a task, run its gates and queue it for `agentos worker`",
		Long: `Submit plans a task from a plan file (a dry run that touches nothing), evaluates
the gates and puts the task in the queue, where a worker picks it up under
the scheduler rules and the locks. It exits 0 when the task is queued, 3 when
it is blocked on questions, 4 when its plan awaits approval (approving it
queues it) and 1 when planning or a gate refused it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			req, err := p.request(ctx, f, false)
			if err != nil {
				return err
			}
			req.AutoQueue = true
			c, err := f.Coordinator(ctx)
			if err != nil {
				return err
			}
			t, err := c.PlanFile(ctx, req)
			if err == nil && t != nil && t.State == agentos.StatePlanned {
				err = c.Gate(ctx, t, req.Actor)
			}
			return f.reportTask(ctx, t, err, p.json)
		},
	}
	p.add(cmd, "plan")
	cmd.Flags().StringVar(&p.file, "file", "", "the plan `file` (same as --plan)")
	addJSONFlag(cmd, f, &p.json)
	return cmd
}

// WorkerOptions are the inputs of `agentos worker`.
type WorkerOptions struct {
	F         *Factory
	Workers   int
	UntilIdle bool
	Lease     time.Duration
	Poll      time.Duration
	Grace     time.Duration
}

// NewCmdWorker builds `agentos worker`.
func NewCmdWorker(f *Factory) *cobra.Command {
	opts := &WorkerOptions{F: f}
	cmd := &cobra.Command{
		Use:   "worker [--workers N] [--until-idle]",
		Short: "Run queued tasks under the scheduler rules and the locks",
		Long: `Worker runs queued tasks, up to --workers at once, until interrupted (or, with
--until-idle, until nothing runs and nothing can be dispatched). Each pass it
takes over tasks whose runner died (their lease expired), asks the scheduler
rules of agentos.yaml which task runs next and audits every dispatch, hold,
skip and takeover with the rule id and the rules' hash (see ` + "`agentos scheduler explain TASK`" + `).
A task runs only once it holds its task lock and the lock of every file it
writes. The policy's webhooks (docs/webhooks.md) are delivered while the
worker runs; with --until-idle it exits once they are delivered or given up
(or their next retry is more than 10s away: the next run resumes it).

Stopping: the first SIGINT (Ctrl-C), SIGTERM or SIGHUP stops dispatching and
lets running tasks finish within --grace; a task still running then has its
command's whole process tree killed and goes back to the queue (re-queued,
never failed), with a ReviewPack of the stopped run. A second signal does
that at once; a third exits without cleanup (the leases then expire and the
next worker takes the tasks over). Commands run in their own process group,
so a terminal's Ctrl-C reaches the worker, not the running step. The worker
exits 0 once it stopped as asked. To end a task rather than the worker, use
` + "`agentos task cancel TASK`" + `.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return workerRun(cmd, opts)
		},
	}
	cmd.Flags().IntVar(&opts.Workers, "workers", 1, "how many tasks run at once")
	cmd.Flags().BoolVar(&opts.UntilIdle, "until-idle", false, "exit once nothing runs and nothing can be dispatched")
	cmd.Flags().DurationVar(&opts.Lease, "lease", coordinator.DefaultLeaseTTL, "lock lease lifetime between heartbeats; a dead worker's tasks are taken over after it")
	cmd.Flags().DurationVar(&opts.Poll, "poll", 200*time.Millisecond, "how often the queue is re-read")
	cmd.Flags().DurationVar(&opts.Grace, "grace", 5*time.Minute, "on SIGINT/SIGTERM/SIGHUP, how long running tasks may finish before they are stopped and re-queued")
	return cmd
}

func workerRun(cmd *cobra.Command, opts *WorkerOptions) error {
	ctx := cmd.Context()
	if opts.Workers < 1 {
		return usageErr("--workers must be 1 or more, got %d", opts.Workers)
	}
	if opts.Lease < time.Second {
		return usageErr("--lease must be at least 1s, got %s", opts.Lease)
	}
	f := opts.F
	c, err := f.Coordinator(ctx)
	if err != nil {
		return err
	}
	if f.guard != nil {
		f.guard.longLived()
	}
	// Several tasks at once: per-step progress would interleave; the worker
	// prints one line per decision and outcome instead.
	c.Progress = nil
	c.Prompter = nil
	actor, err := f.Actor(ctx)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(f.IO.ErrOut, "agentos worker: "+format+"\n", args...)
	}
	logf("%d worker(s), lease %s", opts.Workers, opts.Lease)
	// The policy's webhooks are delivered beside the work: a worker is the
	// one long-running process a repository without `agentos serve` has.
	db, err := f.DB(ctx)
	if err != nil {
		return err
	}
	stopHooks, err := f.startWebhooks(ctx, db, logf)
	if err != nil {
		return err
	}
	st, err := c.Work(ctx, coordinator.WorkerOptions{
		Workers: opts.Workers, UntilIdle: opts.UntilIdle, LeaseTTL: opts.Lease, Poll: opts.Poll, Grace: opts.Grace,
		Actor: actor, Log: logf, StopNow: Again(ctx),
	})
	// --until-idle: what the run produced is delivered before the worker
	// exits (retries are bounded); after a signal ctx is done and the
	// deliverer stops at once, its cursors kept for the next run.
	stopHooks()
	logf("dispatched %d, committed %d, blocked %d, failed %d, re-queued %d, taken over %d", st.Dispatched, st.Committed, st.Blocked, st.Failed, st.Requeued, st.TakenOver)
	return err
}
