package coordinator

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/lock"
	"github.com/agentos/agentos/scheduler"
)

// The dispatch loop: it takes over tasks whose runner died, asks the
// scheduler which queued task runs next (red line 10), audits every decision
// before acting on it, takes the task's locks all or nothing (red line 9)
// and hands the task to Apply on one of its workers.

// WorkerOptions configure Work.
type WorkerOptions struct {
	// Workers is how many tasks run at once in this process (default 1).
	Workers int
	// UntilIdle returns once nothing runs and nothing can be dispatched.
	UntilIdle bool
	// LeaseTTL is the lifetime of a lease between heartbeats.
	LeaseTTL time.Duration
	// Poll is how often the queue is re-read when nothing finished.
	Poll time.Duration
	// Grace is how long running tasks may finish after ctx ends; those
	// still running then are stopped (their commands' process trees
	// killed) and put back in the queue with a ReviewPack of the stopped
	// run. Their locks are released either way.
	Grace time.Duration
	// StopNow, once it yields, stops running tasks without waiting for the
	// rest of Grace (re-queued the same way): the second Ctrl-C.
	StopNow <-chan os.Signal
	// Actor is who runs the worker; it applies the tasks.
	Actor agentos.Actor
	// Log receives one line per dispatch, hold, skip, takeover and outcome.
	Log func(format string, args ...any)
}

// WorkStats counts what a Work call did.
type WorkStats struct {
	Dispatched, Committed, Failed, Requeued, TakenOver int
	// Blocked counts runs that ended blocked or back in planning (a rebase
	// conflict, red line 8).
	Blocked int
}

type worker struct {
	c     *Coordinator
	o     WorkerOptions
	sched *scheduler.Scheduler
	disp  *dispatcher // red line 10's choke point, shared with foreground runs
	locks *lock.Manager
	owner string
	// policyHead is the target commit whose policy was last looked at.
	policyHead string
	// held is the last preflight refusal logged (disk full), said once.
	held string

	mu      sync.Mutex
	running map[string]bool
	stats   WorkStats
}

// Work runs the dispatch loop until ctx ends (then lets running tasks
// finish within Grace and releases their locks) or, with UntilIdle, until
// nothing runs and nothing can be dispatched.
func (c *Coordinator) Work(ctx context.Context, o WorkerOptions) (WorkStats, error) {
	if o.Workers < 1 {
		o.Workers = 1
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Minute
	}
	if o.Actor == "" {
		o.Actor = agentos.System
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	sched, err := scheduler.New(c.Config.Scheduler.Rules)
	if err != nil {
		return WorkStats{}, err
	}
	host, _ := os.Hostname()
	w := &worker{
		c: c, o: o, sched: sched, locks: c.lockManager(),
		owner:   fmt.Sprintf("worker:%s:%d:%s", host, os.Getpid(), NewID("")),
		running: map[string]bool{},
	}
	w.disp = newDispatcher(c, sched, w.owner, o.LeaseTTL, agentos.System)
	w.disp.dedupe, w.disp.log = true, o.Log
	return w.loop(ctx)
}

func (w *worker) loop(ctx context.Context) (WorkStats, error) {
	// Tasks run under their own context: a signal stops dispatching, and
	// running tasks get Grace to finish (or StopNow) before they are
	// stopped and re-queued: a worker stopping decides nothing about a
	// task, `agentos task cancel` does.
	taskCtx, cancelTasks := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelTasks(nil)
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.NewTimer(w.o.Grace)
		defer t.Stop()
		why := "worker " + w.owner + " was stopped"
		if i, ok := context.Cause(ctx).(*agentos.Interrupt); ok && i.Signal != "" {
			why += " by " + i.Signal
		}
		select {
		case <-t.C:
			cancelTasks(&agentos.Interrupt{Actor: agentos.System, Requeue: true, Reason: fmt.Sprintf("re-queued: %s and its --grace %s ran out", why, w.o.Grace)})
		case s := <-w.o.StopNow:
			cancelTasks(&agentos.Interrupt{Actor: agentos.System, Requeue: true, Reason: fmt.Sprintf("re-queued: %s, then told to stop now (%s again)", why, s)})
		case <-taskCtx.Done():
		}
	})
	defer stopGrace()

	finished := make(chan string, w.o.Workers)
	var wg sync.WaitGroup
	var loopErr error
	for ctx.Err() == nil {
		w.reloadPolicy(ctx)
		if err := w.takeOver(ctx); err != nil && ctx.Err() == nil {
			loopErr = err
			break
		}
		w.mu.Lock()
		free := w.o.Workers - len(w.running)
		w.mu.Unlock()
		var started []started
		waiting := false
		if free > 0 {
			var err error
			started, waiting, err = w.dispatch(ctx, free)
			if err != nil && ctx.Err() == nil {
				loopErr = err
				break
			}
		}
		for _, s := range started {
			wg.Go(func() { w.run(taskCtx, s, finished) })
		}
		if w.o.UntilIdle && len(started) == 0 && !waiting {
			idle, err := w.idle(ctx)
			if err != nil && ctx.Err() == nil {
				loopErr = err
				break
			}
			if idle {
				break
			}
		}
		select {
		case <-ctx.Done():
		case <-finished:
		case <-time.After(w.o.Poll):
		}
	}
	if ctx.Err() != nil {
		w.mu.Lock()
		n := len(w.running)
		w.mu.Unlock()
		if n > 0 {
			w.o.Log("stopping: waiting up to %s for %d running task(s) to finish", w.o.Grace, n)
		}
	}
	wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats, loopErr
}

