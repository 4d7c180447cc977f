package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/lock"
)

// Every way a run can stop ends it properly. A run's context carries why it
// was stopped (an *agentos.Interrupt cause): a signal to the process running
// it, a person's cancel request (polled by the run, below), or a worker
// shutting down. The run then kills its running command's whole tree (the
// sandbox does), and finishRun ends the task cancelled (or, for a worker
// shutting down, queued again) with its ReviewPack, recording who and why.
// A run whose process died (kill -9, a lost machine) stops renewing its
// lease: Cancel then ends it here, the way terraform force-unlock ends a
// dead lock, and a worker that takes it over honours a cancel asked of it.

// cancelPoll is how often a running task looks for a cancel request.
const cancelPoll = time.Second

// cancelWaitPoll is how often Cancel re-reads a task it asked to stop.
const cancelWaitPoll = 200 * time.Millisecond

// EnvLease names the environment variable that sets the lease lifetime of
// runs started outside a worker (and of Cancel's takeover): a duration of
// at least 1s. A dead run can be cancelled once its lease expired.
const EnvLease = "AGENTOS_LEASE"

// leaseTTL is the lease lifetime of runs this process starts outside a
// worker: $AGENTOS_LEASE, else DefaultLeaseTTL.
func (c *Coordinator) leaseTTL() time.Duration {
	for _, kv := range c.Env {
		if v, ok := strings.CutPrefix(kv, EnvLease+"="); ok {
			if d, err := time.ParseDuration(v); err == nil && d >= time.Second {
				return d
			}
		}
	}
	return DefaultLeaseTTL
}

// CheckLease refuses a malformed $AGENTOS_LEASE (the CLI calls it once).
func CheckLease(env []string) error {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, EnvLease+"="); ok && v != "" {
			if d, err := time.ParseDuration(v); err != nil || d < time.Second {
				return agentos.Errorf(agentos.EINVALID, "%s=%q is not a duration of at least 1s (e.g. 30s)", EnvLease, v)
			}
		}
	}
	return nil
}

// interruptOf returns why ctx was stopped, nil while it runs. A context
// cancelled without an *agentos.Interrupt (a library caller's cancel) is
// still an interruption, by the system.
func interruptOf(ctx context.Context) *agentos.Interrupt {
	if ctx.Err() == nil {
		return nil
	}
	if i, ok := errors.AsType[*agentos.Interrupt](context.Cause(ctx)); ok {
		return i
	}
	return &agentos.Interrupt{Actor: agentos.System, Reason: "stopped: " + context.Cause(ctx).Error()}
}

// watchCancel polls the audit log for a cancel request addressed to run
// until ctx ends; one found stops the run with the requester as its cause.
func (c *Coordinator) watchCancel(ctx context.Context, task, run string, stop context.CancelCauseFunc) {
	tick := time.NewTicker(cancelPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if i := c.cancelRequest(ctx, task, run); i != nil {
			stop(i)
			return
		}
	}
}

// cancelRequest returns the first cancel request made of run, or nil.
func (c *Coordinator) cancelRequest(ctx context.Context, task, run string) *agentos.Interrupt {
	if run == "" {
		return nil
	}
	evs, err := c.DB.Events(ctx, agentos.EventFilter{Task: task, Kind: agentos.EventCancelRequested})
	if err != nil {
		return nil // the next poll (or the lease's expiry) catches it
	}
	for _, e := range evs {
		if e.Run != run {
			continue
		}
		var d agentos.CancelRequestEvent
		json.Unmarshal(e.Data, &d)
		return &agentos.Interrupt{Actor: e.Actor, Reason: cancelReason(e.Actor, d.Reason)}
	}
	return nil
}

func cancelReason(actor agentos.Actor, why string) string {
	if why == "" {
		return "cancelled by " + string(actor)
	}
	return "cancelled by " + string(actor) + ": " + why
}

// stopRun ends a run stopped by i: cancelled (or re-queued, for a worker
// shutting down) with who and why recorded. t is re-read by the caller.
func (c *Coordinator) stopRun(ctx context.Context, t *agentos.Task, run *agentos.Run, i *agentos.Interrupt, runErr error) error {
	to := agentos.StateCancelled
	if i.Requeue {
		to = agentos.StateQueued
	}
	actor := i.Actor
	if actor == "" {
		actor = agentos.System
	}
	reason := i.Reason
	if _, err := c.transition(ctx, t, to, actor, agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{Run: run.ID, Signal: i.Signal}); err != nil {
		return fmt.Errorf("%w (and recording the stop failed: %v)", runErr, err)
	}
	return &agentos.Error{Code: agentos.ECANCELLED, Err: errors.Join(i, runErr),
		Message: fmt.Sprintf("task %s %s: %s; its worktree is kept, its ReviewPack is `agentos review %s`", t.ID, to, reason, t.ID)}
}

