package lock_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/lock"
	"github.com/agentos/agentos/sqlite"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func mustOpenDB(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "agentos.db")
	}
	db, err := sqlite.Create(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func mustAcquire(tb testing.TB, m *lock.Manager, owner string, keys []string, ttl time.Duration) *lock.Held {
	tb.Helper()
	h, err := m.Acquire(context.Background(), owner, keys, ttl)
	if err != nil {
		tb.Fatalf("Acquire(%s, %v) = %v", owner, keys, err)
	}
	return h
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := agentos.ErrorCode(err); got != code {
		t.Fatalf("%s: code = %q (%v), want %q", what, got, err, code)
	}
}

func TestAcquire(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		c := newClock()
		m := lock.New(mustOpenDB(t, ""), c.Now)
		h := mustAcquire(t, m, "w1", []string{lock.FileKey("main", "b.go"), lock.TaskKey("T1"), lock.FileKey("main", "./a.go"), lock.TaskKey("T1")}, time.Minute)
		want := []string{"file:main:a.go", "file:main:b.go", "task:T1"}
		if fmt.Sprint(h.Lease.Keys) != fmt.Sprint(want) {
			t.Fatalf("Keys = %v, want %v (sorted, de-duplicated, cleaned)", h.Lease.Keys, want)
		}
		if !h.Lease.Expires.Equal(c.Now().Add(time.Minute)) {
			t.Fatalf("Expires = %v, want %v", h.Lease.Expires, c.Now().Add(time.Minute))
		}
		ls, err := m.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != 1 || ls[0].ID != h.Lease.ID || ls[0].Owner != "w1" || len(ls[0].Keys) != 3 || ls[0].Expired {
			t.Fatalf("List = %+v, want the one lease of w1 with 3 keys", ls)
		}
		if err := h.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if ls, _ := m.List(ctx); len(ls) != 0 {
			t.Fatalf("List after Release = %+v, want none", ls)
		}
		wantCode(t, "second Release", h.Release(ctx), agentos.ECONFLICT)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		m := lock.New(mustOpenDB(t, ""), newClock().Now)
		for _, tc := range []struct {
			name  string
			owner string
			keys  []string
			ttl   time.Duration
		}{
			{"NoOwner", "", []string{"task:x"}, time.Second},
			{"NoKeys", "w", nil, time.Second},
			{"EmptyKey", "w", []string{" "}, time.Second},
			{"NoTTL", "w", []string{"task:x"}, 0},
			{"FileWithoutPath", "w", []string{"file:main:"}, time.Second},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := m.Acquire(ctx, tc.owner, tc.keys, tc.ttl)
				wantCode(t, "Acquire", err, agentos.EINVALID)
			})
		}
	})
	t.Run("ErrConflictAllOrNothing", func(t *testing.T) {
		c := newClock()
		m := lock.New(mustOpenDB(t, ""), c.Now)
		h1 := mustAcquire(t, m, "w1", []string{"file:main:b", "file:main:c"}, time.Minute)
		_, err := m.Acquire(ctx, "w2", []string{"file:main:a", "file:main:c", "file:main:d"}, time.Minute)
		wantCode(t, "overlapping Acquire", err, agentos.ECONFLICT)
		cf, ok := errors.AsType[*lock.Conflict](err)
		if !ok || cf.Key != "file:main:c" || cf.Holder.ID != h1.Lease.ID || cf.Holder.Owner != "w1" {
			t.Fatalf("conflict = %+v, want file:main:c held by w1 (%s)", cf, h1.Lease.ID)
		}
		// Nothing of the failed set is held: a and d are free.
		h3 := mustAcquire(t, m, "w3", []string{"file:main:a", "file:main:d"}, time.Minute)
		if len(h3.TakenOver) != 0 {
			t.Fatalf("TakenOver = %+v, want none", h3.TakenOver)
		}
		// Same file on another target branch is another lock.
		mustAcquire(t, m, "w4", []string{lock.FileKey("release", "c")}, time.Minute)
		// A held lease is not taken over just before expiry.
		c.Add(time.Minute - time.Nanosecond)
		_, err = m.Acquire(ctx, "w2", []string{"file:main:c"}, time.Minute)
		wantCode(t, "Acquire before expiry", err, agentos.ECONFLICT)
	})
}

