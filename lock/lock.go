// Package lock is red line 9: leased locks over the AgentOS store. A task
// lock gives a task one runner, per-file locks give a path one writer, and a
// per-target-branch integration lock serialises landing commits.
//
// A lease is a set of keys acquired together, all or nothing, in one
// BEGIN IMMEDIATE transaction, in sorted key order, without waiting: a key
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
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/agentos/agentos"
)

// Key prefixes. A key is "<kind>:<scope>"; git branch names cannot contain
// ':', so a file key splits unambiguously at its second ':'.
const (
	kindTask      = "task:"
	kindFile      = "file:"
	kindIntegrate = "integrate:"
)

// Audit event kinds of lock changes someone must be able to account for.
const (
	// EventTakeover: an expired lease was taken over by a new holder.
	EventTakeover = "lock.takeover"
	// EventForceRelease: a human removed a lease with --force and a reason.
	EventForceRelease = "lock.force_release"
	// EventLost: a holder found its lease gone (expired and taken over, or
	// force-released) and stopped.
	EventLost = "lock.lost"
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
func filePath(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, kindFile)
	if !ok {
		return "", false
	}
	_, p, ok := strings.Cut(rest, ":")
	return p, ok
}

func cleanPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(p, "./")), "/")
}

// Lease is one lock as stored: a set of keys held together.
type Lease struct {
	ID        string    `json:"id"`
	Owner     string    `json:"owner"`
	Keys      []string  `json:"keys"`
	Acquired  time.Time `json:"acquired"`
	Heartbeat time.Time `json:"heartbeat"`
	Expires   time.Time `json:"expires"`
	// Expired is true when the lease was past its expiry when it was read.
	Expired bool `json:"expired"`
}

// Conflict is the cause of a failed Acquire: Key is held by Holder.
type Conflict struct {
	Key    string
	Holder Lease
}

func (c *Conflict) Error() string {
	return fmt.Sprintf("%s is held by %s (lock %s) until %s", c.Key, c.Holder.Owner, c.Holder.ID, c.Holder.Expires.UTC().Format(time.RFC3339))
}

// Manager acquires and releases leases in the store's locks table.
type Manager struct {
	db  *sql.DB
	now func() time.Time
}