// endIfInterrupted is what every verb that creates a task and plans (and
// maybe applies) it returns: when ctx was stopped (a signal) and the verb
// failed, the task it left before its run started is cancelled with its
// ReviewPack (cancelInterrupted), never left planning.
func (c *Coordinator) endIfInterrupted(ctx context.Context, t *agentos.Task, err error) (*agentos.Task, error) {
	if i := interruptOf(ctx); i != nil && err != nil && t != nil {
		return c.cancelInterrupted(context.WithoutCancel(ctx), t, i, err)
	}
	return t, err
}

// cancelInterrupted ends a task that a stopped command created but never
// started running (interrupted while planning, asking or waiting for the
// scheduler): cancelled, with its ReviewPack.
func (c *Coordinator) cancelInterrupted(ctx context.Context, t *agentos.Task, i *agentos.Interrupt, runErr error) (*agentos.Task, error) {
	if agentos.ErrorCode(runErr) == agentos.ECANCELLED {
		return t, runErr // the run ended it already
	}
	cur, err := c.DB.Task(ctx, t.ID)
	if err != nil {
		return t, runErr
	}
	if cur.State.Terminal() || !agentos.CanTransition(cur.State, agentos.StateCancelled) ||
		cur.State == agentos.StateApplying || cur.State == agentos.StateVerifying {
		return cur, runErr
	}
	reason := i.Reason
	if _, err := c.transition(ctx, cur, agentos.StateCancelled, agentos.System, agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{Signal: i.Signal}); err != nil {
		return cur, fmt.Errorf("%w (and cancelling the task failed: %v)", runErr, err)
	}
	if _, err := c.writeReview(ctx, cur, nil); err != nil {
		return cur, err
	}
	return cur, &agentos.Error{Code: agentos.ECANCELLED, Err: errors.Join(i, runErr),
		Message: fmt.Sprintf("task %s cancelled: %s; its ReviewPack is `agentos review %s`", cur.ID, reason, cur.ID)}
}

// Cancel ends a task. One that is not running is cancelled at once. One
// that is running under a live lease (held and renewed) is asked to stop:
// the request is audited, and Cancel waits up to wait for its runner to
// kill the running command and end the task cancelled. One whose runner
// died (its lease expired, or was released a lease-lifetime ago) is ended
// here: its lease is taken over (audited) and the task cancelled with the
// dead run's ReviewPack; its worktree is kept. Each is audited with actor
// and reason.
func (c *Coordinator) Cancel(ctx context.Context, taskID string, actor agentos.Actor, reason string, wait time.Duration) (*agentos.Task, error) {
	// Before anything: a cancel request, a lease takeover and the task's
	// end are each audited with the reason.
	if err := c.checkComment("the cancel reason", reason); err != nil {
		return nil, err
	}
	requested := ""
	deadline := time.Now().Add(wait)
	for {
		t, err := c.DB.Task(ctx, taskID)
		if err != nil {
			return nil, err
		}
		if t.State.Terminal() {
			if requested != "" && t.State != agentos.StateCancelled {
				return t, agentos.Errorf(agentos.ECONFLICT, "task %s ended %s before its runner saw the cancel request: %s", t.ID, t.State, t.Reason)
			}
			if requested != "" {
				return t, nil
			}
			return t, agentos.Errorf(agentos.ECONFLICT, "task %s is %s: it has already ended", t.ID, t.State)
		}
		switch t.State {
		case agentos.StateApplying, agentos.StateVerifying:
			holder, err := c.lockManager().Holder(ctx, lock.TaskKey(t.ID))
			if err != nil {
				return t, err
			}
			if (holder != nil && holder.Expired) || (holder == nil && c.Now().Sub(t.UpdatedAt) >= c.leaseTTL()) {
				return c.cancelDead(ctx, t, holder, actor, reason)
			}
			if holder != nil && requested != holder.ID {
				// Asked once per runner: a worker that took the task over
				// meanwhile is asked again.
				if _, err := c.DB.Append(ctx, agentos.EventInput{Task: t.ID, Run: t.RunID, Actor: actor, Kind: agentos.EventCancelRequested,
					Data: agentos.CancelRequestEvent{Reason: reason, Lease: holder.ID, Owner: holder.Owner}}); err != nil {
					return t, err
				}
				requested = holder.ID
			}
			if time.Now().After(deadline) {
				who, until := "its runner", ""
				if holder != nil {
					who, until = holder.Owner, " (its lease runs until "+holder.Expires.Format(time.RFC3339)+" unless renewed)"
				}
				return t, agentos.Errorf(agentos.ECONFLICT, "task %s is still %s: %s was asked to stop but has not ended it within %s%s; it stops at its next safe point, or `agentos task cancel %s` ends it once the lease expires",
					t.ID, t.State, who, wait, until, t.ID)
			}
		default:
			if reason == "" {
				reason = "cancelled by " + string(actor)
			}
			if _, err := c.transition(ctx, t, agentos.StateCancelled, actor, agentos.TaskUpdate{Reason: &reason}, agentos.TransitionDetail{}); err != nil {
				if agentos.ErrorCode(err) == agentos.ECONFLICT {
					continue // it moved (dispatched, say): look again
				}
				return t, err
			}
			_, err = c.writeReview(ctx, t, nil)
			return t, err
		}
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case <-time.After(cancelWaitPoll):
		}
	}
}