// reloadPolicy picks up a policy committed to the target between passes:
// plans pin the policy hash, so a worker that kept the old one would refuse
// every task planned under the new one. Only the committed agentos.yaml
// counts (PolicyAt); an edit of the working tree's changes nothing. Tasks
// already running keep the coordinator they were dispatched with; the new
// scheduler rules (and their hash) apply from this pass on. A policy that
// does not load is reported once and the previous one stays in force.
func (w *worker) reloadPolicy(ctx context.Context) {
	if w.c.PolicyAt == nil {
		return
	}
	target := w.c.Config.Target
	if target == "" {
		target, _ = w.c.Repo.CurrentBranch(ctx)
	}
	// Without fetching: the remote's branch as last fetched (admission
	// checks the freshly fetched head).
	ref := "refs/heads/" + target
	if r := w.c.Config.Integration.Remote; r != "" {
		ref = "refs/remotes/" + r + "/" + target
	}
	head, err := w.c.Repo.ResolveCommit(ctx, ref)
	if err != nil || head == w.policyHead {
		return
	}
	cfg, err := w.c.PolicyAt(ctx, head)
	if err == nil && cfg.Hash == w.c.Config.Hash {
		w.policyHead = head
		return
	}
	if err == nil {
		var sched *scheduler.Scheduler
		if sched, err = scheduler.New(cfg.Scheduler.Rules); err == nil {
			nc := *w.c
			nc.Config = cfg
			w.c, w.sched = &nc, sched
			w.disp.c, w.disp.sched = &nc, sched
			w.policyHead = head
			w.o.Log("%s changed on %s (%s): policy %s, scheduler rules %s", config.FileName, target, short(head), short(cfg.Hash), short(sched.Hash))
			return
		}
	}
	w.policyHead = head // reported once per commit
	w.o.Log("%s committed at %s does not load (%s): keeping policy %s", config.FileName, short(head), agentos.ErrorMessage(err), short(w.c.Config.Hash))
}

// idle reports whether no task runs anywhere (no task is applying or
// verifying, in this process or another).
func (w *worker) idle(ctx context.Context) (bool, error) {
	w.mu.Lock()
	n := len(w.running)
	w.mu.Unlock()
	if n > 0 {
		return false, nil
	}
	for _, st := range []agentos.State{agentos.StateApplying, agentos.StateVerifying} {
		ts, err := w.c.DB.Tasks(ctx, agentos.TaskFilter{State: st})
		if err != nil {
			return false, err
		}
		if len(ts) > 0 {
			return false, nil
		}
	}
	return true, nil
}

type started struct {
	c *Coordinator // under the policy the task was dispatched with
	d *Dispatched
}

func (w *worker) run(ctx context.Context, s started, finished chan<- string) {
	id := s.d.Task().ID
	defer func() { finished <- id }()
	begin := time.Now()
	t, err := s.c.applyDispatched(ctx, s.d, w.o.Actor)
	if rerr := s.d.Release(context.WithoutCancel(ctx)); rerr != nil {
		w.o.Log("%s: %s", id, agentos.ErrorMessage(rerr))
	}
	if s.c.RunEnded != nil {
		s.c.RunEnded()
	}
	w.mu.Lock()
	delete(w.running, id)
	state := agentos.State("")
	if t != nil {
		state = t.State
	}
	switch state {
	case agentos.StateCommitted:
		w.stats.Committed++
	case agentos.StateQueued:
		w.stats.Requeued++
	case agentos.StateBlocked, agentos.StatePlanning:
		w.stats.Blocked++
	default:
		w.stats.Failed++
	}
	w.mu.Unlock()
	if err != nil {
		w.o.Log("%s: %s after %s: %s", id, state, time.Since(begin).Round(time.Millisecond), agentos.ErrorMessage(err))
		return
	}
	w.o.Log("%s: %s %s in %s", id, state, ShortSHA(t.Commit), time.Since(begin).Round(time.Millisecond))
}

