package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/lock"
	"github.com/agentos/agentos/scheduler"
)

// Red line 10's choke point. Every execution — a worker's dispatch, a
// foreground `agentos apply` or `agentos run`, the apply that follows a
// completing approval, an answer that resumes a run — passes dispatcher.dispatch:
// under the dispatch lock it counts what runs now (tasks applying or
// verifying, and queued tasks whose task lock is held, i.e. dispatched and
// about to start), asks the scheduler rules, audits every dispatch, hold and
// skip with the rule id and the rules' hash, and takes the task's locks all
// or nothing (red line 9). Only dispatch builds a Dispatched, and
// applyDispatched takes nothing else, so no run can skip the scheduler.

// dispatchKey serialises dispatch passes across processes, so that serialize
// and max_concurrency count every running task.
const dispatchKey = "dispatch:queue"

// Dispatched is a task the scheduler dispatched: its decision is audited and
// its task and file locks are held. Only dispatch builds one (its fields are
// unexported); the run takes nothing else.
type Dispatched struct {
	task     *agentos.Task
	plan     *agentos.Plan
	decision scheduler.Decision
	held     *lock.Held
	ttl      time.Duration
}

// Task returns the dispatched task as it was when it was dispatched.
func (d *Dispatched) Task() *agentos.Task { return d.task }

// Decision returns the audited dispatch decision.
func (d *Dispatched) Decision() scheduler.Decision { return d.decision }

// Lease returns the id of the lease the task runs under.
func (d *Dispatched) Lease() string { return d.held.Lease.ID }

// Release gives up the task's locks; call it once the run returned.
func (d *Dispatched) Release(ctx context.Context) error { return d.held.Release(ctx) }

// dispatcher is one front door's view of the scheduler: the compiled rules,
// who takes the locks, and caches of what the rules see of a task.
type dispatcher struct {
	c     *Coordinator
	sched *scheduler.Scheduler
	owner string
	ttl   time.Duration
	// actor is who the decisions are audited as: the system for a worker,
	// the human whose command asked for the run otherwise.
	actor agentos.Actor
	// dedupe audits a hold or skip only when it differs from the task's last
	// scheduler event: a worker re-evaluates a held task on every pass, and
	// only a change is news. A foreground attempt is always audited.
	dedupe bool
	log    func(format string, args ...any)

	mu   sync.Mutex
	info map[string]schedInfo          // per plan hash
	last map[string]scheduler.Decision // last audited hold or skip per task
}

type schedInfo struct {
	paths []string
	risk  string
	plan  *agentos.Plan
}

func newDispatcher(c *Coordinator, sched *scheduler.Scheduler, owner string, ttl time.Duration, actor agentos.Actor) *dispatcher {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	return &dispatcher{c: c, sched: sched, owner: owner, ttl: ttl, actor: actor,
		log: func(string, ...any) {}, info: map[string]schedInfo{}, last: map[string]scheduler.Decision{}}
}

// foregroundOwner names the lease holder of a run started by a command.
func foregroundOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("apply:%s:%d", host, os.Getpid())
}

// dispatchPass is what one dispatch call did.
type dispatchPass struct {
	// Started are the dispatched tasks, their locks held; the caller runs
	// each with applyDispatched and then releases it.
	Started []*Dispatched
	// Decisions are the holds and skips made on the way (audited).
	Decisions []scheduler.Decision
	// Waiting: a task waits on something that will end (a running task, a
	// lock, another dispatcher), so the queue is not idle.
	Waiting bool
}

