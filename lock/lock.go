// Package lock is red line 9: leased locks over the AgentOS store. A task
// lock gives a task one runner, per-file locks give a path one writer, and a
// per-target-branch integration lock serialises landing commits.
//
// A lease is a set of keys acquired together, all or nothing, in one store
// transaction (agentos.LeaseStore), in sorted key order, without waiting: a key
// that is held makes Acquire fail with a conflict naming the holder, so two
// tasks can never deadlock. A lease has an owner, a random id (the lock id a
// human passes to `agentos lock release`), an acquisition time, a heartbeat
// and an expiry; a lease whose holder stopped heartbeating expires, and the
// next Acquire that needs one of its keys takes the whole lease over and
// reports it so the caller can audit the takeover.
//
// The executor's choke point is Held.Guard: a write to a path the lease does
// not cover, or under a lease that was lost, is refused.
package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/agentos/agentos"
)

// Key prefixes. A key is "<kind>:<scope>"; git branch names cannot contain
// ':', so a file key splits unambiguously at its second ':'.
const (
	kindTask      = agentos.LockKindTask
	kindFile      = agentos.LockKindFile
	kindIntegrate = agentos.LockKindIntegrate
)

// Audit event kinds of lock changes someone must be able to account for.
const (
	// EventTakeover: an expired lease was taken over by a new holder.
	EventTakeover = agentos.EventLockTakeover
	// EventForceRelease: a human removed a lease with --force and a reason.
	EventForceRelease = agentos.EventLockForceRelease
	// EventLost: a holder found its lease gone (expired and taken over, or
	// force-released) and stopped.
	EventLost = agentos.EventLockLost
)

// TaskOf returns the task id of the first task key in keys, or "".
func TaskOf(keys []string) string {
	for _, k := range keys {
		if id, ok := strings.CutPrefix(k, kindTask); ok {
			return id
		}
	}
	return ""
}

// TaskKey is the key of a task's lock: one runner per task.
func TaskKey(taskID string) string { return kindTask + taskID }

// FileKey is the key of a repository path's lock on a target branch.
func FileKey(target, p string) string { return kindFile + target + ":" + cleanPath(p) }

// IntegrationKey is the key of the lock on integrating into a target branch.
func IntegrationKey(target string) string { return kindIntegrate + target }

// FileKeys returns the file keys of paths on target.
func FileKeys(target string, paths []string) []string {
	keys := make([]string, 0, len(paths))
	for _, p := range paths {
		keys = append(keys, FileKey(target, p))
	}
	return keys
}

// filePath returns the path part of a file key.
func filePath(key string) (string, bool) { return agentos.LockFilePath(key) }

func cleanPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(p, "./")), "/")
}

// Lease is one lock as stored: a set of keys held together.
type Lease = agentos.Lease

// Conflict is the cause of a failed Acquire: Key is held by Holder.
type Conflict struct {
	Key    string
	Holder Lease
}

func (c *Conflict) Error() string {
	return fmt.Sprintf("%s is held by %s (lock %s) until %s", c.Key, c.Holder.Owner, c.Holder.ID, c.Holder.Expires.UTC().Format(time.RFC3339))
}

// Manager acquires and releases leases in the store.
type Manager struct {
	db  agentos.LeaseStore
	now func() time.Time
}

// New returns a Manager over the store's leases with clock now.
func New(db agentos.LeaseStore, now func() time.Time) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{db: db, now: now}
}

// Held is a lease its owner holds. Its methods are safe for one goroutine at
// a time plus KeepAlive's own.
type Held struct {
	m     *Manager
	Lease Lease
	// TakenOver lists the expired leases this acquisition replaced; the
	// caller audits each one.
	TakenOver []Lease
	ttl       time.Duration
	files     map[string]bool
}

// NewLeaseID returns a random lock id.
func NewLeaseID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "lk_" + hex.EncodeToString(b[:])
}