// ShortSHA abbreviates a commit id for humans.
func ShortSHA(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// dispatch runs one dispatch pass through the scheduler's choke point over
// every queued task and returns the tasks it started (with their leases) and
// whether a task waits on something that will end (so the loop is not idle).
func (w *worker) dispatch(ctx context.Context, free int) ([]started, bool, error) {
	if queued, err := w.c.DB.Tasks(ctx, agentos.TaskFilter{State: agentos.StateQueued}); err != nil || len(queued) == 0 {
		return nil, false, err
	}
	// Nothing starts on a damaged store (the loop stops) or a full disk
	// (the tasks wait; a worker that would stop when idle stops now).
	if err := w.c.preflight(ctx); err != nil {
		if agentos.ErrorCode(err) == agentos.EHELD && !w.o.UntilIdle {
			if msg := agentos.ErrorMessage(err); msg != w.held {
				w.o.Log("%s", msg)
				w.held = msg
			}
			return nil, true, nil
		}
		return nil, false, err
	}
	w.held = ""
	pass, err := w.disp.dispatch(ctx, func(ctx context.Context) ([]*agentos.Task, error) {
		return w.c.DB.Tasks(ctx, agentos.TaskFilter{State: agentos.StateQueued})
	}, free, false)
	if err != nil {
		// The loop stops on this error: give back what it will not run.
		for _, d := range pass.Started {
			d.Release(context.WithoutCancel(ctx))
		}
		return nil, pass.Waiting, err
	}
	var out []started
	for _, d := range pass.Started {
		w.mu.Lock()
		w.running[d.Task().ID] = true
		w.stats.Dispatched++
		w.mu.Unlock()
		out = append(out, started{c: w.disp.c, d: d})
	}
	return out, pass.Waiting, err
}

// takeOver finds tasks left applying or verifying by a runner that died (its
// task lock expired, or was force-released a lease-lifetime ago) and either
// records that the run had already landed or puts the task back in the queue
// with the dead run's ReviewPack. Nothing of a dead run reaches the target
// branch unless its integration completed: that is a compare-and-swap.
func (w *worker) takeOver(ctx context.Context) error {
	for _, st := range []agentos.State{agentos.StateApplying, agentos.StateVerifying} {
		ts, err := w.c.DB.Tasks(ctx, agentos.TaskFilter{State: st})
		if err != nil {
			return err
		}
		for _, t := range ts {
			w.mu.Lock()
			mine := w.running[t.ID]
			w.mu.Unlock()
			if mine {
				continue
			}
			holder, err := w.locks.Holder(ctx, lock.TaskKey(t.ID))
			if err != nil {
				return err
			}
			if holder != nil && !holder.Expired {
				continue
			}
			if holder == nil && w.c.Now().Sub(t.UpdatedAt) < w.o.LeaseTTL {
				continue // a run that just released its lease is finishing
			}
			if err := w.takeOverTask(ctx, t, holder); err != nil {
				if agentos.ErrorCode(err) == agentos.ECONFLICT {
					continue // another worker got there first
				}
				return err
			}
		}
	}
	return nil
}

func (w *worker) takeOverTask(ctx context.Context, t *agentos.Task, dead *lock.Lease) error {
	h, err := w.locks.Acquire(ctx, w.owner, []string{lock.TaskKey(t.ID)}, w.o.LeaseTTL)
	if err != nil {
		return err
	}
	defer h.Release(context.WithoutCancel(ctx))
	if err := w.c.AuditTakeovers(ctx, h); err != nil {
		return err
	}
	// Re-read under the task lock: the state may have moved meanwhile.
	cur, err := w.c.DB.Task(ctx, t.ID)
	if err != nil {
		return err
	}
	if cur.State != agentos.StateApplying && cur.State != agentos.StateVerifying {
		return nil
	}
	t = cur
	why := "its runner's task lock was force-released"
	if dead != nil {
		why = fmt.Sprintf("its runner %s stopped heartbeating; lock %s expired at %s", dead.Owner, dead.ID, dead.Expires.Format(time.RFC3339))
	}
	d := scheduler.Decision{Task: t.ID, Action: scheduler.Takeover, RuleID: scheduler.TakeoverRule, RulesHash: w.sched.Hash,
		PriorityRule: scheduler.DefaultRule, Matched: []string{}, Reason: "taken over by " + w.owner + ": " + why}
	var run *agentos.Run
	if t.RunID != "" {
		if r, err := w.c.DB.Run(ctx, t.RunID); err == nil {
			run = r
		}
	}
	// Did the dead run land before it died? Integration is a CAS on the
	// target ref, so its commit is either on the target or nowhere there.
	if run != nil && t.State == agentos.StateVerifying {
		if sha, _ := w.c.Repo.CommitOfRun(ctx, t.Target, run.ID); sha != "" {
			reason := "recovered at takeover: run " + run.ID + " had landed " + ShortSHA(sha) + " before its runner died"
			if _, err := w.c.DB.Transition(ctx, t.ID, t.State, agentos.StateCommitted, agentos.System,
				agentos.TaskUpdate{Commit: &sha, Reason: &reason}, agentos.TransitionDetail{Commit: sha, Takeover: true},
				agentos.EventInput{Task: t.ID, Actor: agentos.System, Kind: d.Action.EventKind(), Data: d},
				agentos.EventInput{Task: t.ID, Run: run.ID, Actor: agentos.System, Kind: agentos.EventIntegrated,
					Data: agentos.IntegratedEvent{Target: t.Target, Commit: sha, Landed: true, Note: reason}}); err != nil {
				return err
			}
			run.Outcome, run.Commit = agentos.StateCommitted, sha
			return w.finishDeadRun(ctx, t, run, "committed (recovered)")
		}
	}
	// A person asked the dead run to stop: it is cancelled, never re-run.
	if run != nil {
		if i := w.c.cancelRequest(ctx, t.ID, run.ID); i != nil {
			reason := i.Reason + " (its runner died before stopping; ended at takeover by " + w.owner + ")"
			if _, err := w.c.DB.Transition(ctx, t.ID, t.State, agentos.StateCancelled, i.Actor,
				agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{Run: run.ID, Takeover: true},
				agentos.EventInput{Task: t.ID, Actor: agentos.System, Kind: d.Action.EventKind(), Data: d}); err != nil {
				return err
			}
			run.Outcome = agentos.StateCancelled
			return w.finishDeadRun(ctx, t, run, "cancelled, as requested")
		}
	}
	// Retries are bounded: a task whose runs keep dying (a step that fills
	// the disk, or kills its runner) ends failed after max_attempts runs,
	// its ReviewPack listing every attempt.
	if runs, err := w.c.DB.RunsOf(ctx, t.ID); err != nil {
		return err
	} else if limit := w.c.Config.Scheduler.Attempts(); len(runs) >= limit {
		reason := fmt.Sprintf("gave up after %d attempts (scheduler.max_attempts %d): the runner of each run died before it ended; last: %s", len(runs), limit, why)
		d.Reason = "taken over by " + w.owner + ": " + reason
		if _, err := w.c.DB.Transition(ctx, t.ID, t.State, agentos.StateFailed, agentos.System,
			agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{Takeover: true},
			agentos.EventInput{Task: t.ID, Actor: agentos.System, Kind: d.Action.EventKind(), Data: d}); err != nil {
			return err
		}
		if run == nil {
			run = &agentos.Run{ID: t.RunID, Task: t.ID}
		}
		run.Outcome = agentos.StateFailed
		return w.finishDeadRun(ctx, t, run, fmt.Sprintf("failed after %d attempts", len(runs)))
	}
	reason := "re-queued: " + d.Reason
	if _, err := w.c.DB.Transition(ctx, t.ID, t.State, agentos.StateQueued, agentos.System,
		agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{Takeover: true},
		agentos.EventInput{Task: t.ID, Actor: agentos.System, Kind: d.Action.EventKind(), Data: d}); err != nil {
		return err
	}
	if run != nil {
		run.Outcome = agentos.StateQueued
		return w.finishDeadRun(ctx, t, run, "re-queued")
	}
	w.mu.Lock()
	w.stats.TakenOver++
	w.mu.Unlock()
	return nil
}

// finishDeadRun closes the dead run and writes its ReviewPack (red line 5).
func (w *worker) finishDeadRun(ctx context.Context, t *agentos.Task, run *agentos.Run, what string) error {
	w.mu.Lock()
	w.stats.TakenOver++
	w.mu.Unlock()
	if err := w.c.DB.FinishRun(ctx, run); err != nil {
		return err
	}
	cur, err := w.c.DB.Task(ctx, t.ID)
	if err != nil {
		return err
	}
	if _, err := w.c.writeReview(ctx, cur, run); err != nil {
		return err
	}
	w.o.Log("%s: taken over from a dead runner (run %s): %s", t.ID, run.ID, what)
	return nil
}
