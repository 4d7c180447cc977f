package coordinator_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/gitrepo"
	"github.com/agentos/agentos/lock"
	"github.com/agentos/agentos/scheduler"
	"github.com/agentos/agentos/sqlite"
)

// BenchmarkWorkerThroughput: 100 disjoint one-file tasks (a write and a
// sandboxed verify check each) run to completion by 1, 2 and 4 workers in
// one process. Reports tasks/s; compare the sub-benchmarks for the scaling
// ratio. Run with -benchtime=1x: one iteration is 100 full runs.
//
// step=write is CPU-bound (git, the sandbox helper, SQLite), so it scales
// with free cores at best; step=sleep adds a 200ms wait to every task (a
// stand-in for a build or a test run) and shows what the dispatch loop and
// the locks serialise when the cores are not the limit.
func BenchmarkWorkerThroughput(b *testing.B) {
	const tasks = 100
	for _, step := range []struct{ name, extra string }{
		{"write", ""},
		{"sleep", "  - exec: {argv: [sleep, \"0.2\"]}\n"},
	} {
		for _, workers := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("step=%s/workers=%d", step.name, workers), func(b *testing.B) {
				benchWork(b, tasks, workers, step.extra)
			})
		}
	}
}

func benchWork(b *testing.B, tasks, workers int, extra string) {
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		c := mustQueued(b, tasks, extra)
		b.StartTimer()
		start := time.Now()
		st, err := c.Work(b.Context(), coordinator.WorkerOptions{Workers: workers, UntilIdle: true})
		total += time.Since(start)
		b.StopTimer()
		if err != nil || st.Committed != tasks {
			b.Fatalf("Work = %+v, %v; want %d committed", st, err, tasks)
		}
		c.DB.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(tasks*b.N)/total.Seconds(), "tasks/s")
}