// normalise sorts and de-duplicates keys, and refuses empty ones.
func normalise(keys []string) ([]string, error) {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if strings.TrimSpace(k) == "" {
			return nil, agentos.Errorf(agentos.EINVALID, "lock key is empty: every key names a task, file or target")
		}
		if p, ok := filePath(k); ok && p == "" {
			return nil, agentos.Errorf(agentos.EINVALID, "lock key %q names no file", k)
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Acquire takes every key for owner, all or nothing, for ttl. A key held by
// an unexpired lease fails the whole call with ECONFLICT (cause *Conflict,
// the first such key in sorted order); an expired lease holding one of the
// keys is taken over whole and returned in Held.TakenOver.
func (m *Manager) Acquire(ctx context.Context, owner string, keys []string, ttl time.Duration) (*Held, error) {
	if owner == "" {
		return nil, agentos.Errorf(agentos.EINVALID, "lock owner is empty: name the worker or command that holds the lock")
	}
	if ttl <= 0 {
		return nil, agentos.Errorf(agentos.EINVALID, "lock ttl must be positive, got %s", ttl)
	}
	keys, err := normalise(keys)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, agentos.Errorf(agentos.EINVALID, "no lock keys given: a lease holds at least one key")
	}
	now := m.now()
	var taken []Lease
	lease := Lease{ID: NewLeaseID(), Owner: owner, Keys: keys, Acquired: now, Heartbeat: now, Expires: now.Add(ttl)}
	lease, err = m.db.AcquireLease(ctx, lease, func(held []Lease) ([]Lease, error) {
		taken = nil
		for _, k := range keys {
			for _, h := range held {
				hk, ok := overlap(k, h.Keys)
				if !ok {
					continue
				}
				if !h.Expired {
					what := "lock " + k
					if hk != k {
						what += " (through " + hk + ")"
					}
					return nil, &agentos.Error{
						Code: agentos.ECONFLICT,
						Op:   "lock.Acquire",
						Message: fmt.Sprintf("%s is held by %s (lock %s) until %s: wait for it, or if its owner is gone run `agentos lock release %s --force --reason ...`",
							what, h.Owner, h.ID, h.Expires.UTC().Format(time.RFC3339), h.ID),
						Err: &Conflict{Key: k, Holder: h},
					}
				}
				if !slices.ContainsFunc(taken, func(l Lease) bool { return l.ID == h.ID }) {
					taken = append(taken, h)
				}
			}
		}
		return taken, nil
	})
	if err != nil {
		return nil, err
	}
	h := &Held{m: m, Lease: lease, TakenOver: taken, ttl: ttl, files: map[string]bool{}}
	for _, k := range keys {
		if p, ok := filePath(k); ok {
			h.files[p] = true
		}
	}
	return h, nil
}

// conflicts reports whether two keys exclude each other.
func conflicts(a, b string) bool { return agentos.LockKeysConflict(a, b) }

// overlap returns the first of held that conflicts with key.
func overlap(key string, held []string) (string, bool) {
	for _, h := range held {
		if conflicts(key, h) {
			return h, true
		}
	}
	return "", false
}

// lostErr is the error of an operation on a lease that is no longer held.
func lostErr(op string, l Lease) error {
	return &agentos.Error{
		Code:    agentos.ECONFLICT,
		Op:      op,
		Message: fmt.Sprintf("lock %s of %s was lost (expired and taken over, or force-released): stop writing and let the task be taken over", l.ID, l.Owner),
	}
}

// Heartbeat extends the lease by its ttl from now. It fails with ECONFLICT
// when the lease was taken over or force-released.
func (h *Held) Heartbeat(ctx context.Context) error {
	now := h.m.now()
	ok, err := h.m.db.RenewLease(ctx, h.Lease.ID, now, now.Add(h.ttl))
	if err != nil {
		return err
	}
	if !ok {
		return lostErr("lock.Heartbeat", h.Lease)
	}
	h.Lease.Heartbeat, h.Lease.Expires = now, now.Add(h.ttl)
	return nil
}

// Release gives the lease up. Releasing a lease that was already lost
// returns ECONFLICT (nothing else is released).
func (h *Held) Release(ctx context.Context) error {
	// A cancelled ctx must not leave a lock behind on shutdown.
	ok, err := h.m.db.ReleaseLease(context.WithoutCancel(ctx), h.Lease.ID)
	if err != nil {
		return err
	}
	if !ok {
		return lostErr("lock.Release", h.Lease)
	}
	return nil
}

// Covers reports whether the lease holds the file lock of repository path p
// or of a directory containing it.
func (h *Held) Covers(p string) bool {
	if h == nil {
		return false
	}
	for q := cleanPath(p); q != "." && q != ""; q = path.Dir(q) {
		if h.files[q] {
			return true
		}
	}
	return false
}

// Guard is the executor's check before it writes paths: each must be covered
// by this lease (EDENIED otherwise, red line 9), and the lease must still be
// held and unexpired in the store (ECONFLICT otherwise).
func (h *Held) Guard(ctx context.Context, paths ...string) error {
	if h == nil {
		return agentos.Errorf(agentos.EDENIED, "write refused: no file locks are held (red line 9); tasks run only under `agentos worker` or `agentos apply`, which take them")
	}
	for _, p := range paths {
		if !h.Covers(p) {
			return agentos.Errorf(agentos.EDENIED, "write to %s refused: lock %s does not hold its file lock (red line 9); only paths in the approved plan may be written", p, h.Lease.ID)
		}
	}
	return h.Check(ctx)
}

// Check verifies that the lease is still held and unexpired in the store.
func (h *Held) Check(ctx context.Context) error {
	l, err := h.m.db.Lease(ctx, h.Lease.ID, h.m.now())
	if err != nil {
		return err
	}
	if l == nil || l.Expired || l.Token != h.Lease.Token || len(l.Keys) != len(h.Lease.Keys) {
		return lostErr("lock.Check", h.Lease)
	}
	return nil
}

// KeepAlive heartbeats every interval until ctx is done or the lease is
// lost (or a store error outlasts it); the returned channel then receives
// the failure (or nil) and closes.
func (h *Held) KeepAlive(ctx context.Context, every time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				done <- nil
				return
			case <-t.C:
				if err := h.Heartbeat(ctx); err != nil {
					if ctx.Err() != nil {
						done <- nil
						return
					}
					// A store error (not a lost lease) is retried while
					// the lease is still valid.
					if agentos.ErrorCode(err) != agentos.ECONFLICT && h.m.now().Before(h.Lease.Expires) {
						continue
					}
					done <- err
					return
				}
			}
		}
	}()
	return done
}