// TestDirectoryLocks: a lock on a directory excludes locks on paths under
// it, and the reverse, on the same target only; it covers its subtree.
func TestDirectoryLocks(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, held, want string
		conflict         bool
	}{
		{"ChildOfHeldDir", "file:main:src", "file:main:src/a/b.go", true},
		{"DirOfHeldFile", "file:main:src/a/b.go", "file:main:src", true},
		{"MiddleDir", "file:main:src/a/b.go", "file:main:src/a", true},
		{"Sibling", "file:main:src/a", "file:main:src/ab", false},
		{"SiblingFile", "file:main:src/a", "file:main:src/a.go", false},
		{"OtherTarget", "file:main:src", "file:dev:src/a.go", false},
		{"BranchNamesAreNotDirs", "integrate:release", "integrate:release/1.0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := lock.New(mustOpenDB(t, ""), newClock().Now)
			h := mustAcquire(t, m, "w1", []string{tc.held}, time.Minute)
			_, err := m.Acquire(ctx, "w2", []string{"task:x", tc.want}, time.Minute)
			if tc.conflict {
				wantCode(t, "Acquire", err, agentos.ECONFLICT)
				if cf, _ := errors.AsType[*lock.Conflict](err); cf == nil || cf.Key != tc.want || cf.Holder.ID != h.Lease.ID {
					t.Fatalf("conflict = %+v, want %s against %s", cf, tc.want, h.Lease.ID)
				}
			} else if err != nil {
				t.Fatalf("Acquire = %v, want no conflict", err)
			}
		})
	}
	m := lock.New(mustOpenDB(t, ""), newClock().Now)
	h := mustAcquire(t, m, "w1", []string{lock.FileKey("main", "docs")}, time.Minute)
	for p, want := range map[string]bool{"docs": true, "docs/a/b.md": true, "docs2/x": false, "README": false} {
		if got := h.Covers(p); got != want {
			t.Errorf("Covers(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestExpiryTakeover(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := lock.New(mustOpenDB(t, ""), c.Now)
	old := mustAcquire(t, m, "w1", []string{"task:T1", "file:main:a", "file:main:b"}, time.Minute)

	c.Add(40 * time.Second)
	if err := old.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	c.Add(40 * time.Second) // 80s after acquiring, 40s after the heartbeat
	_, err := m.Acquire(ctx, "w2", []string{"file:main:a"}, time.Minute)
	wantCode(t, "Acquire after heartbeat", err, agentos.ECONFLICT)

	c.Add(20 * time.Second) // exactly at expiry
	exp, err := m.Expired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(exp) != 1 || exp[0].ID != old.Lease.ID {
		t.Fatalf("Expired = %+v, want %s", exp, old.Lease.ID)
	}
	nw := mustAcquire(t, m, "w2", []string{"task:T1"}, time.Minute)
	if len(nw.TakenOver) != 1 || nw.TakenOver[0].ID != old.Lease.ID || nw.TakenOver[0].Owner != "w1" || len(nw.TakenOver[0].Keys) != 3 {
		t.Fatalf("TakenOver = %+v, want the whole lease %s of w1", nw.TakenOver, old.Lease.ID)
	}
	// The whole old lease went: its file locks are free too.
	mustAcquire(t, m, "w3", []string{"file:main:a", "file:main:b"}, time.Minute)

	wantCode(t, "old Heartbeat", old.Heartbeat(ctx), agentos.ECONFLICT)
	wantCode(t, "old Guard", old.Guard(ctx, "a"), agentos.ECONFLICT)
	wantCode(t, "old Release", old.Release(ctx), agentos.ECONFLICT)
	if err := nw.Release(ctx); err != nil {
		t.Fatalf("new holder's Release = %v (the old one's must not have removed it)", err)
	}
}

func TestGuard(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	m := lock.New(mustOpenDB(t, ""), c.Now)
	h := mustAcquire(t, m, "w1", append(lock.FileKeys("main", []string{"src/a.go", "docs/x.md"}), lock.TaskKey("T1")), time.Minute)
	for _, tc := range []struct {
		path string
		code string
	}{
		{"src/a.go", ""},
		{"./docs/x.md", ""},
		{"src/b.go", agentos.EDENIED},
		{"src", agentos.EDENIED},
		{"T1", agentos.EDENIED},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if got := h.Covers(tc.path); got != (tc.code == "") {
				t.Fatalf("Covers(%q) = %v", tc.path, got)
			}
			wantCode(t, "Guard", h.Guard(ctx, tc.path), tc.code)
		})
	}
	var none *lock.Held
	wantCode(t, "Guard without a lease", none.Guard(ctx, "src/a.go"), agentos.EDENIED)
	c.Add(time.Minute)
	wantCode(t, "Guard after expiry", h.Guard(ctx, "src/a.go"), agentos.ECONFLICT)
}

func TestForceRelease(t *testing.T) {
	ctx := context.Background()
	m := lock.New(mustOpenDB(t, ""), newClock().Now)
	h := mustAcquire(t, m, "w1", []string{"integrate:main"}, time.Hour)
	_, err := m.ForceRelease(ctx, h.Lease.ID, "", agentos.Human("tester"))
	wantCode(t, "ForceRelease without reason", err, agentos.EINVALID)
	_, err = m.ForceRelease(ctx, "lk_nope", "gone", agentos.Human("tester"))
	wantCode(t, "ForceRelease unknown", err, agentos.ENOTFOUND)
	l, err := m.ForceRelease(ctx, h.Lease.ID, "worker host died", agentos.Human("tester"))
	if err != nil {
		t.Fatal(err)
	}
	if l.ID != h.Lease.ID || l.Owner != "w1" || len(l.Keys) != 1 {
		t.Fatalf("released = %+v, want w1's lease", l)
	}
	mustAcquire(t, m, "w2", []string{"integrate:main"}, time.Hour)
	wantCode(t, "Heartbeat after force release", h.Heartbeat(ctx), agentos.ECONFLICT)
}