// TestWorkInProcess runs Work in this process (so -race sees the dispatch
// loop, the workers and the keep-alives together): 12 one-file tasks, 4
// workers, every task lands.
func TestWorkInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs git and the sandbox")
	}
	c := mustQueued(t, 12, "")
	defer c.DB.Close()
	st, err := c.Work(t.Context(), coordinator.WorkerOptions{Workers: 4, UntilIdle: true, LeaseTTL: 3 * time.Second, Poll: 20 * time.Millisecond})
	if err != nil || st.Committed != 12 || st.Dispatched != 12 {
		t.Fatalf("Work = %+v, %v; want 12 dispatched and committed", st, err)
	}
	if ls, err := c.DB.Leases(t.Context(), time.Now(), false); err != nil || len(ls) != 0 {
		t.Fatalf("%d leases left (%v), want 0", len(ls), err)
	}
	if _, err := c.DB.VerifyChain(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// mustQueued makes a repository with n queued one-file tasks and returns its
// coordinator.
func mustQueued(b testing.TB, n int, extra string) *coordinator.Coordinator {
	b.Helper()
	dir := b.TempDir()
	run := func(args ...string) {
		b.Helper()
		if _, err := gitrepo.GitIn(b.Context(), dir, nil, args...); err != nil {
			b.Fatalf("git %v: %v", args, err)
		}
	}
	run("init", "-q", "-b", "main")
	run("config", "user.name", "bench")
	run("config", "user.email", "bench@example.com")
	for name, content := range map[string]string{"README": "base\n", "agentos.yaml": testPolicy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	run("add", ".")
	run("commit", "-q", "-m", "base")
	if err := os.MkdirAll(filepath.Join(dir, ".agentos"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".git", "info", "exclude"), []byte(".agentos/\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	db, err := sqlite.Create(b.Context(), filepath.Join(dir, ".agentos", "agentos.db"))
	if err != nil {
		b.Fatal(err)
	}
	repo, err := gitrepo.Open(b.Context(), dir)
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		b.Fatal(err)
	}
	c := coordinator.New(db, repo, cfg)
	plans := b.TempDir()
	for i := range n {
		pf := filepath.Join(plans, fmt.Sprintf("p%03d.yaml", i))
		if err := os.WriteFile(pf, []byte(writePlan(fmt.Sprint("file ", i), fmt.Sprintf("f%03d.txt", i), fmt.Sprintf("%d\n", i), extra)), 0o644); err != nil {
			b.Fatal(err)
		}
		tk, err := c.PlanFile(b.Context(), coordinator.PlanRequest{File: pf, Actor: agentos.Human("bench")})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Gate(b.Context(), tk, agentos.Human("bench")); err != nil || tk.State != agentos.StateQueued {
			b.Fatalf("Gate = %v (%s)", err, tk.State)
		}
	}
	return c
}

// TestTakeoverRecoversLandedRun: a runner that died after its integration
// moved the target branch (a CAS) but before it recorded the commit leaves
// the task in verifying; the next worker finds the run's commit on the
// target and records the task committed instead of running it again.
func TestTakeoverRecoversLandedRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs git")
	}
	c := mustQueued(t, 1, "")
	defer c.DB.Close()
	ctx := t.Context()
	tasks, err := c.DB.Tasks(ctx, agentos.TaskFilter{State: agentos.StateQueued})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("Tasks = %v, %v", tasks, err)
	}
	tk := tasks[0]
	// The dead runner: its lease (expired an hour ago), its run, and its
	// commit on main.
	past := func() time.Time { return time.Now().Add(-time.Hour) }
	if _, err := lock.New(c.DB, past).Acquire(ctx, "worker:dead", []string{lock.TaskKey(tk.ID), lock.FileKey("main", "f000.txt")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	run := &agentos.Run{ID: "rdead", Task: tk.ID, PlanHash: tk.PlanHash}
	if err := c.DB.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DB.Transition(ctx, tk.ID, agentos.StateQueued, agentos.StateApplying, agentos.System, agentos.TaskUpdate{RunID: &run.ID}, agentos.TransitionDetail{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DB.Transition(ctx, tk.ID, agentos.StateApplying, agentos.StateVerifying, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{}); err != nil {
		t.Fatal(err)
	}
	head, _ := c.Repo.BranchHead(ctx, "main")
	tree, err := gitrepo.GitIn(ctx, c.Repo.Dir(), nil, "rev-parse", head+"^{tree}")
	if err != nil {
		t.Fatal(err)
	}
	msg := agentos.CommitMessage("file 0", "", map[string]string{agentos.TrailerTask: tk.ID, agentos.TrailerRun: run.ID})
	sha, err := gitrepo.GitIn(ctx, c.Repo.Dir(), nil, "commit-tree", strings.TrimSpace(tree), "-p", head, "-m", msg)
	if err != nil {
		t.Fatal(err)
	}
	sha = strings.TrimSpace(sha)
	if err := c.Repo.UpdateRef(ctx, "main", sha, head, "test"); err != nil {
		t.Fatal(err)
	}

	st, err := c.Work(ctx, coordinator.WorkerOptions{Workers: 2, UntilIdle: true, LeaseTTL: time.Minute, Poll: 20 * time.Millisecond})
	if err != nil || st.TakenOver != 1 || st.Dispatched != 0 {
		t.Fatalf("Work = %+v, %v; want one takeover and no new run", st, err)
	}
	got, err := c.DB.Task(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != agentos.StateCommitted || got.Commit != sha {
		t.Fatalf("task = %s at %q, want committed at %s", got.State, got.Commit, sha)
	}
	if now, _ := c.Repo.BranchHead(ctx, "main"); now != sha {
		t.Fatalf("main moved on to %s: the landed run was applied again", now)
	}
	r, err := c.DB.Run(ctx, run.ID)
	if err != nil || r.EndedAt.IsZero() || r.Outcome != agentos.StateCommitted {
		t.Fatalf("dead run = %+v, %v; want closed as committed", r, err)
	}
	var kinds []string
	evs, _ := c.DB.Events(ctx, agentos.EventFilter{Task: tk.ID})
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	for _, want := range []string{lock.EventTakeover, "scheduler.takeover", agentos.EventIntegrated} {
		if !slices.Contains(kinds, want) {
			t.Errorf("no %s event; events: %v", want, kinds)
		}
	}
}

// TestWorkerReloadsPolicy: a running worker picks up a committed agentos.yaml,
// so tasks planned under the new policy run (their plans pin its hash) and
// its scheduler rules decide, naming the new rules hash.
func TestWorkerReloadsPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs git and the sandbox")
	}
	c := mustQueued(t, 0, "")
	defer c.DB.Close()
	repo := c.Repo.(*gitrepo.Repo)
	c.PolicyAt = func(ctx context.Context, commit string) (*config.Config, error) {
		cfg, _, err := config.AtCommit(ctx, repo.FileAt, commit, func() (*config.Config, error) { return nil, errors.New("no policy committed") })
		return cfg, err
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Work(ctx, coordinator.WorkerOptions{Workers: 2, Poll: 20 * time.Millisecond})
		done <- err
	}()

	policy := testPolicy + "scheduler:\n  rules:\n    - {id: freeze, when: \"'freeze' in task.labels\", effect: hold}\n"
	if err := os.WriteFile(filepath.Join(c.Repo.Dir(), config.FileName), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	// Only the committed policy counts.
	if _, err := repo.Git(ctx, "commit", "-q", "-m", "freeze rule", "--", config.FileName); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(c.Repo.Dir(), config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	planner := coordinator.New(c.DB, c.Repo, cfg)
	var ids []string
	for i, labels := range [][]string{nil, {"freeze"}} {
		pf := filepath.Join(t.TempDir(), "p.yaml")
		os.WriteFile(pf, []byte(writePlan(fmt.Sprint("new policy ", i), fmt.Sprintf("n%d.txt", i), "n\n")), 0o644)
		tk, err := planner.PlanFile(ctx, coordinator.PlanRequest{File: pf, Actor: agentos.Human("ann"), Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		if err := planner.Gate(ctx, tk, agentos.Human("ann")); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		tk, err := c.DB.Task(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if tk.State == agentos.StateCommitted {
			break
		}
		if tk.State.Terminal() || time.Now().After(deadline) {
			t.Fatalf("task %s planned under the new policy is %s (%s), want committed", tk.ID, tk.State, tk.Reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
	evs, err := c.DB.Events(ctx, agentos.EventFilter{Task: ids[1], Kind: "scheduler.hold"})
	if err != nil {
		t.Fatal(err)
	}
	want := scheduler.Hash(cfg.Scheduler.Rules)
	if len(evs) != 1 || !strings.Contains(string(evs[0].Data), want) || !strings.Contains(string(evs[0].Data), `"rule_id":"freeze"`) {
		t.Fatalf("hold events of %s = %v, want one by rule freeze under %s", ids[1], evs, want)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