// New returns a Manager over db (the AgentOS store, migrated) with clock now.
// db must begin transactions as BEGIN IMMEDIATE (sqlite.Open does).
func New(db *sql.DB, now func() time.Time) *Manager {
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
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("lock: begin: %w", err)
	}
	defer tx.Rollback()
	now := m.now()
	held, err := overlapping(ctx, tx, keys, now)
	if err != nil {
		return nil, err
	}
	var taken []Lease
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
	for _, l := range taken {
		if _, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE lease = ?`, l.ID); err != nil {
			return nil, fmt.Errorf("lock: take over %s: %w", l.ID, err)
		}
	}
	lease := Lease{ID: NewLeaseID(), Owner: owner, Keys: keys, Acquired: now, Heartbeat: now, Expires: now.Add(ttl)}
	if err := insertLease(ctx, tx, lease); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("lock: commit: %w", err)
	}
	h := &Held{m: m, Lease: lease, TakenOver: taken, ttl: ttl, files: map[string]bool{}}
	for _, k := range keys {
		if p, ok := filePath(k); ok {
			h.files[p] = true
		}
	}
	return h, nil
}

// conflicts reports whether two keys exclude each other: the same key, or
// two file keys on one target where one path is a directory containing the
// other (a lock on a directory covers everything under it).
func conflicts(a, b string) bool {
	if a == b {
		return true
	}
	if !strings.HasPrefix(a, kindFile) || !strings.HasPrefix(b, kindFile) {
		return false
	}
	return strings.HasPrefix(b, a+"/") || strings.HasPrefix(a, b+"/")
}

// overlap returns the first of held that conflicts with key.
func overlap(key string, held []string) (string, bool) {
	for _, h := range held {
		if conflicts(key, h) {
			return h, true
		}
	}
	return "", false
}

// overlapping returns every lease holding a key that conflicts with one of
// keys. Non-file keys are looked up exactly; for file keys every file lock
// on their targets is read (one range scan per target; a lock table holds
// the paths of the running tasks only) and compared in Go, so a directory
// and the paths under it are seen in both directions.
func overlapping(ctx context.Context, tx *sql.Tx, keys []string, now time.Time) ([]Lease, error) {
	leaseIDs := map[string]bool{}
	var exact []any
	want := map[string]bool{}  // requested file keys
	above := map[string]bool{} // their parent directories' keys
	targets := map[string]bool{}
	for _, k := range keys {
		p, ok := filePath(k)
		if !ok {
			exact = append(exact, k)
			continue
		}
		want[k] = true
		prefix := strings.TrimSuffix(k, p)
		targets[prefix] = true
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			above[prefix+d] = true
		}
	}
	scan := func(q string, args []any, filter func(key string) bool) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("lock: read holders: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var key, id string
			if err := rows.Scan(&key, &id); err != nil {
				return fmt.Errorf("lock: read holders: %w", err)
			}
			if filter(key) {
				leaseIDs[id] = true
			}
		}
		return rows.Err()
	}
	const chunk = 500
	for i := 0; i < len(exact); i += chunk {
		part := exact[i:min(i+chunk, len(exact))]
		if err := scan(`SELECT key, lease FROM locks WHERE key IN (?`+strings.Repeat(",?", len(part)-1)+`)`, part, func(string) bool { return true }); err != nil {
			return nil, err
		}
	}
	for prefix := range targets {
		// "file:T:" < key < "file:T;" (';' sorts right after ':').
		hi := strings.TrimSuffix(prefix, ":") + ";"
		err := scan(`SELECT key, lease FROM locks WHERE key > ? AND key < ?`, []any{prefix, hi}, func(key string) bool {
			if want[key] || above[key] {
				return true
			}
			p, _ := filePath(key)
			for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
				if want[prefix+d] {
					return true
				}
			}
			return false
		})
		if err != nil {
			return nil, err
		}
	}
	var out []Lease
	for _, id := range slices.Sorted(maps.Keys(leaseIDs)) {
		l, err := readLease(ctx, tx, id, now)
		if err != nil {
			return nil, err
		}
		if l != nil {
			out = append(out, *l)
		}
	}
	return out, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readLease reads one lease; nil when it holds no key.
func readLease(ctx context.Context, q querier, id string, now time.Time) (*Lease, error) {
	ls, err := scanLeases(ctx, q, now, `SELECT key, lease, owner, acquired_at, heartbeat_at, expires_at FROM locks WHERE lease = ? ORDER BY key`, id)
	if err != nil || len(ls) == 0 {
		return nil, err
	}
	return &ls[0], nil
}

// scanLeases groups rows (ordered so that one lease's rows are adjacent or
// not) into leases, in order of first appearance.
func scanLeases(ctx context.Context, q querier, now time.Time, query string, args ...any) ([]Lease, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("lock: read: %w", err)
	}
	defer rows.Close()
	var out []Lease
	index := map[string]int{}
	for rows.Next() {
		var key, id, owner string
		var acq, hb, exp int64
		if err := rows.Scan(&key, &id, &owner, &acq, &hb, &exp); err != nil {
			return nil, fmt.Errorf("lock: read: %w", err)
		}
		i, ok := index[id]
		if !ok {
			i = len(out)
			index[id] = i
			out = append(out, Lease{
				ID: id, Owner: owner,
				Acquired: time.Unix(0, acq).UTC(), Heartbeat: time.Unix(0, hb).UTC(), Expires: time.Unix(0, exp).UTC(),
				Expired: !now.Before(time.Unix(0, exp)),
			})
		}
		out[i].Keys = append(out[i].Keys, key)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock: read: %w", err)
	}
	for i := range out {
		slices.Sort(out[i].Keys)
	}
	return out, nil
}

func insertLease(ctx context.Context, tx *sql.Tx, l Lease) error {
	const chunk = 150 // 6 parameters a row, well under SQLite's limit
	for i := 0; i < len(l.Keys); i += chunk {
		part := l.Keys[i:min(i+chunk, len(l.Keys))]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO locks (key, lease, owner, acquired_at, heartbeat_at, expires_at) VALUES `)
		args := make([]any, 0, 6*len(part))
		for j, k := range part {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?,?,?,?,?)")
			args = append(args, k, l.ID, l.Owner, l.Acquired.UnixNano(), l.Heartbeat.UnixNano(), l.Expires.UnixNano())
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("lock: insert %s: %w", l.ID, err)
		}
	}
	return nil
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
	res, err := h.m.db.ExecContext(ctx, `UPDATE locks SET heartbeat_at = ?, expires_at = ? WHERE lease = ?`,
		now.UnixNano(), now.Add(h.ttl).UnixNano(), h.Lease.ID)
	if err != nil {
		return fmt.Errorf("lock: heartbeat %s: %w", h.Lease.ID, err)
	}
	if n, _ := res.RowsAffected(); n != int64(len(h.Lease.Keys)) {
		return lostErr("lock.Heartbeat", h.Lease)
	}
	h.Lease.Heartbeat, h.Lease.Expires = now, now.Add(h.ttl)
	return nil
}