// dispatch is the choke point: it takes the dispatch lock (waiting for it
// when wait is set, else returning at once with Waiting when another process
// is dispatching), lists the candidates under it, and dispatches up to free
// of them in the scheduler's order against the live set of running tasks.
func (g *dispatcher) dispatch(ctx context.Context, candidates func(context.Context) ([]*agentos.Task, error), free int, wait bool) (dispatchPass, error) {
	var out dispatchPass
	m := g.c.lockManager()
	dl, err := g.acquireDispatchLock(ctx, m, wait)
	if agentos.ErrorCode(err) == agentos.ECONFLICT && !wait {
		out.Waiting = true // another worker is dispatching
		return out, nil
	}
	if err != nil {
		return out, err
	}
	defer dl.Release(context.WithoutCancel(ctx))
	if err := g.c.AuditTakeovers(ctx, dl); err != nil {
		return out, err
	}

	cands, err := candidates(ctx)
	if err != nil {
		return out, err
	}
	candIDs := map[string]bool{}
	for _, t := range cands {
		candIDs[t.ID] = true
	}
	running, busy, err := g.running(ctx, m, candIDs)
	if err != nil {
		return out, err
	}
	byID := map[string]*agentos.Task{}
	plans := map[string]*agentos.Plan{}
	var queued []scheduler.Task
	for _, t := range cands {
		if busy[t.ID] {
			continue // its task lock is held: it is already running elsewhere
		}
		st, p, err := g.schedTask(ctx, t)
		if err != nil {
			g.log("%s: cannot read its plan: %s", t.ID, agentos.ErrorMessage(err))
			continue
		}
		byID[t.ID], plans[t.ID] = t, p
		queued = append(queued, st)
	}

	for free > 0 && len(queued) > 0 {
		ds := g.sched.Decide(queued, running, g.c.Now())
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			queued = slices.DeleteFunc(queued, func(t scheduler.Task) bool { return t.ID == d.Task })
			if d.Action != scheduler.Dispatch {
				if d.Action == scheduler.Skip {
					out.Waiting = true
				}
				out.Decisions = append(out.Decisions, d)
				if err := g.audit(ctx, d); err != nil {
					return out, err
				}
				continue
			}
			t, p := byID[d.Task], plans[d.Task]
			h, err := m.Acquire(ctx, g.owner, LockKeys(t, p), g.ttl)
			if agentos.ErrorCode(err) == agentos.ECONFLICT {
				out.Waiting = true
				skip := fileLockSkip(d, err)
				out.Decisions = append(out.Decisions, skip)
				if err := g.audit(ctx, skip); err != nil {
					return out, err
				}
				continue
			}
			if err != nil {
				return out, err
			}
			if err := g.c.AuditTakeovers(ctx, h); err != nil {
				h.Release(ctx)
				return out, err
			}
			// Audit before acting (red line 10).
			if _, err := g.c.DB.Append(ctx, agentos.EventInput{Task: d.Task, Actor: g.actor, Kind: d.Action.EventKind(),
				Data: dispatchData(d, h, g.owner)}); err != nil {
				h.Release(ctx)
				return out, err
			}
			g.mu.Lock()
			delete(g.last, d.Task)
			g.mu.Unlock()
			g.log("%s: dispatched (rule %s, priority %d) under lock %s", d.Task, d.RuleID, d.Priority, h.Lease.ID)
			st, _, _ := g.schedTask(ctx, t)
			running = append(running, st)
			out.Started = append(out.Started, &Dispatched{task: t, plan: p, decision: d, held: h, ttl: g.ttl})
			free--
		}
	}
	return out, nil
}

// acquireDispatchLock takes the dispatch lock; with wait it polls until the
// lock is free or ctx ends (a dispatch pass is short).
func (g *dispatcher) acquireDispatchLock(ctx context.Context, m *lock.Manager, wait bool) (*lock.Held, error) {
	pause := 5 * time.Millisecond
	for {
		h, err := m.Acquire(ctx, g.owner, []string{dispatchKey}, g.ttl)
		if err == nil || !wait || agentos.ErrorCode(err) != agentos.ECONFLICT {
			return h, err
		}
		select {
		case <-ctx.Done():
			return nil, agentos.WrapError(agentos.ECONFLICT, err, "gave up waiting for the scheduler's dispatch lock: %s", strings.TrimSuffix(agentos.ErrorMessage(err), "."))
		case <-time.After(pause):
		}
		pause = min(2*pause, 250*time.Millisecond)
	}
}

