package coordinator_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentos/agentos"
)

// TestWorkerMaxAttempts: a task whose runner dies on every run is re-queued
// only until it has had scheduler.max_attempts runs; the next worker ends
// it failed, with every attempt in its ReviewPack, the target untouched and
// no lease left.
func TestWorkerMaxAttempts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := mustRepo(t, testPolicy+"scheduler:\n  max_attempts: 2\n", map[string]string{"README": "base\n"})
	base := gitOut(t, dir, "rev-parse", "main")
	slow := submit(t, dir, "slow", writePlan("slow", "slow.txt", "slow\n", "  - exec: {argv: [sleep, \"600\"]}\n"))
	db := openDB(t, dir)

	// Two runs, each runner killed with SIGKILL while the task applies.
	for attempt := 1; attempt <= 2; attempt++ {
		w := exec.Command(agentosBin, "-C", dir, "worker", "--workers", "1", "--lease", "1s", "--poll", "50ms")
		var werr strings.Builder
		w.Stderr = &werr
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			tk, err := db.Task(t.Context(), slow)
			if err != nil {
				t.Fatal(err)
			}
			runs, _ := db.RunsOf(t.Context(), slow)
			if tk.State == agentos.StateApplying && len(runs) == attempt {
				break
			}
			if time.Now().After(deadline) {
				w.Process.Kill()
				w.Wait()
				t.Fatalf("attempt %d never started (%s, %d runs); worker said:\n%s", attempt, tk.State, len(runs), werr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		w.Process.Signal(syscall.SIGKILL)
		w.Wait()
	}
	// The sandboxed sleep of each killed runner dies with it (its own pid
	// namespace), so no process of the task is left to wait for.

	r := mustAgentos(t, dir, "worker", "--until-idle", "--lease", "1s", "--poll", "50ms")
	tk, err := db.Task(t.Context(), slow)
	if err != nil {
		t.Fatal(err)
	}
	if tk.State != agentos.StateFailed || !strings.Contains(tk.Reason, "gave up after 2 attempts (scheduler.max_attempts 2)") {
		t.Fatalf("task is %s (%s), want failed after 2 attempts; worker said:\n%s", tk.State, tk.Reason, r.stderr)
	}
	runs, err := db.RunsOf(t.Context(), slow)
	if err != nil || len(runs) != 2 {
		t.Fatalf("task has %d runs (%v), want 2: the worker ran it again", len(runs), err)
	}
	if head := gitOut(t, dir, "rev-parse", "main"); head != base {
		t.Fatalf("main moved to %s", head)
	}
	// The ReviewPack of the last run, read from the file, lists both.
	b, err := os.ReadFile(filepath.Join(dir, ".agentos", "reviews", slow+"-"+runs[1]+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rp agentos.ReviewPack
	if err := json.Unmarshal(b, &rp); err != nil {
		t.Fatal(err)
	}
	if rp.Outcome != agentos.StateFailed || len(rp.Attempts) != 2 || rp.Attempts[0].ID != runs[0] || rp.Attempts[1].ID != runs[1] {
		t.Fatalf("ReviewPack: outcome %s, attempts %+v; want failed with runs %v", rp.Outcome, rp.Attempts, runs)
	}
	if l := mustAgentos(t, dir, "lock", "list", "--json"); strings.Contains(l.stdout, slow) {
		t.Fatalf("a lease of %s is left:\n%s", slow, l.stdout)
	}
	mustAgentos(t, dir, "audit", "verify")
}