// cancelDead ends a task whose runner died: it takes the task lock over
// (the dead lease is removed and the takeover audited), then records the
// run as landed if its integration completed (a cancel cannot undo that:
// rollback does) or cancels the task with the dead run's ReviewPack.
func (c *Coordinator) cancelDead(ctx context.Context, t *agentos.Task, dead *lock.Lease, actor agentos.Actor, why string) (*agentos.Task, error) {
	host, _ := os.Hostname()
	h, err := c.lockManager().Acquire(ctx, fmt.Sprintf("cancel:%s:%d", host, os.Getpid()), []string{lock.TaskKey(t.ID)}, c.leaseTTL())
	if err != nil {
		return t, err
	}
	defer h.Release(context.WithoutCancel(ctx))
	if err := c.AuditTakeovers(ctx, h); err != nil {
		return t, err
	}
	cur, err := c.DB.Task(ctx, t.ID)
	if err != nil {
		return t, err
	}
	if cur.State != agentos.StateApplying && cur.State != agentos.StateVerifying {
		// It moved while we took the lock: decide again.
		return c.Cancel(ctx, t.ID, actor, why, 0)
	}
	t = cur
	var run *agentos.Run
	if t.RunID != "" {
		if r, err := c.DB.Run(ctx, t.RunID); err == nil {
			run = r
		}
	}
	if run != nil && t.State == agentos.StateVerifying {
		// Integration is a compare-and-swap on the target: the dead run's
		// commit is either there or nowhere there.
		if sha, _ := c.Repo.CommitOfRun(ctx, t.Target, run.ID); sha != "" {
			note := "recovered at cancel: run " + run.ID + " had landed " + ShortSHA(sha) + " before its runner died"
			if _, err := c.DB.Transition(ctx, t.ID, t.State, agentos.StateCommitted, agentos.System,
				agentos.TaskUpdate{Commit: &sha, Reason: &note}, agentos.TransitionDetail{Commit: sha, Run: run.ID, Takeover: true},
				agentos.EventInput{Task: t.ID, Run: run.ID, Actor: agentos.System, Kind: agentos.EventIntegrated,
					Data: agentos.IntegratedEvent{Target: t.Target, Commit: sha, Landed: true, Note: note}}); err != nil {
				return t, err
			}
			run.Outcome, run.Commit = agentos.StateCommitted, sha
			if err := c.endDeadRun(ctx, t, run); err != nil {
				return t, err
			}
			return t, agentos.Errorf(agentos.ECONFLICT, "task %s cannot be cancelled: its run had landed %s on %s before its runner died (it is committed now); undo it with `agentos rollback %s`", t.ID, ShortSHA(sha), t.Target, t.ID)
		}
	}
	runner := "its runner released its lease and stopped"
	if dead != nil {
		runner = fmt.Sprintf("its runner %s stopped renewing lease %s, which expired at %s", dead.Owner, dead.ID, dead.Expires.Format(time.RFC3339))
	}
	reason := cancelReason(actor, why) + " (" + runner + ")"
	detail := agentos.TransitionDetail{Takeover: true}
	if run != nil {
		detail.Run = run.ID
	}
	if _, err := c.transition(ctx, t, agentos.StateCancelled, actor, agentos.TaskUpdate{Reason: &reason}, detail); err != nil {
		return t, err
	}
	if run != nil {
		run.Outcome = agentos.StateCancelled
	}
	return t, c.endDeadRun(ctx, t, run)
}

// endDeadRun closes a dead run (when there is one) and writes the task's
// ReviewPack (red line 5). The worktree stays for inspection (retention).
func (c *Coordinator) endDeadRun(ctx context.Context, t *agentos.Task, run *agentos.Run) error {
	if run != nil {
		if err := c.DB.FinishRun(ctx, run); err != nil {
			return err
		}
	}
	cur, err := c.DB.Task(ctx, t.ID)
	if err != nil {
		return err
	}
	*t = *cur
	_, err = c.writeReview(ctx, t, run)
	return err
}
