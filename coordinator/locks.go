package coordinator

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/lock"
)

// Red line 9 in the coordinator: a task applies only under its task lock and
// the file locks of every path its plan writes (one lease, taken all or
// nothing by lock.Manager.Acquire), and integrates only under the target
// branch's integration lock. The executor asks Locks.Covers before every
// write (execute.go, writable); Covers also re-reads the lease, so a worker
// whose lease expired and was taken over writes nothing more.

// DefaultLeaseTTL is how long a lease lives without a heartbeat. Holders
// heartbeat every third of it.
const DefaultLeaseTTL = 30 * time.Second

// Locks is what the executor holds while it writes: Covers is checked before
// every write (red line 9's choke point in the executor).
type Locks interface {
	Covers(path string) bool
	// Check fails once the lease is lost (expired and taken over, or
	// force-released): the integration fence.
	Check(ctx context.Context) error
	Release(ctx context.Context)
}

// LockKeys returns the keys a task's run needs: its task lock and the file
// lock of every path its plan writes, on the plan's target branch.
func LockKeys(t *agentos.Task, p *agentos.Plan) []string {
	target := p.Target
	if target == "" {
		target = t.Target
	}
	return append(lock.FileKeys(target, p.Paths()), lock.TaskKey(t.ID))
}

func (c *Coordinator) lockManager() *lock.Manager { return lock.New(c.DB, c.Now) }

// AuditTakeovers records each expired lease a new lease replaced.
func (c *Coordinator) AuditTakeovers(ctx context.Context, h *lock.Held) error {
	for _, old := range h.TakenOver {
		task := lock.TaskOf(old.Keys)
		if task == "" {
			task = lock.TaskOf(h.Lease.Keys)
		}
		if _, err := c.DB.Append(ctx, agentos.EventInput{Task: task, Actor: agentos.System, Kind: lock.EventTakeover,
			Data: agentos.LockTakeoverEvent{Expired: old, By: h.Lease.Owner, Lease: h.Lease.ID}}); err != nil {
			return err
		}
	}
	return nil
}

// heldLocks is a lease under a keep-alive.
type heldLocks struct {
	c       *Coordinator
	held    *lock.Held
	ttl     time.Duration
	owned   bool // release on Release (false: the dispatcher releases it)
	stop    context.CancelFunc
	done    <-chan error
	mu      sync.Mutex
	lostErr error
}

func (l *heldLocks) lost() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lostErr
}

// Covers reports whether the lease holds p's file lock (or that of a
// directory containing p) and is still held in the store.
func (l *heldLocks) Covers(p string) bool {
	if l.lost() != nil {
		return false
	}
	if !l.held.Covers(p) {
		return false
	}
	if err := l.held.Check(context.Background()); err != nil {
		l.mu.Lock()
		l.lostErr = err
		l.mu.Unlock()
		return false
	}
	return true
}

// Check reports a lost lease: one the keep-alive lost, or one the store no
// longer holds for this owner and fencing token.
func (l *heldLocks) Check(ctx context.Context) error {
	if err := l.lost(); err != nil {
		return err
	}
	return l.held.Check(ctx)
}

func (l *heldLocks) Release(ctx context.Context) {
	l.stop()
	if err := <-l.done; err != nil {
		l.recordLost(ctx, err)
	}
	if l.owned {
		if err := l.held.Release(ctx); err != nil {
			l.recordLost(ctx, err)
		}
	}
}

func (l *heldLocks) recordLost(ctx context.Context, err error) {
	l.c.DB.Append(context.WithoutCancel(ctx), agentos.EventInput{Task: lock.TaskOf(l.held.Lease.Keys), Actor: agentos.System,
		Kind: lock.EventLost, Data: agentos.LockLostEvent{Lease: l.held.Lease, Error: agentos.ErrorMessage(err)}})
}

// keep heartbeats h until Release; a lost lease makes Covers refuse.
func (c *Coordinator) keep(ctx context.Context, h *lock.Held, ttl time.Duration, owned bool) *heldLocks {
	kctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l := &heldLocks{c: c, held: h, ttl: ttl, owned: owned, stop: stop}
	inner := h.KeepAlive(kctx, ttl/3)
	done := make(chan error, 1)
	go func() {
		err := <-inner
		if err != nil {
			l.mu.Lock()
			l.lostErr = err
			l.mu.Unlock()
		}
		done <- err
	}()
	l.done = done
	return l
}

// holdLocks keeps the lease the scheduler's dispatch took for the task
// alive while it runs, after checking that it is the task's lock and covers
// every path the plan writes. The dispatcher releases it after the run.
func (c *Coordinator) holdLocks(ctx context.Context, t *agentos.Task, p *agentos.Plan, d *Dispatched) (Locks, error) {
	if d == nil || d.held == nil {
		return nil, agentos.Errorf(agentos.EINTERNAL, "task %s was not dispatched by the scheduler: refusing to run it (red line 10)", t.ID)
	}
	if lock.TaskOf(d.held.Lease.Keys) != t.ID {
		return nil, agentos.Errorf(agentos.EINTERNAL, "lease %s is not task %s's lock", d.held.Lease.ID, t.ID)
	}
	for _, pth := range p.Paths() {
		if !d.held.Covers(pth) {
			return nil, agentos.Errorf(agentos.EDENIED, "lease %s does not cover %s, which plan %s writes (red line 9)", d.held.Lease.ID, pth, p.ID)
		}
	}
	if err := d.held.Check(ctx); err != nil {
		return nil, err
	}
	return c.keep(ctx, d.held, d.ttl, false), nil
}

// lockIntegration serialises integration into a target branch: it waits
// for the branch's integration lock (polling, until ctx ends) and holds it
// under a keep-alive until the returned func is called. run is the run's
// own lease (nil for none): its owner holds the integration lock too, and it
// must still be held once the integration lock is.
func (c *Coordinator) lockIntegration(ctx context.Context, target string, run Locks) (func(), error) {
	owner, ttl := foregroundOwner(), c.leaseTTL()
	if l, ok := run.(*heldLocks); ok && l != nil {
		owner, ttl = l.held.Lease.Owner, l.ttl
	}
	m := c.lockManager()
	key := lock.IntegrationKey(target)
	wait := 5 * time.Millisecond
	for {
		h, err := m.Acquire(ctx, owner, []string{key}, ttl)
		if err == nil {
			// The run's own lease must still be ours: a worker whose task was
			// taken over (its lease expired) must not land it a second time.
			if run != nil {
				if err := run.Check(ctx); err != nil {
					h.Release(ctx)
					return nil, err
				}
			}
			if err := c.AuditTakeovers(ctx, h); err != nil {
				h.Release(ctx)
				return nil, err
			}
			l := c.keep(ctx, h, ttl, true)
			return func() { l.Release(context.WithoutCancel(ctx)) }, nil
		}
		if agentos.ErrorCode(err) != agentos.ECONFLICT {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, agentos.WrapError(agentos.ECONFLICT, err, "gave up waiting for the integration lock of %s: %s", target, strings.TrimSuffix(agentos.ErrorMessage(err), "."))
		case <-time.After(wait):
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}