// running returns what the rules count as running: every task applying or
// verifying (in any process), and every other task whose task lock is held
// (dispatched, not yet applying). busy marks candidates whose own task lock
// is held: they run elsewhere and are not dispatched again.
func (g *dispatcher) running(ctx context.Context, m *lock.Manager, cands map[string]bool) ([]scheduler.Task, map[string]bool, error) {
	var running []scheduler.Task
	seen := map[string]bool{}
	add := func(t *agentos.Task) {
		if seen[t.ID] {
			return
		}
		seen[t.ID] = true
		if st, _, err := g.schedTask(ctx, t); err == nil {
			running = append(running, st)
		}
	}
	for _, st := range []agentos.State{agentos.StateApplying, agentos.StateVerifying} {
		ts, err := g.c.DB.Tasks(ctx, agentos.TaskFilter{State: st})
		if err != nil {
			return nil, nil, err
		}
		for _, t := range ts {
			add(t)
		}
	}
	leases, err := m.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	busy := map[string]bool{}
	for _, l := range leases {
		id := lock.TaskOf(l.Keys)
		if id == "" || l.Expired || seen[id] {
			continue
		}
		if cands[id] {
			busy[id] = true
		}
		t, err := g.c.DB.Task(ctx, id)
		if err != nil {
			continue // a lease naming an unknown task (hand-made) counts for nothing
		}
		if !t.State.Terminal() && t.PlanID != "" {
			add(t)
		}
	}
	return running, busy, nil
}

// schedTask returns what the scheduler rules see of t, and its plan.
func (g *dispatcher) schedTask(ctx context.Context, t *agentos.Task) (scheduler.Task, *agentos.Plan, error) {
	g.mu.Lock()
	in, ok := g.info[t.PlanHash]
	g.mu.Unlock()
	if !ok {
		// Without its bodies: the scheduler keeps a plan's hash, paths and
		// target for as long as it runs, and admission reads the plan whole.
		p, _, err := g.c.DB.PlanWithoutBodies(ctx, t.PlanID)
		if err != nil {
			return scheduler.Task{}, nil, err
		}
		in = schedInfo{paths: p.Paths(), plan: p}
		if intent, err := g.c.DB.Intent(ctx, p.IntentID); err == nil {
			in.risk = intent.Risk
		}
		g.mu.Lock()
		g.info[t.PlanHash] = in
		g.mu.Unlock()
	}
	return scheduler.Task{
		ID: t.ID, Labels: t.Labels, Paths: in.paths, Mode: string(t.Mode), Risk: in.risk,
		Submitter: string(t.Submitter), Target: t.Target, Submitted: t.CreatedAt,
	}, in.plan, nil
}

// fileLockSkip turns a lock conflict at dispatch into a skip by the built-in
// file-lock rule, naming the holder.
func fileLockSkip(d scheduler.Decision, err error) scheduler.Decision {
	skip := d
	skip.Action, skip.RuleID = scheduler.Skip, scheduler.FileLockRule
	skip.Reason = agentos.ErrorMessage(err)
	if cf, ok := errors.AsType[*lock.Conflict](err); ok {
		if holder := lock.TaskOf(cf.Holder.Keys); holder != "" {
			skip.Holders = []string{holder}
		}
		skip.Reason = fmt.Sprintf("%s is locked by %s (lock %s)", cf.Key, cf.Holder.Owner, cf.Holder.ID)
		if len(skip.Holders) > 0 {
			skip.Reason += " running task " + skip.Holders[0]
		}
	}
	return skip
}

// dispatchData is the audited dispatch decision plus the lease it runs under.
func dispatchData(d scheduler.Decision, h *lock.Held, owner string) agentos.SchedulerDispatchEvent {
	return agentos.SchedulerDispatchEvent{SchedulerDecision: d, Lease: h.Lease.ID, Worker: owner}
}

// audit appends a hold or skip (with dedupe, unless the task's last
// scheduler event already said the same thing).
func (g *dispatcher) audit(ctx context.Context, d scheduler.Decision) error {
	if g.dedupe {
		g.mu.Lock()
		prev, ok := g.last[d.Task]
		g.mu.Unlock()
		if !ok {
			p, found, err := lastDecision(ctx, g.c.DB, d.Task)
			if err != nil {
				return err
			}
			prev, ok = p, found
		}
		if ok && prev.Same(d) {
			return nil
		}
	}
	if _, err := g.c.DB.Append(ctx, agentos.EventInput{Task: d.Task, Actor: g.actor, Kind: d.Action.EventKind(), Data: d}); err != nil {
		return err
	}
	g.mu.Lock()
	g.last[d.Task] = d
	g.mu.Unlock()
	g.log("%s: %s by rule %s: %s", d.Task, d.Action, d.RuleID, d.Reason)
	return nil
}

