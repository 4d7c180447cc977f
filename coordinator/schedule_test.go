package coordinator

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/gitrepo"
	"github.com/agentos/agentos/lock"
	"github.com/agentos/agentos/scheduler"
	"github.com/agentos/agentos/sqlite"
)

const schedPolicy = `version: 1
target: main
sandbox: {require: false}
commands: {allow: ["true"]}
scheduler:
  rules:
    - {id: freeze, when: "'freeze' in task.labels", effect: hold, reason: release freeze}
    - {id: one-deploy, when: "'deploy' in task.labels", effect: serialize, key: deploy}
    - {id: two-docs, when: "'docs' in task.labels", effect: max_concurrency, key: docs, limit: 2}
`

// schedCoordinator is a coordinator over a fresh repository whose committed
// policy has a hold, a serialize and a max_concurrency rule.
func schedCoordinator(t *testing.T) *Coordinator {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"agentos.yaml": schedPolicy, ".gitignore": ".agentos/\n", "README.md": "hello\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitIn(t, dir, "init", "-q", "-b", "main")
	gitIn(t, dir, "add", ".")
	gitIn(t, dir, "commit", "-q", "-m", "init")
	if err := os.MkdirAll(filepath.Join(dir, ".agentos"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "agentos.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Create(t.Context(), filepath.Join(dir, ".agentos", "agentos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	repo, err := gitrepo.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return New(db, repo, cfg)
}

// queuedTask plans and gates a one-write task with a label.
func queuedTask(t *testing.T, c *Coordinator, label, path string) *agentos.Task {
	t.Helper()
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	body := fmt.Sprintf("version: 1\ngoal: %s\nlabels: [%s]\nsteps:\n  - write: {path: %s, content: \"x\\n\"}\nverify:\n  - argv: [\"true\"]\n", path, label, path)
	if err := os.WriteFile(plan, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	tk, err := c.PlanFile(t.Context(), PlanRequest{File: plan, Mode: agentos.ModeSemiAuto, Actor: agentos.Human("ann")})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Gate(t.Context(), tk, agentos.Human("ann")); err != nil {
		t.Fatal(err)
	}
	return tk
}

// schedEvents returns the task's scheduler decisions in audit order, with
// the actor of each.
func schedEvents(t *testing.T, c *Coordinator, task string) ([]scheduler.Decision, []agentos.Actor) {
	t.Helper()
	evs, err := c.DB.Events(t.Context(), agentos.EventFilter{Task: task})
	if err != nil {
		t.Fatal(err)
	}
	var ds []scheduler.Decision
	var actors []agentos.Actor
	for _, e := range evs {
		if !strings.HasPrefix(e.Kind, scheduler.EventPrefix) {
			continue
		}
		var d scheduler.Decision
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if e.Kind != d.Action.EventKind() {
			t.Errorf("event %d: kind %s, decision %s", e.Seq, e.Kind, d.Action)
		}
		ds = append(ds, d)
		actors = append(actors, e.Actor)
	}
	return ds, actors
}

func takeLease(t *testing.T, c *Coordinator, task string) *lock.Held {
	t.Helper()
	h, err := c.lockManager().Acquire(t.Context(), "worker:elsewhere:1", []string{lock.TaskKey(task)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSchedule: the choke point every foreground run passes holds, skips
// and dispatches as the rules say, against what runs in any process, and
// audits each decision with the rule id and the rules' hash.
func TestSchedule(t *testing.T) {
	ann := agentos.Human("ann")

	t.Run("Hold", func(t *testing.T) {
		c := schedCoordinator(t)
		tk := queuedTask(t, c, "freeze", "frozen.txt")
		d, err := c.Schedule(t.Context(), tk, ann)
		if d != nil || agentos.ErrorCode(err) != agentos.EHELD {
			t.Fatalf("Schedule = %v, %v; want an EHELD error", d, err)
		}
		for _, want := range []string{"scheduler rule freeze", "release freeze", "stays queued", "agentos scheduler explain " + tk.ID} {
			if !strings.Contains(agentos.ErrorMessage(err), want) {
				t.Errorf("message %q does not say %q", agentos.ErrorMessage(err), want)
			}
		}
		ds, actors := schedEvents(t, c, tk.ID)
		if len(ds) != 1 || ds[0].Action != scheduler.Hold || ds[0].RuleID != "freeze" || ds[0].RulesHash != scheduler.Hash(c.Config.Scheduler.Rules) || actors[0] != ann {
			t.Fatalf("decisions = %+v by %v; want one hold by freeze under the rules' hash, by %s", ds, actors, ann)
		}
		// Apply goes through the same gate: held again, audited again.
		if nt, err := c.Apply(t.Context(), tk.ID, ann); agentos.ErrorCode(err) != agentos.EHELD || nt.State != agentos.StateQueued {
			t.Fatalf("Apply = %v, %v; want held and queued", nt, err)
		}
		if ds, _ := schedEvents(t, c, tk.ID); len(ds) != 2 {
			t.Fatalf("%d decisions after a second attempt, want 2", len(ds))
		}
		if runs, _ := c.DB.RunsOf(t.Context(), tk.ID); len(runs) != 0 {
			t.Fatalf("runs = %v, want none", runs)
		}
		if ls, _ := c.lockManager().List(t.Context()); len(ls) != 0 {
			t.Fatalf("leases left = %+v", ls)
		}
	})

	t.Run("SerializeCountsALeasedTask", func(t *testing.T) {
		c := schedCoordinator(t)
		a := queuedTask(t, c, "deploy", "a.txt")
		b := queuedTask(t, c, "deploy", "b.txt")
		h := takeLease(t, c, a.ID) // a runs in another process
		_, err := c.Schedule(t.Context(), b, ann)
		if agentos.ErrorCode(err) != agentos.EHELD || !strings.Contains(err.Error(), "one-deploy") {
			t.Fatalf("Schedule(b) while a runs = %v; want held by one-deploy", err)
		}
		ds, _ := schedEvents(t, c, b.ID)
		if len(ds) != 1 || ds[0].Action != scheduler.Skip || ds[0].RuleID != "one-deploy" || !slices.Equal(ds[0].Holders, []string{a.ID}) {
			t.Fatalf("decisions = %+v; want a skip by one-deploy naming %s", ds, a.ID)
		}
		// a's own lease is held: it is running, not dispatched twice.
		if _, err := c.Schedule(t.Context(), a, ann); agentos.ErrorCode(err) != agentos.ECONFLICT || !strings.Contains(err.Error(), "worker:elsewhere:1") {
			t.Fatalf("Schedule(a) while its lease is held = %v; want a conflict naming the holder", err)
		}
		if err := h.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
		d, err := c.Schedule(t.Context(), b, ann)
		if err != nil {
			t.Fatalf("Schedule(b) once a stopped = %v", err)
		}
		if d.Task().ID != b.ID || d.Decision().Action != scheduler.Dispatch || d.Lease() == "" {
			t.Fatalf("dispatched %+v", d)
		}
		// While b is dispatched (its lease held, not yet applying) a waits.
		if _, err := c.Schedule(t.Context(), a, ann); agentos.ErrorCode(err) != agentos.EHELD {
			t.Fatalf("Schedule(a) while b is dispatched = %v; want held", err)
		}
		ds, _ = schedEvents(t, c, b.ID)
		if last := ds[len(ds)-1]; last.Action != scheduler.Dispatch || last.RulesHash != scheduler.Hash(c.Config.Scheduler.Rules) {
			t.Fatalf("last decision of b = %+v; want the audited dispatch", last)
		}
		nt, err := c.RunDispatched(t.Context(), d, ann)
		if err != nil || nt.State != agentos.StateCommitted {
			t.Fatalf("RunDispatched = %v, %v; want committed", nt, err)
		}
		if err := d.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
		if nt, err := c.Apply(t.Context(), a.ID, ann); err != nil || nt.State != agentos.StateCommitted {
			t.Fatalf("Apply(a) once b landed = %v, %v; want committed", nt, err)
		}
	})

	t.Run("MaxConcurrencyCountsApplyingAndLeased", func(t *testing.T) {
		c := schedCoordinator(t)
		x := queuedTask(t, c, "docs", "x.txt")
		y := queuedTask(t, c, "docs", "y.txt")
		z := queuedTask(t, c, "docs", "z.txt")
		// x is applying (its runner's lease is gone, as after a crash: the
		// worker's takeover re-queues it, until then it counts), y leased.
		if _, err := c.DB.Transition(t.Context(), x.ID, agentos.StateQueued, agentos.StateApplying, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{}); err != nil {
			t.Fatal(err)
		}
		h := takeLease(t, c, y.ID)
		_, err := c.Schedule(t.Context(), z, ann)
		if agentos.ErrorCode(err) != agentos.EHELD || !strings.Contains(err.Error(), "two-docs") || !strings.Contains(err.Error(), "2 of 2 running") {
			t.Fatalf("Schedule(z) = %v; want held by two-docs, 2 of 2 running", err)
		}
		ds, _ := schedEvents(t, c, z.ID)
		if len(ds) != 1 || !slices.Equal(ds[0].Holders, slices.Sorted(slices.Values([]string{x.ID, y.ID}))) {
			t.Fatalf("decisions = %+v; want holders %s and %s", ds, x.ID, y.ID)
		}
		h.Release(t.Context())
		d, err := c.Schedule(t.Context(), z, ann)
		if err != nil {
			t.Fatalf("Schedule(z) with one slot free = %v", err)
		}
		d.Release(t.Context())
	})

	t.Run("OnlyQueuedTasks", func(t *testing.T) {
		c := schedCoordinator(t)
		plan := filepath.Join(t.TempDir(), "p.yaml")
		os.WriteFile(plan, []byte("version: 1\ngoal: g\nsteps:\n  - write: {path: p.txt, content: \"p\\n\"}\nverify:\n  - argv: [\"true\"]\n"), 0o644)
		tk, err := c.PlanFile(t.Context(), PlanRequest{File: plan, Mode: agentos.ModeSemiAuto, Actor: ann})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Schedule(t.Context(), tk, ann); agentos.ErrorCode(err) != agentos.ECONFLICT {
			t.Fatalf("Schedule(planned) = %v; want a conflict", err)
		}
		if ds, _ := schedEvents(t, c, tk.ID); len(ds) != 0 {
			t.Fatalf("decisions for a task that was never queued: %+v", ds)
		}
	})

	t.Run("RunRequiresADispatch", func(t *testing.T) {
		c := schedCoordinator(t)
		tk := queuedTask(t, c, "none", "n.txt")
		p, _, err := c.DB.Plan(t.Context(), tk.PlanID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.holdLocks(t.Context(), tk, p, nil); err == nil || !strings.Contains(err.Error(), "red line 10") {
			t.Fatalf("holdLocks without a dispatch = %v; want a red line 10 refusal", err)
		}
	})

	t.Run("WorkerSharesTheGate", func(t *testing.T) {
		c := schedCoordinator(t)
		held := queuedTask(t, c, "freeze", "f.txt")
		free := queuedTask(t, c, "none", "g.txt")
		st, err := c.Work(t.Context(), WorkerOptions{UntilIdle: true, Poll: time.Millisecond})
		if err != nil || st.Committed != 1 {
			t.Fatalf("Work = %+v, %v; want one committed", st, err)
		}
		ds, actors := schedEvents(t, c, held.ID)
		if len(ds) != 1 || ds[0].RuleID != "freeze" || actors[0] != agentos.System {
			t.Fatalf("worker decisions for the frozen task = %+v by %v", ds, actors)
		}
		ds, _ = schedEvents(t, c, free.ID)
		if len(ds) != 1 || ds[0].Action != scheduler.Dispatch {
			t.Fatalf("worker decisions for the free task = %+v", ds)
		}
	})
}
