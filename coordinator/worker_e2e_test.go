package coordinator_test

// End-to-end tests of the worker through the real binary: many tasks, many
// workers, one repository (red lines 8, 9 and 10), and a worker killed with
// SIGKILL in the middle of a run.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/lock"
	"github.com/agentos/agentos/sandbox"
	"github.com/agentos/agentos/sqlite"
	_ "modernc.org/sqlite" // the driver, to read the file beside the store
)

// agentosBin is the binary under test, built once by TestMain.
var agentosBin string

func TestMain(m *testing.M) {
	// In-process runs (the throughput benchmark) re-execute this binary as
	// the sandbox helper.
	if sandbox.IsHelper() {
		os.Exit(sandbox.HelperMain())
	}
	dir, err := os.MkdirTemp("", "agentos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentosBin = filepath.Join(dir, "agentos")
	// Audit keys the binary makes (the first commit of a store makes one)
	// go to this run's directory, not the user's ~/.config.
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	build := exec.Command("go", "build", "-o", agentosBin, "github.com/agentos/agentos/cmd/agentos")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building agentos:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const testPolicy = `version: 1
target: main
commands:
  allow: [grep, sleep, "true", test]
sandbox:
  require: true
`

// mustRepo makes a git repository with an initialised AgentOS and files.
func mustRepo(t *testing.T, policy string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("config", "user.name", "ann")
	git("config", "user.email", "ann@example.com")
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("add", ".")
	git("commit", "-q", "-m", "base")
	mustAgentos(t, dir, "init")
	if err := os.WriteFile(filepath.Join(dir, "agentos.yaml"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "agentos.yaml")
	git("commit", "-q", "-m", "policy")
	return dir
}

type result struct {
	stdout, stderr string
	code           int
}

func agentosRun(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(agentosBin, append([]string{"-C", dir}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("agentos %v: %v", args, err)
	}
	return r
}

func mustAgentos(t *testing.T, dir string, args ...string) result {
	t.Helper()
	r := agentosRun(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("agentos %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// submit writes a plan file outside the repository and submits it.
func submit(t *testing.T, dir, name, plan string) string {
	t.Helper()
	pf := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(pf, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustAgentos(t, dir, "submit", "--plan", pf, "--json")
	var v struct {
		ID    string        `json:"id"`
		State agentos.State `json:"state"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.ID == "" {
		t.Fatalf("submit %s: cannot read the task id from %q: %v", name, r.stdout, err)
	}
	if v.State != agentos.StateQueued {
		t.Fatalf("submit %s: state = %s, want queued", name, v.State)
	}
	return v.ID
}

func writePlan(goal, path, content string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ngoal: %q\nsteps:\n", goal)
	for _, e := range extra {
		b.WriteString(e)
	}
	fmt.Fprintf(&b, "  - write: {path: %q, content: %q}\n", path, content)
	fmt.Fprintf(&b, "verify:\n  - argv: [test, -f, %q]\n", path)
	return b.String()
}

func openDB(t *testing.T, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, ".agentos", "agentos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

// commitsByTask maps AgentOS-Task trailers of the commits on main since
// base to how many commits carry each.
func commitsByTask(t *testing.T, dir, base string) map[string]int {
	t.Helper()
	out := gitOut(t, dir, "log", "--format=%(trailers:key=AgentOS-Task,valueonly)%x00", base+"..main")
	m := map[string]int{}
	for _, s := range strings.Split(out, "\x00") {
		if s = strings.TrimSpace(s); s != "" {
			m[s]++
		}
	}
	return m
}

// assertInvariants checks what must hold after any set of runs: the audit
// chain verifies, no lock is left, and every committed task has exactly one
// traceable commit on main (and no other task has any).
// Every run, whoever started it (a worker or a foreground apply), has its
// audited dispatch (red line 10).
func assertInvariants(t *testing.T, dir, base string, db *sqlite.DB) map[string]*agentos.Task {
	t.Helper()
	if r := agentosRun(t, dir, "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	var locks struct {
		Locks []json.RawMessage `json:"locks"`
	}
	r := mustAgentos(t, dir, "lock", "list", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &locks); err != nil {
		t.Fatalf("lock list --json: %v\n%s", err, r.stdout)
	}
	if len(locks.Locks) != 0 {
		t.Fatalf("locks left held: %s", r.stdout)
	}
	tasks, err := db.Tasks(t.Context(), agentos.TaskFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*agentos.Task{}
	commits := commitsByTask(t, dir, base)
	for _, tk := range tasks {
		byID[tk.ID] = tk
		want := 0
		if tk.State == agentos.StateCommitted {
			want = 1
		}
		if commits[tk.ID] != want {
			t.Errorf("task %s (%s) has %d commits on main, want %d", tk.ID, tk.State, commits[tk.ID], want)
		}
	}
	for id := range commits {
		if byID[id] == nil {
			t.Errorf("commit for unknown task %s on main", id)
		}
	}
	// Every run ended with a ReviewPack (red line 5) and every dispatch was
	// audited with its rule and the rules' hash (red line 10).
	for _, tk := range tasks {
		evs, err := db.Events(t.Context(), agentos.EventFilter{Task: tk.ID})
		if err != nil {
			t.Fatal(err)
		}
		dispatches := 0
		for _, e := range evs {
			if e.Kind != "scheduler.dispatch" {
				continue
			}
			dispatches++
			var d struct {
				RuleID    string `json:"rule_id"`
				RulesHash string `json:"rules_hash"`
				Lease     string `json:"lease"`
			}
			if err := json.Unmarshal(e.Data, &d); err != nil || d.RuleID == "" || !strings.HasPrefix(d.RulesHash, "sha256:") || d.Lease == "" {
				t.Errorf("task %s: dispatch event %d = %s, want rule id, rules hash and lease", tk.ID, e.Seq, e.Data)
			}
		}
		runs, err := db.RunsOf(t.Context(), tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		if dispatches < len(runs) {
			t.Errorf("task %s: %d runs but %d audited dispatches", tk.ID, len(runs), dispatches)
		}
	}
	return byID
}

// TestWorkerStress: 20 tasks, 4 workers, one repository. Ten write disjoint
// files, five change different hunks of one shared file, five change the
// same line of it. Every non-conflicting change lands; of the same-line
// tasks one lands and the others are blocked with the conflict as reason.
func TestWorkerStress(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf("line %02d", i))
	}
	shared := strings.Join(lines, "\n") + "\n"
	dir := mustRepo(t, testPolicy, map[string]string{"shared.txt": shared, "README": "base\n"})
	base := gitOut(t, dir, "rev-parse", "main")

	withLine := func(i int, s string) string {
		l := slices.Clone(lines)
		l[i] = s
		return strings.Join(l, "\n") + "\n"
	}
	var disjoint, hunks, same []string
	for i := range 20 {
		switch {
		case i%4 == 1 && len(hunks) < 5:
			n := len(hunks)
			hunks = append(hunks, submit(t, dir, fmt.Sprint("hunk", n), writePlan(fmt.Sprint("hunk ", n), "shared.txt", withLine(1+6*n, fmt.Sprintf("hunk %d was here", n)))))
		case i%4 == 3 && len(same) < 5:
			n := len(same)
			same = append(same, submit(t, dir, fmt.Sprint("same", n), writePlan(fmt.Sprint("same line ", n), "shared.txt", withLine(29, fmt.Sprintf("same line by %d", n)))))
		default:
			n := len(disjoint)
			disjoint = append(disjoint, submit(t, dir, fmt.Sprint("disjoint", n), writePlan(fmt.Sprint("disjoint ", n), fmt.Sprintf("d%02d.txt", n), fmt.Sprintf("disjoint %d\n", n))))
		}
	}
	if len(disjoint) != 10 || len(hunks) != 5 || len(same) != 5 {
		t.Fatalf("submitted %d disjoint, %d hunk, %d same-line tasks", len(disjoint), len(hunks), len(same))
	}

	r := mustAgentos(t, dir, "worker", "--workers", "4", "--until-idle")
	t.Logf("worker:\n%s", r.stderr)

	db := openDB(t, dir)
	byID := assertInvariants(t, dir, base, db)
	for _, id := range append(slices.Clone(disjoint), hunks...) {
		if s := byID[id].State; s != agentos.StateCommitted {
			t.Errorf("task %s is %s (%s), want committed", id, s, byID[id].Reason)
		}
	}
	var winners []string
	for _, id := range same {
		switch tk := byID[id]; tk.State {
		case agentos.StateCommitted:
			winners = append(winners, id)
		case agentos.StateBlocked, agentos.StatePlanning:
			if !strings.Contains(tk.Reason, "conflicts in shared.txt") {
				t.Errorf("task %s is %s with reason %q, want the conflict named", id, tk.State, tk.Reason)
			}
			qp, err := db.LatestQuestionPack(t.Context(), id)
			if err != nil || len(qp.Questions) != 1 || !strings.Contains(qp.Questions[0].Why, "<<<<<<<") {
				t.Errorf("task %s: QuestionPack %+v (%v), want the conflicting hunks", id, qp, err)
			}
		default:
			t.Errorf("task %s is %s (%s), want committed, blocked or planning", id, tk.State, tk.Reason)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d same-line tasks landed (%v), want exactly 1", len(winners), winners)
	}

	// The shared file holds every hunk and the one same-line winner: no
	// lost update.
	b, err := os.ReadFile(filepath.Join(dir, "shared.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for n := range 5 {
		if want := fmt.Sprintf("hunk %d was here", n); got[1+6*n] != want {
			t.Errorf("shared.txt line %d = %q, want %q", 1+6*n, got[1+6*n], want)
		}
	}
	winnerN := slices.Index(same, winners[0])
	if want := fmt.Sprintf("same line by %d", winnerN); got[29] != want {
		t.Errorf("shared.txt line 29 = %q, want %q (the task that landed)", got[29], want)
	}
	for n := range 10 {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("d%02d.txt", n))); err != nil {
			t.Errorf("d%02d.txt is not on main: %v", n, err)
		}
	}
	if n := len(commitsByTask(t, dir, base)); n != 16 {
		t.Errorf("%d tasks landed, want 16", n)
	}
}

// TestWorkerSchedulerRules: a held task stays queued and `scheduler explain`
// names the rule and the rules' hash from the audit log; priorities and a
// serialize key decide the order.
func TestWorkerSchedulerRules(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	policy := testPolicy + `scheduler:
  rules:
    - {id: freeze, when: "'freeze' in task.labels", effect: hold, reason: "release freeze until Monday"}
    - {id: urgent, when: "'urgent' in task.labels", effect: priority, priority: 5}
    - {id: one-at-a-time, effect: serialize, key: all}
`
	dir := mustRepo(t, policy, map[string]string{"README": "base\n"})
	base := gitOut(t, dir, "rev-parse", "main")
	frozen := submit(t, dir, "frozen", writePlan("frozen", "frozen.txt", "x\n", "")+"labels: [freeze]\n")
	normal := submit(t, dir, "normal", writePlan("normal", "normal.txt", "n\n"))
	urgent := submit(t, dir, "urgent", writePlan("urgent", "urgent.txt", "u\n")+"labels: [urgent]\n")

	mustAgentos(t, dir, "worker", "--workers", "4", "--until-idle")
	db := openDB(t, dir)
	byID := assertInvariants(t, dir, base, db)
	if byID[frozen].State != agentos.StateQueued || byID[normal].State != agentos.StateCommitted || byID[urgent].State != agentos.StateCommitted {
		t.Fatalf("states: frozen %s, normal %s, urgent %s; want queued, committed, committed", byID[frozen].State, byID[normal].State, byID[urgent].State)
	}
	// serialize: one at a time, so the urgent task (priority 5) landed first.
	order := strings.Fields(gitOut(t, dir, "log", "--reverse", "--format=%(trailers:key=AgentOS-Task,valueonly)", base+"..main"))
	if !slices.Equal(order, []string{urgent, normal}) {
		t.Errorf("landing order = %v, want [%s %s] (priority first, one at a time)", order, urgent, normal)
	}

	var doc struct {
		State agentos.State `json:"state"`
		Last  struct {
			Kind     string `json:"kind"`
			Decision struct {
				Action    string   `json:"action"`
				RuleID    string   `json:"rule_id"`
				RulesHash string   `json:"rules_hash"`
				Reason    string   `json:"reason"`
				Matched   []string `json:"matched"`
			} `json:"decision"`
		} `json:"last"`
		RulesHash    string `json:"rules_hash"`
		RulesChanged bool   `json:"rules_changed"`
		History      []any  `json:"history"`
	}
	r := mustAgentos(t, dir, "scheduler", "explain", frozen, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	d := doc.Last.Decision
	if doc.Last.Kind != "scheduler.hold" || d.Action != "hold" || d.RuleID != "freeze" || d.Reason != "release freeze until Monday" ||
		d.RulesHash != doc.RulesHash || doc.RulesChanged || !slices.Contains(d.Matched, "one-at-a-time") {
		t.Fatalf("explain = %s", r.stdout)
	}
	// A second pass re-evaluates the hold but audits it only once.
	mustAgentos(t, dir, "worker", "--until-idle")
	r = mustAgentos(t, dir, "scheduler", "explain", frozen, "--json")
	var again struct {
		History []any `json:"history"`
	}
	json.Unmarshal([]byte(r.stdout), &again)
	if len(again.History) != len(doc.History) {
		t.Errorf("history grew from %d to %d events for an unchanged hold", len(doc.History), len(again.History))
	}
	text := mustAgentos(t, dir, "scheduler", "explain", frozen).stdout
	if !strings.Contains(text, "held by rule freeze") || !strings.Contains(text, doc.RulesHash) {
		t.Errorf("explain text does not name the rule and the hash:\n%s", text)
	}
}

// TestWorkerKill9: a worker killed with SIGKILL while a task is applying
// leaves the target branch untouched and its leases behind; a second worker
// waits for them to expire, takes the task over (audited) and lands it once.
func TestWorkerKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := mustRepo(t, testPolicy, map[string]string{"README": "base\n"})
	base := gitOut(t, dir, "rev-parse", "main")
	slow := submit(t, dir, "slow", writePlan("slow", "slow.txt", "slow\n", "  - exec: {argv: [sleep, \"3\"]}\n"))
	fast := submit(t, dir, "fast", writePlan("fast", "fast.txt", "fast\n"))
	db := openDB(t, dir)

	w1 := exec.Command(agentosBin, "-C", dir, "worker", "--workers", "1", "--lease", "2s", "--poll", "50ms")
	var w1err bytes.Buffer
	w1.Stderr = &w1err
	if err := w1.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			w1.Process.Kill()
			w1.Wait()
		}
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		tk, err := db.Task(t.Context(), slow)
		if err != nil {
			t.Fatal(err)
		}
		if tk.State == agentos.StateApplying {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s never reached applying (%s); worker said:\n%s", slow, tk.State, w1err.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := w1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w1.Wait()
	killed = true

	if head := gitOut(t, dir, "rev-parse", "main"); head != base {
		t.Fatalf("main moved to %s while the killed run was applying", head)
	}
	if r := mustAgentos(t, dir, "lock", "list"); !strings.Contains(r.stdout, "task:"+slow) {
		t.Fatalf("the killed worker's lease is gone already:\n%s", r.stdout)
	}

	w2 := mustAgentos(t, dir, "worker", "--workers", "2", "--until-idle", "--lease", "2s", "--poll", "50ms")
	t.Logf("second worker:\n%s", w2.stderr)
	byID := assertInvariants(t, dir, base, db)
	for _, id := range []string{slow, fast} {
		if byID[id].State != agentos.StateCommitted {
			t.Errorf("task %s is %s (%s), want committed", id, byID[id].State, byID[id].Reason)
		}
	}
	evs, err := db.Events(context.Background(), agentos.EventFilter{Task: slow})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	for _, want := range []string{"lock.takeover", "scheduler.takeover"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("no %s event for %s; events: %v", want, slow, kinds)
		}
	}
	runs, err := db.RunsOf(t.Context(), slow)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("task %s has %d runs, want 2 (the killed one and the takeover)", slow, len(runs))
	}
	// The store has no per-run count of ReviewPacks: read the file itself.
	raw, err := sql.Open("sqlite", "file:"+db.Path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, id := range runs {
		run, err := db.Run(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if run.EndedAt.IsZero() || run.Outcome == "" {
			t.Errorf("run %s was not closed: %+v", id, run)
		}
		var n int
		if err := raw.QueryRowContext(t.Context(), `SELECT count(*) FROM reviews WHERE task = ? AND run = ?`, slow, id).Scan(&n); err != nil || n != 1 {
			t.Errorf("run %s has %d ReviewPacks (%v), want 1", id, n, err)
		}
	}
}

// TestApplyWithoutLocksRefused: a direct `agentos apply` (no worker) of a
// task whose file another holder has locked is skipped by the scheduler's
// built-in file-lock rule, writes nothing and stays queued (exit 5); and a
// run whose lease is force-released mid-apply has its next write refused at
// the executor's choke point (red line 9).
func TestApplyWithoutLocksRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := mustRepo(t, testPolicy, map[string]string{"README": "base\n"})
	base := gitOut(t, dir, "rev-parse", "main")
	db := openDB(t, dir)

	t.Run("FileLockedByAnother", func(t *testing.T) {
		id := submit(t, dir, "locked", writePlan("locked", "x.txt", "x\n"))
		h, err := lock.New(db, time.Now).Acquire(t.Context(), "someone-else", []string{lock.FileKey("main", "x.txt")}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		r := agentosRun(t, dir, "apply", id)
		if r.code != 5 || !strings.Contains(r.stderr, "builtin.file-lock: file:main:x.txt is locked by someone-else") {
			t.Fatalf("apply with x.txt locked: exit %d, stderr %q; want exit 5 (waiting) naming the rule and the holder", r.code, r.stderr)
		}
		tk, _ := db.Task(t.Context(), id)
		if tk.State != agentos.StateQueued {
			t.Fatalf("state = %s, want queued (nothing was written)", tk.State)
		}
		if _, err := os.Stat(filepath.Join(dir, ".agentos", "worktrees", id, "x.txt")); err == nil {
			t.Fatal("x.txt was written without its lock")
		}
		if err := h.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
		mustAgentos(t, dir, "apply", id)
	})

	t.Run("LeaseLostMidRun", func(t *testing.T) {
		id := submit(t, dir, "lost", writePlan("lost", "y.txt", "y\n", "  - exec: {argv: [sleep, \"2\"]}\n"))
		cmd := exec.Command(agentosBin, "-C", dir, "apply", id)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		m := lock.New(db, time.Now)
		var leaseID string
		deadline := time.Now().Add(time.Minute)
		for leaseID == "" {
			if l, err := m.Holder(t.Context(), lock.TaskKey(id)); err == nil && l != nil {
				leaseID = l.ID
			} else if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("apply never took its locks: %s", stderr.String())
			} else {
				time.Sleep(10 * time.Millisecond)
			}
		}
		// The lease is taken at dispatch, before the run checks it and
		// starts its first step: released in between, the run stops on
		// the lost lease before any write. The release that tests the
		// write's choke point comes once the step before the write runs.
		waitForDescendant(t, cmd.Process.Pid, "sleep", &stderr)
		mustAgentos(t, dir, "lock", "release", leaseID, "--force", "--reason", "test: the holder is presumed dead")
		err := cmd.Wait()
		if err == nil || !strings.Contains(stderr.String(), "red line 9") {
			t.Fatalf("apply after its lease was released: err %v, stderr %q; want the write refused (red line 9)", err, stderr.String())
		}
		tk, _ := db.Task(t.Context(), id)
		if tk.State != agentos.StateFailed {
			t.Fatalf("state = %s, want failed", tk.State)
		}
		evs, _ := db.Events(t.Context(), agentos.EventFilter{Task: id, Kind: lock.EventForceRelease})
		// The person is the OS user who ran `lock release` (not git's user.name).
		me, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || !strings.Contains(string(evs[0].Data), "presumed dead") || evs[0].Actor != agentos.Human(me.Username) {
			t.Fatalf("force-release events = %+v, want one by human:%s with the reason", evs, me.Username)
		}
	})
	if got := commitsByTask(t, dir, base); len(got) != 1 {
		t.Fatalf("commits on main by task: %v, want only the one applied after its lock was free", got)
	}
	assertInvariants(t, dir, base, db)
}

// TestWorkerSIGTERM: on SIGTERM a worker stops dispatching, lets the running
// task finish, releases its locks and exits 0; the queue keeps the rest.
func TestWorkerSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := mustRepo(t, testPolicy, map[string]string{"README": "base\n"})
	base := gitOut(t, dir, "rev-parse", "main")
	slow := submit(t, dir, "slow", writePlan("slow", "slow.txt", "slow\n", "  - exec: {argv: [sleep, \"2\"]}\n"))
	next := submit(t, dir, "next", writePlan("next", "next.txt", "next\n"))
	db := openDB(t, dir)

	w := exec.Command(agentosBin, "-C", dir, "worker", "--workers", "1", "--poll", "50ms")
	var werr bytes.Buffer
	w.Stderr = &werr
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Process.Kill()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		tk, err := db.Task(t.Context(), slow)
		if err != nil {
			t.Fatal(err)
		}
		if tk.State == agentos.StateApplying {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s never reached applying (%s):\n%s", slow, tk.State, werr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := w.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(); err != nil {
		t.Fatalf("worker after SIGTERM: %v\n%s", err, werr.String())
	}
	byID := assertInvariants(t, dir, base, db)
	if byID[slow].State != agentos.StateCommitted || byID[next].State != agentos.StateQueued {
		t.Fatalf("after SIGTERM: %s is %s (want committed), %s is %s (want queued)\n%s", slow, byID[slow].State, next, byID[next].State, werr.String())
	}
}

// TestLockAndWorkerUsage: forced releases need --force and a reason and a
// known lock id; bad worker flags are usage errors (exit 2).
func TestLockAndWorkerUsage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := mustRepo(t, testPolicy, map[string]string{"README": "base\n"})
	db := openDB(t, dir)
	h, err := lock.New(db, time.Now).Acquire(t.Context(), "w1", []string{lock.IntegrationKey("main")}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"lock", "release", h.Lease.ID}, 2, "--force"},
		{[]string{"lock", "release", h.Lease.ID, "--force"}, 2, "--reason"},
		{[]string{"lock", "release", "lk_unknown", "--force", "--reason", "gone"}, 2, "no lock lk_unknown"},
		{[]string{"lock", "release"}, 2, "usage"},
		{[]string{"lock", "list", "extra"}, 2, "no arguments"},
		{[]string{"worker", "--workers", "0"}, 2, "--workers"},
		{[]string{"worker", "--lease", "10ms"}, 2, "--lease"},
		{[]string{"scheduler", "explain", "tnope"}, 2, ""},
	} {
		r := agentosRun(t, dir, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("agentos %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
	out := mustAgentos(t, dir, "lock", "list").stdout
	if !strings.Contains(out, h.Lease.ID) || !strings.Contains(out, "integrate:main") || !strings.Contains(out, "held") {
		t.Fatalf("lock list:\n%s", out)
	}
	mustAgentos(t, dir, "lock", "release", h.Lease.ID, "--force", "--reason", "test")
	if r := mustAgentos(t, dir, "lock", "list", "--json"); strings.Contains(r.stdout, h.Lease.ID) {
		t.Fatalf("lock %s still listed after release:\n%s", h.Lease.ID, r.stdout)
	}
}

// TestTwoWorkerProcesses: two worker processes on one queue dispatch every
// task exactly once.
func TestTwoWorkerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := mustRepo(t, testPolicy, map[string]string{"README": "base\n"})
	base := gitOut(t, dir, "rev-parse", "main")
	var ids []string
	for i := range 10 {
		ids = append(ids, submit(t, dir, fmt.Sprint("t", i), writePlan(fmt.Sprint("task ", i), fmt.Sprintf("t%d.txt", i), "x\n")))
	}
	var cmds []*exec.Cmd
	var errs [2]bytes.Buffer
	for i := range 2 {
		cmd := exec.Command(agentosBin, "-C", dir, "worker", "--workers", "2", "--until-idle", "--poll", "20ms")
		cmd.Stderr = &errs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, errs[i].String())
		}
	}
	db := openDB(t, dir)
	byID := assertInvariants(t, dir, base, db)
	for _, id := range ids {
		if byID[id].State != agentos.StateCommitted {
			t.Errorf("task %s is %s (%s)", id, byID[id].State, byID[id].Reason)
		}
		evs, _ := db.Events(t.Context(), agentos.EventFilter{Task: id, Kind: "scheduler.dispatch"})
		if len(evs) != 1 {
			t.Errorf("task %s was dispatched %d times", id, len(evs))
		}
	}
	t.Logf("worker 1:\n%sworker 2:\n%s", errs[0].String(), errs[1].String())
}

// waitForDescendant waits until a process named comm runs below pid (the
// sandboxed step of a run: its pid namespace is still visible from here).
func waitForDescendant(t *testing.T, pid int, comm string, stderr *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			var p int
			if _, err := fmt.Sscan(e.Name(), &p); err != nil {
				continue
			}
			if c, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); err != nil || strings.TrimSpace(string(c)) != comm {
				continue
			}
			for q, hops := p, 0; q > 1 && hops < 32; hops++ {
				st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", q))
				if err != nil {
					break
				}
				// The parent is the second field after the command's closing parenthesis.
				f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
				if len(f) < 2 {
					break
				}
				if _, err := fmt.Sscan(f[1], &q); err != nil {
					break
				}
				if q == pid {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s below process %d after a minute: %s", comm, pid, stderr.String())
}