// lastDecision reads the task's latest scheduler event from the audit log.
func lastDecision(ctx context.Context, db agentos.AuditStore, task string) (scheduler.Decision, bool, error) {
	evs, err := db.Events(ctx, agentos.EventFilter{Task: task})
	if err != nil {
		return scheduler.Decision{}, false, err
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if strings.HasPrefix(evs[i].Kind, scheduler.EventPrefix) {
			var d scheduler.Decision
			if err := json.Unmarshal(evs[i].Data, &d); err != nil {
				return d, false, nil
			}
			return d, true, nil
		}
	}
	return scheduler.Decision{}, false, nil
}

// Schedule is the choke point for a run started outside the worker (apply,
// run, an approval or an answer that completes a run, a rollback plan): it
// asks the scheduler about the queued task t against everything running now,
// audits the decision as actor, and on dispatch returns the task with its
// locks held. The caller runs it with RunDispatched (or applyDispatched) and
// then releases it. A hold or skip leaves the task queued and is an EHELD
// error naming the rule, why, and what to do.
func (c *Coordinator) Schedule(ctx context.Context, t *agentos.Task, actor agentos.Actor) (*Dispatched, error) {
	sched, err := scheduler.New(c.Config.Scheduler.Rules)
	if err != nil {
		return nil, err
	}
	g := newDispatcher(c, sched, foregroundOwner(), c.leaseTTL(), actor)
	pass, err := g.dispatch(ctx, func(ctx context.Context) ([]*agentos.Task, error) {
		cur, err := c.DB.Task(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		if cur.State != agentos.StateQueued {
			return nil, agentos.Errorf(agentos.ECONFLICT, "task %s is %s, not queued: it cannot be dispatched (see `agentos task show %s`)", t.ID, cur.State, t.ID)
		}
		*t = *cur
		return []*agentos.Task{cur}, nil
	}, 1, true)
	if err != nil {
		return nil, err
	}
	if len(pass.Started) == 1 {
		return pass.Started[0], nil
	}
	if len(pass.Decisions) > 0 {
		return nil, heldError(t.ID, pass.Decisions[len(pass.Decisions)-1])
	}
	// Not considered at all: its own task lock is held by another runner.
	holder, _ := c.lockManager().Holder(ctx, lock.TaskKey(t.ID))
	who := "another runner"
	if holder != nil {
		who = fmt.Sprintf("%s (lock %s)", holder.Owner, holder.ID)
	}
	return nil, agentos.Errorf(agentos.ECONFLICT, "task %s is already being run by %s: see `agentos task show %s`", t.ID, who, t.ID)
}

// heldError is the one line a foreground run prints when the scheduler
// keeps its task queued: which rule, why, and what to do.
func heldError(task string, d scheduler.Decision) error {
	what, when := "held", "the rule no longer holds it"
	if d.Action == scheduler.Skip {
		what, when = "skipped", "the lock is released"
		if len(d.Holders) > 0 {
			when = strings.Join(d.Holders, ", ") + " finished"
		}
	}
	return agentos.Errorf(agentos.EHELD, "task %s %s by scheduler rule %s: %s; it stays queued: `agentos worker` runs it once %s, or retry `agentos apply %s` (`agentos scheduler explain %s`)",
		task, what, d.RuleID, d.Reason, when, task, task)
}

// RunDispatched runs a dispatched task (admission, steps, verify, commit,
// integration) under the locks dispatch took; it does not release them.
func (c *Coordinator) RunDispatched(ctx context.Context, d *Dispatched, actor agentos.Actor) (*agentos.Task, error) {
	return c.applyDispatched(ctx, d, actor)
}
