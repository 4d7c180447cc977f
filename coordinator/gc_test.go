package coordinator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/sandbox"
)

// GC expires a task blocked past blocked_expires_after and removes a
// worktree past retention.worktrees, auditing both as the given actor; its
// dry run lists the same and changes nothing.
func TestGC(t *testing.T) {
	c, dir := gateCoordinator(t)
	ctx := t.Context()
	ann := agentos.Human("ann")
	plan := filepath.Join(dir, "release.plan.yaml")
	if err := os.WriteFile(plan, []byte("version: 1\ngoal: release\nparams:\n  - {id: version, question: \"Which version?\", blocker: true}\nsteps:\n  - write: {path: VERSION, content: \"{{ .params.version }}\\n\"}\n    template: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := c.PlanFile(ctx, PlanRequest{File: plan, Mode: agentos.ModeSemiAuto, Actor: ann})
	if agentos.ErrorCode(err) != agentos.EBLOCKED || b == nil || b.State != agentos.StateBlocked {
		t.Fatalf("PlanFile = %v, %v; want a blocked task", b, err)
	}
	c.Config.BlockedExpiresAfter = "1h"
	c.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }

	head := func() int64 {
		n, _, err := c.DB.ChainHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n0 := head()
	rep, err := c.GC(ctx, ann, true)
	if err != nil || len(rep.Expired) != 1 || rep.Expired[0].Task != b.ID || len(rep.Worktrees) != 0 {
		t.Fatalf("dry run = %+v, %v", rep, err)
	}
	if got, _ := c.DB.Task(ctx, b.ID); got.State != agentos.StateBlocked || head() != n0 {
		t.Fatalf("the dry run changed something: task %s, %d new events", got.State, head()-n0)
	}

	if rep, err = c.GC(ctx, ann, false); err != nil || len(rep.Expired) != 1 {
		t.Fatalf("GC = %+v, %v", rep, err)
	}
	got, _ := c.DB.Task(ctx, b.ID)
	if got.State != agentos.StateCancelled {
		t.Fatalf("expired task is %s, want cancelled", got.State)
	}
	evs, _ := c.DB.Events(ctx, agentos.EventFilter{Task: b.ID, Kind: agentos.EventTransition})
	last := evs[len(evs)-1]
	if last.Actor != ann || !jsonHas(t, last.Data, "expired", true) {
		t.Fatalf("expiry event = %s by %s", last.Data, last.Actor)
	}
	if _, _, err := c.DB.Review(ctx, b.ID); err != nil {
		t.Fatalf("no ReviewPack for the expired task: %v", err)
	}

	// A worktree kept for the (now ended) task, past a zero retention.
	wt := c.worktreeDir(b.ID)
	if err := c.Repo.AddWorktree(ctx, wt, branchOf(b.ID), "main"); err != nil {
		t.Fatal(err)
	}
	c.Config.Retention.Worktrees = "0s"
	n1 := head()
	if rep, err = c.GC(ctx, ann, true); err != nil || len(rep.Worktrees) != 1 || len(rep.Expired) != 0 {
		t.Fatalf("dry run = %+v, %v", rep, err)
	}
	if _, err := os.Stat(wt); err != nil || head() != n1 {
		t.Fatalf("the dry run removed the worktree (%v) or audited (%d events)", err, head()-n1)
	}
	if rep, err = c.GC(ctx, ann, false); err != nil || len(rep.Worktrees) != 1 {
		t.Fatalf("GC = %+v, %v", rep, err)
	}
	w := rep.Worktrees[0]
	if w.Task != b.ID || w.Path != filepath.Join(".agentos", "worktrees", b.ID) || w.Branch != branchOf(b.ID) {
		t.Fatalf("removed %+v", w)
	}
	if _, err := os.Stat(wt); !os.IsNotExist(err) {
		t.Fatalf("worktree still there: %v", err)
	}
	if _, err := c.Repo.BranchHead(ctx, branchOf(b.ID)); err == nil {
		t.Fatalf("branch %s still there", branchOf(b.ID))
	}
	evs, _ = c.DB.Events(ctx, agentos.EventFilter{Task: b.ID, Kind: EventWorktreeRemoved})
	if len(evs) != 1 || evs[0].Actor != ann {
		t.Fatalf("worktree.removed events = %+v", evs)
	}
	var data WorktreeRemoved
	if err := json.Unmarshal(evs[0].Data, &data); err != nil || data != (WorktreeRemoved{Path: w.Path, Branch: w.Branch, Retention: "0s"}) {
		t.Fatalf("worktree.removed data = %s (%v)", evs[0].Data, err)
	}
	if _, err := c.DB.VerifyChain(ctx); err != nil {
		t.Fatal(err)
	}

	// Nothing left: nothing done, nothing audited.
	n2 := head()
	if rep, err = c.GC(ctx, ann, false); err != nil || len(rep.Expired)+len(rep.Worktrees) != 0 || head() != n2 {
		t.Fatalf("idle GC = %+v, %v, %d events", rep, err, head()-n2)
	}

	for _, bad := range []struct{ expires, keep string }{{"soon", "keep"}, {"", "a week"}} {
		c.Config.BlockedExpiresAfter, c.Config.Retention.Worktrees = bad.expires, bad.keep
		if _, err := c.GC(ctx, ann, true); agentos.ErrorCode(err) != agentos.EINVALID {
			t.Fatalf("GC with %+v = %v, want EINVALID", bad, err)
		}
	}
}

func jsonHas(t *testing.T, b []byte, key string, want any) bool {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m[key] == want
}

// GC removes the build caches of earlier policies once unused for a day,
// never the current policy's nor a recently used one.
func TestGCStaleCaches(t *testing.T) {
	c, _ := gateCoordinator(t)
	c.Config.Sandbox.Profiles = map[string]config.Profile{"go": {Env: map[string]string{"GOCACHE": "{cache}/go-build"}}}
	current := c.confinement()
	if err := current.Prepare(); err != nil {
		t.Fatal(err)
	}
	root := sandbox.CacheRoot(c.Repo.Dir())
	old, recent := filepath.Join(root, "0000old"), filepath.Join(root, "0000recent")
	for _, d := range []string{old, recent} {
		if err := os.MkdirAll(filepath.Join(d, "go-build"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(current.CacheDir, long, long); err != nil {
		t.Fatal(err)
	}
	rep, err := c.GC(t.Context(), agentos.Human("ann"), true)
	if err != nil || len(rep.Caches) != 1 || rep.Caches[0] != ".agentos/cache/0000old" {
		t.Fatalf("dry run = %+v, %v; want only the old policy's cache", rep, err)
	}
	if _, err := os.Stat(old); err != nil {
		t.Fatal("the dry run removed the cache")
	}
	if _, err := c.GC(t.Context(), agentos.Human("ann"), false); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{old: false, recent: true, current.CacheDir: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", dir, err == nil, want)
		}
	}
}

// Housekeep (every write command's start) asks the store only for the
// tasks that ended since the last sweep's cutoff: a worktree of a task that
// ended before it is not looked at again (the explicit GC still finds it),
// and one that ended after it is removed.
func TestHousekeepSweepsOnlySinceTheMark(t *testing.T) {
	c, _ := gateCoordinator(t)
	ctx := t.Context()
	c.Config.Retention.Worktrees = "0s"
	ended := func(id string) string {
		t.Helper()
		if err := c.DB.CreateTask(ctx, &agentos.Task{ID: id, Mode: agentos.ModeSemiAuto, Goal: id, Submitter: agentos.System, Target: "main"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DB.Transition(ctx, id, agentos.StateCreated, agentos.StateCancelled, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{}); err != nil {
			t.Fatal(err)
		}
		dir := c.worktreeDir(id)
		if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil { // a kept layer
			t.Fatal(err)
		}
		return dir
	}
	exists := func(dir string) bool { _, err := os.Stat(dir); return err == nil }
	old := ended("old")
	if rep, err := c.Housekeep(ctx, agentos.System); err != nil || len(rep.Worktrees) != 1 || exists(old) {
		t.Fatalf("first Housekeep = %+v, %v; want the old task's worktree removed", rep, err)
	}
	// Left behind (as if its removal had been missed), before the mark.
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	fresh := ended("fresh")
	rep, err := c.Housekeep(ctx, agentos.System)
	if err != nil || len(rep.Worktrees) != 1 || rep.Worktrees[0].Task != "fresh" || exists(fresh) {
		t.Fatalf("second Housekeep = %+v, %v; want only the task that ended since the mark", rep, err)
	}
	if !exists(old) {
		t.Fatal("Housekeep looked at a task that ended before the mark")
	}
	if rep, err := c.GC(ctx, agentos.System, false); err != nil || len(rep.Worktrees) != 1 || exists(old) {
		t.Fatalf("GC = %+v, %v; want the full sweep to find the old worktree", rep, err)
	}
}

// Idle base checkouts beyond maxIdleBases go least recently used first; a
// base a run holds is never removed, however old.
func TestGCPrunesIdleBases(t *testing.T) {
	c, dir := gateCoordinator(t)
	ctx := t.Context()
	var leases []*baseLease
	for i := range 4 {
		if i > 0 {
			os.WriteFile(filepath.Join(dir, "README.md"), []byte(strings.Repeat("x", i)+"\n"), 0o644)
			gitIn(t, dir, "commit", "-q", "-am", "next")
		}
		head, err := c.Repo.BranchHead(ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		l, err := c.leaseBase(ctx, head) // each held: every lease needs a new base
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, l)
	}
	for i, l := range leases {
		at := time.Now().Add(-time.Duration(4-i) * time.Hour) // leases[0] the oldest
		os.Chtimes(l.f.Name(), at, at)
		if i > 0 {
			l.release()
		}
	}
	slot := func(l *baseLease) string { return filepath.Dir(l.tree) }
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	rep, err := c.GC(ctx, agentos.System, true)
	if err != nil || len(rep.Bases) != 1 || rep.Bases[0].Path != filepath.Join(".agentos", "bases", filepath.Base(slot(leases[1]))) || !exists(slot(leases[1])) {
		t.Fatalf("dry run = %+v, %v; want the least recently used idle base listed, not removed", rep.Bases, err)
	}
	if rep, err = c.GC(ctx, agentos.System, false); err != nil || len(rep.Bases) != 1 {
		t.Fatalf("GC = %+v, %v", rep.Bases, err)
	}
	if exists(slot(leases[1])) || !exists(filepath.Join(leases[0].tree, "README.md")) || !exists(slot(leases[2])) || !exists(slot(leases[3])) {
		t.Fatal("GC removed the wrong bases (or the held one)")
	}
	if rep, err = c.GC(ctx, agentos.System, false); err != nil || len(rep.Bases) != 0 {
		t.Fatalf("GC at the limit = %+v, %v; want nothing removed", rep.Bases, err)
	}
	leases[0].release()
	if rep, err = c.GC(ctx, agentos.System, false); err != nil || len(rep.Bases) != 1 || exists(slot(leases[0])) {
		t.Fatalf("GC once released = %+v, %v; want the oldest base removed", rep.Bases, err)
	}
}