// List returns every lease, oldest first, marking expired ones.
func (m *Manager) List(ctx context.Context) ([]Lease, error) {
	return m.db.Leases(ctx, m.now(), false)
}

// Holder returns the lease holding key, or nil.
func (m *Manager) Holder(ctx context.Context, key string) (*Lease, error) {
	return m.db.LeaseHolding(ctx, key, m.now())
}

// MaxReasonBytes bounds a forced release's reason (the audit event keeps
// it). It is fixed: the release is a recovery verb that must work when the
// policy does not load, so it reads no setting.
const MaxReasonBytes = 16 << 10

// ForceRelease removes lease id whoever holds it and returns what it
// removed, with its audit event (by actor, with reason) in the same
// transaction. Reason is required, and at most MaxReasonBytes.
func (m *Manager) ForceRelease(ctx context.Context, id, reason string, actor agentos.Actor) (*Lease, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, agentos.Errorf(agentos.EINVALID, "a forced release needs --reason: say why the holder is gone")
	}
	if len(reason) > MaxReasonBytes {
		return nil, agentos.Errorf(agentos.EINVALID, "the release reason is %.1f KiB, more than the %d KiB limit: shorten it (the limit is fixed)", float64(len(reason))/(1<<10), MaxReasonBytes>>10)
	}
	return m.db.ForceReleaseLease(ctx, id, func(l Lease) agentos.EventInput {
		return agentos.EventInput{Task: TaskOf(l.Keys), Actor: actor, Kind: EventForceRelease,
			Data: agentos.LockForceReleaseEvent{Lease: l, Reason: reason}}
	})
}

// Expired returns the leases past their expiry, without touching them.
func (m *Manager) Expired(ctx context.Context) ([]Lease, error) {
	return m.db.Leases(ctx, m.now(), true)
}