// TestMutualExclusion runs many acquirers over overlapping random key sets
// through two separate connection pools (two processes, one file) and checks
// that no key ever has two holders at once.
func TestMutualExclusion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agentos.db")
	dbs := []*sqlite.DB{mustOpenDB(t, path), mustOpenDB(t, path)}
	const nkeys, workers, rounds = 12, 8, 40
	var holders [nkeys]atomic.Int32
	var acquired, conflicts atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			m := lock.New(dbs[w%2], time.Now)
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range rounds {
				idx := r.Perm(nkeys)[:1+r.IntN(4)]
				keys := make([]string, len(idx))
				for i, k := range idx {
					keys[i] = fmt.Sprintf("file:main:%02d", k)
				}
				h, err := m.Acquire(t.Context(), fmt.Sprint("w", w), keys, time.Minute)
				if agentos.ErrorCode(err) == agentos.ECONFLICT {
					conflicts.Add(1)
					continue
				}
				if err != nil {
					t.Errorf("Acquire: %v", err)
					return
				}
				acquired.Add(1)
				for _, k := range idx {
					if n := holders[k].Add(1); n != 1 {
						t.Errorf("key %02d has %d holders", k, n)
					}
				}
				for _, k := range idx {
					holders[k].Add(-1)
				}
				if err := h.Release(t.Context()); err != nil {
					t.Errorf("Release: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if acquired.Load() == 0 {
		t.Fatalf("no acquisition succeeded (%d conflicts)", conflicts.Load())
	}
	ls, err := lock.New(dbs[0], time.Now).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 0 {
		t.Fatalf("leases left after every release: %+v", ls)
	}
	t.Logf("acquired %d, conflicts %d", acquired.Load(), conflicts.Load())
}

// TestKeepAlive runs in a synctest bubble: the fake clock moves ten ttls
// while KeepAlive heartbeats; the lease must stay held throughout, and must
// expire once KeepAlive stops.
func TestKeepAlive(t *testing.T) {
	db := mustOpenDB(t, "")
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		m := lock.New(db, time.Now)
		const ttl = 30 * time.Second
		h := mustAcquire(t, m, "w1", []string{"task:T"}, ttl)
		done := h.KeepAlive(ctx, ttl/3)
		for range 10 {
			time.Sleep(ttl)
			if _, err := m.Acquire(ctx, "w2", []string{"task:T"}, ttl); agentos.ErrorCode(err) != agentos.ECONFLICT {
				t.Fatalf("Acquire by w2 while kept alive = %v, want conflict", err)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("KeepAlive = %v", err)
		}
		time.Sleep(ttl)
		h2, err := m.Acquire(t.Context(), "w2", []string{"task:T"}, ttl)
		if err != nil {
			t.Fatalf("Acquire after KeepAlive stopped = %v", err)
		}
		if len(h2.TakenOver) != 1 || h2.TakenOver[0].ID != h.Lease.ID {
			t.Fatalf("TakenOver = %+v, want %s", h2.TakenOver, h.Lease.ID)
		}
	})
}

// TestKeepAliveLost: when the lease is force-released, KeepAlive reports it.
func TestKeepAliveLost(t *testing.T) {
	db := mustOpenDB(t, "")
	synctest.Test(t, func(t *testing.T) {
		m := lock.New(db, time.Now)
		h := mustAcquire(t, m, "w1", []string{"task:T"}, time.Minute)
		done := h.KeepAlive(t.Context(), 10*time.Second)
		if _, err := m.ForceRelease(t.Context(), h.Lease.ID, "test", agentos.Human("tester")); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "KeepAlive", <-done, agentos.ECONFLICT)
	})
}

// BenchmarkAcquireRelease50 measures acquire+release of a task lock plus 49
// file locks, the lease a 49-file task takes, into an empty lock table
// (idle) and beside four other running tasks' 50-key leases on the same
// target (busy: their file locks are read to rule out directory overlaps).
func BenchmarkAcquireRelease50(b *testing.B) {
	b.Run("idle", func(b *testing.B) { benchAcquireRelease(b, 0) })
	b.Run("busy", func(b *testing.B) { benchAcquireRelease(b, 4) })
}

func benchAcquireRelease(b *testing.B, others int) {
	m := lock.New(mustOpenDB(b, ""), time.Now)
	for o := range others {
		var ps []string
		for i := range 49 {
			ps = append(ps, fmt.Sprintf("other%d/pkg%02d/file.go", o, i))
		}
		mustAcquire(b, m, fmt.Sprint("other", o), append(lock.FileKeys("main", ps), lock.TaskKey(fmt.Sprint("O", o))), time.Hour)
	}
	paths := make([]string, 49)
	for i := range paths {
		paths[i] = fmt.Sprintf("src/pkg%02d/file.go", i)
	}
	keys := append(lock.FileKeys("main", paths), lock.TaskKey("T1"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h, err := m.Acquire(ctx, "bench", keys, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