// Release gives the lease up. Releasing a lease that was already lost
// returns ECONFLICT (nothing else is released).
func (h *Held) Release(ctx context.Context) error {
	// A cancelled ctx must not leave a lock behind on shutdown.
	res, err := h.m.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM locks WHERE lease = ?`, h.Lease.ID)
	if err != nil {
		return fmt.Errorf("lock: release %s: %w", h.Lease.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
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
	l, err := readLease(ctx, h.m.db, h.Lease.ID, h.m.now())
	if err != nil {
		return err
	}
	if l == nil || l.Expired || len(l.Keys) != len(h.Lease.Keys) {
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
	ls, err := scanLeases(ctx, m.db, m.now(), `SELECT key, lease, owner, acquired_at, heartbeat_at, expires_at FROM locks ORDER BY acquired_at, lease, key`)
	if err != nil {
		return nil, err
	}
	return ls, nil
}

// Holder returns the lease holding key, or nil.
func (m *Manager) Holder(ctx context.Context, key string) (*Lease, error) {
	var id string
	err := m.db.QueryRowContext(ctx, `SELECT lease FROM locks WHERE key = ?`, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock: read %s: %w", key, err)
	}
	return readLease(ctx, m.db, id, m.now())
}

// ForceRelease removes lease id whoever holds it and returns what it
// removed; the caller audits it with reason. Reason is required.
func (m *Manager) ForceRelease(ctx context.Context, id, reason string) (*Lease, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, agentos.Errorf(agentos.EINVALID, "a forced release needs --reason: say why the holder is gone")
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("lock: begin: %w", err)
	}
	defer tx.Rollback()
	l, err := readLease(ctx, tx, id, m.now())
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no lock %s: run `agentos lock list` for the held ones", id)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE lease = ?`, id); err != nil {
		return nil, fmt.Errorf("lock: release %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("lock: commit: %w", err)
	}
	return l, nil
}

// Expired returns the leases past their expiry, without touching them.
func (m *Manager) Expired(ctx context.Context) ([]Lease, error) {
	now := m.now()
	ls, err := scanLeases(ctx, m.db, now, `SELECT key, lease, owner, acquired_at, heartbeat_at, expires_at FROM locks WHERE lease IN (SELECT lease FROM locks WHERE expires_at <= ?) ORDER BY acquired_at, lease, key`, now.UnixNano())
	if err != nil {
		return nil, err
	}
	return ls, nil
}
