package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// Every way a run can stop ends it properly, judged from outside AgentOS:
// the exit status the shell sees, the process table (/proc), the lock rows
// and the target branch in git, plus the task's state and ReviewPack.

// sigRepo is a repository initialised for AgentOS whose policy lets plans
// run sleep and sh.
type sigRepo struct {
	t   *testing.T
	bin string
	dir string
	env []string
}

func newSigRepo(t *testing.T, env ...string) *sigRepo {
	t.Helper()
	bin, err := exec.LookPath("agentos")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	home := t.TempDir()
	r := &sigRepo{t: t, bin: bin, dir: dir, env: append(os.Environ(), append([]string{"HOME=" + home, "NO_COLOR=1",
		"GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@t", "GIT_CONFIG_NOSYSTEM=1"}, env...)...)}
	r.git("init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("signals\n"), 0o644)
	r.git("add", ".")
	r.git("commit", "-q", "-m", "initial")
	r.ok("init")
	pol := filepath.Join(dir, "agentos.yaml")
	b, err := os.ReadFile(pol)
	if err != nil {
		t.Fatal(err)
	}
	b2 := bytes.Replace(b, []byte("\n    - true\n"), []byte("\n    - true\n    - sleep\n    - sh\n"), 1)
	if bytes.Equal(b, b2) {
		t.Fatal("agentos init's policy has no `- true` command to extend")
	}
	os.WriteFile(pol, b2, 0o644)
	r.git("add", "agentos.yaml")
	r.git("commit", "-q", "-m", "policy")
	return r
}

func (r *sigRepo) git(args ...string) string {
	r.t.Helper()
	c := exec.Command("git", args...)
	c.Dir, c.Env = r.dir, r.env
	out, err := c.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *sigRepo) cmd(args ...string) *exec.Cmd {
	c := exec.Command(r.bin, append([]string{"-C", r.dir}, args...)...)
	c.Env = r.env
	return c
}

// run runs agentos and returns its combined output and exit code.
func (r *sigRepo) run(args ...string) (string, int) {
	r.t.Helper()
	out, err := r.cmd(args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		r.t.Fatalf("agentos %v: %v", args, err)
	}
	return string(out), 0
}

func (r *sigRepo) ok(args ...string) string {
	r.t.Helper()
	out, code := r.run(args...)
	if code != 0 {
		r.t.Fatalf("agentos %v exited %d:\n%s", args, code, out)
	}
	return out
}

func (r *sigRepo) plan(name, body string) string {
	p := filepath.Join(r.t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		r.t.Fatal(err)
	}
	return p
}

// start starts agentos in the background, its output in a buffer.
func (r *sigRepo) start(args ...string) (*exec.Cmd, *bytes.Buffer) {
	r.t.Helper()
	c := r.cmd(args...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		if c.ProcessState == nil {
			c.Process.Kill()
			c.Wait()
		}
	})
	return c, &out
}

func exitCode(c *exec.Cmd) int {
	err := c.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

type taskJSON struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	RunID  string `json:"run_id"`
}

func (r *sigRepo) tasks() []taskJSON {
	r.t.Helper()
	out, code := r.run("task", "list", "--json")
	if code != 0 {
		r.t.Fatalf("task list: %s", out)
	}
	var ts []taskJSON
	if err := json.Unmarshal([]byte(out), &ts); err != nil {
		r.t.Fatalf("task list --json: %v\n%s", err, out)
	}
	return ts
}

func (r *sigRepo) task(id string) taskJSON {
	r.t.Helper()
	out := r.ok("task", "show", id, "--json")
	var t taskJSON
	if err := json.Unmarshal([]byte(out), &t); err != nil {
		r.t.Fatalf("task show --json: %v\n%s", err, out)
	}
	return t
}

// poll retries cond until it holds; the bound only keeps a broken build
// from hanging the suite, it asserts nothing about time.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(90 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting for %s", what)
}

// running waits until a task is applying and the process whose argv is
// argv runs (the step's command, seen in /proc), and returns the task.
func (r *sigRepo) running(argv ...string) taskJSON {
	r.t.Helper()
	var t taskJSON
	poll(r.t, "a task applying "+strings.Join(argv, " "), func() bool {
		for _, x := range r.tasks() {
			if x.State == "applying" {
				t = x
			}
		}
		return t.ID != "" && len(procs(argv...)) > 0
	})
	return t
}

// procs returns the pids of processes whose argv is argv (argv[0] by its
// base name: the sandbox runs the resolved path).
func procs(argv ...string) []int {
	want := strings.Join(argv[1:], "\x00") + "\x00"
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		a0, rest, _ := strings.Cut(string(b), "\x00")
		if err == nil && filepath.Base(a0) == argv[0] && rest == want {
			out = append(out, pid)
		}
	}
	return out
}

// locks returns the lock rows of the store, read with SQL.
func (r *sigRepo) locks() []string {
	r.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(r.dir, ".agentos", "agentos.db"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT key || ' ' || owner FROM locks`)
	if err != nil {
		r.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

// ended checks what every stopped run must leave: the task in state with
// a ReviewPack saying so, no step process, no lock, the target and the
// user's tree untouched, the audit chain whole.
func (r *sigRepo) ended(id, state, head string, argv []string) taskJSON {
	r.t.Helper()
	t := r.task(id)
	if t.State != state {
		r.t.Fatalf("task %s is %s (%s), want %s", id, t.State, t.Reason, state)
	}
	if out := r.ok("review", id); !strings.Contains(out, "**Outcome:** "+state) {
		r.t.Fatalf("ReviewPack of %s does not say %s:\n%s", id, state, out)
	}
	if p := procs(argv...); len(p) > 0 {
		r.t.Fatalf("%s still runs (pids %v) after the run stopped", strings.Join(argv, " "), p)
	}
	if l := r.locks(); len(l) > 0 {
		r.t.Fatalf("locks left: %v", l)
	}
	if got := r.git("rev-parse", "main"); got != head {
		r.t.Fatalf("main moved from %s to %s", head, got)
	}
	if st := r.git("status", "--porcelain", "--untracked-files=no"); st != "" {
		r.t.Fatalf("the user's tree changed:\n%s", st)
	}
	r.ok("audit", "verify")
	return t
}

func slowPlan(marker string) string {
	return fmt.Sprintf(`version: 1
goal: slow
steps:
  - write: {path: a.txt, content: "a\n"}
  - exec: {argv: [sleep, "%s"]}
  - write: {path: b.txt, content: "b\n"}
verify:
  - argv: [test, -f, b.txt]
`, marker)
}

// TestSignalEndsRun: SIGINT, SIGTERM and SIGHUP to `agentos run` end its
// task cancelled with a ReviewPack, exit 128+signal, kill the step's
// command, release the locks, leave the target untouched and audit the
// signal.
func TestSignalEndsRun(t *testing.T) {
	for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM", syscall.SIGHUP: "SIGHUP"}[sig]
		t.Run(name, func(t *testing.T) {
			r := newSigRepo(t)
			head := r.git("rev-parse", "main")
			marker := fmt.Sprintf("%d.%d", 3000+i, os.Getpid()%1000)
			c, out := r.start("run", "--plan", r.plan("slow.yaml", slowPlan(marker)))
			task := r.running("sleep", marker)
			c.Process.Signal(sig)
			if code := exitCode(c); code != 128+int(sig) {
				t.Fatalf("exit %d, want %d:\n%s", code, 128+int(sig), out)
			}
			if !strings.Contains(out.String(), "interrupted by "+name) {
				t.Fatalf("the message does not say why:\n%s", out)
			}
			got := r.ended(task.ID, "cancelled", head, []string{"sleep", marker})
			if got.Reason != "interrupted by "+name {
				t.Fatalf("reason %q", got.Reason)
			}
			log := r.ok("audit", "log", "--task", task.ID, "--kind", "task.transition")
			if !strings.Contains(log, `"signal":"`+name+`"`) || !strings.Contains(log, `"to":"cancelled"`) {
				t.Fatalf("the audit does not record the signal:\n%s", log)
			}
			// The worktree is kept for inspection.
			if _, err := os.Stat(filepath.Join(r.dir, ".agentos", "worktrees", task.ID)); err != nil {
				t.Fatalf("worktree of the stopped run: %v", err)
			}
		})
	}
}

// TestCancelDeadRun: after `kill -9` of the run, `task cancel` waits for
// the dead lease to expire and ends the task cancelled, audited; a worker
// started afterwards does not run it again.
func TestCancelDeadRun(t *testing.T) {
	r := newSigRepo(t, "AGENTOS_LEASE=2s")
	head := r.git("rev-parse", "main")
	marker := fmt.Sprintf("3101.%d", os.Getpid()%1000)
	c, _ := r.start("run", "--plan", r.plan("slow.yaml", slowPlan(marker)))
	task := r.running("sleep", marker)
	c.Process.Kill()
	c.Wait()
	// The sandbox dies with its parent.
	poll(t, "the step's command to die with agentos", func() bool { return len(procs("sleep", marker)) == 0 })
	out := r.ok("task", "cancel", task.ID, "--reason", "terminal closed")
	if !strings.Contains(out, "cancelled") {
		t.Fatalf("task cancel:\n%s", out)
	}
	got := r.ended(task.ID, "cancelled", head, []string{"sleep", marker})
	if !strings.Contains(got.Reason, "terminal closed") || !strings.Contains(got.Reason, "stopped renewing lease") {
		t.Fatalf("reason %q does not say who and why", got.Reason)
	}
	log := r.ok("audit", "log", "--task", task.ID)
	if !strings.Contains(log, "lock.takeover") {
		t.Fatalf("the takeover of the dead lease is not audited:\n%s", log)
	}
	r.ok("worker", "--until-idle")
	if st := r.task(task.ID).State; st != "cancelled" {
		t.Fatalf("a worker moved the cancelled task to %s", st)
	}
	if got := r.git("rev-parse", "main"); got != head {
		t.Fatal("a worker committed a cancelled task")
	}
}

// TestCancelLiveRun: `task cancel` from another process stops a live run:
// the runner kills its step and ends the task cancelled, by the person.
func TestCancelLiveRun(t *testing.T) {
	r := newSigRepo(t)
	head := r.git("rev-parse", "main")
	marker := fmt.Sprintf("3102.%d", os.Getpid()%1000)
	c, out := r.start("run", "--plan", r.plan("slow.yaml", slowPlan(marker)))
	task := r.running("sleep", marker)
	cout := r.ok("task", "cancel", task.ID, "--reason", "wrong branch")
	if !strings.Contains(cout, "cancelled") {
		t.Fatalf("task cancel:\n%s", cout)
	}
	if code := exitCode(c); code != 1 {
		t.Fatalf("the cancelled run exited %d:\n%s", code, out)
	}
	got := r.ended(task.ID, "cancelled", head, []string{"sleep", marker})
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// The person is the OS user who ran `task cancel` (no signers listed).
	if got.Reason != "cancelled by human:"+me.Username+": wrong branch" {
		t.Fatalf("reason %q", got.Reason)
	}
	log := r.ok("audit", "log", "--task", task.ID)
	if !strings.Contains(log, "task.cancel_requested") {
		t.Fatalf("the request is not audited:\n%s", log)
	}
}

// TestWorkerSignalRequeues: SIGINT to the worker alone lets the step run
// its --grace, then stops it and re-queues the task (never fails it); a
// Ctrl-C to the terminal's whole process group does not reach the step,
// which finishes within the grace and commits.
func TestWorkerSignalRequeues(t *testing.T) {
	r := newSigRepo(t)
	head := r.git("rev-parse", "main")
	marker := fmt.Sprintf("3103.%d", os.Getpid()%1000)
	r.ok("submit", "--plan", r.plan("slow.yaml", slowPlan(marker)))
	c, out := r.start("worker", "--grace", "1s")
	task := r.running("sleep", marker)
	c.Process.Signal(syscall.SIGINT)
	if code := exitCode(c); code != 0 {
		t.Fatalf("worker exited %d:\n%s", code, out)
	}
	if strings.Contains(out.String(), "failed 1") || !strings.Contains(out.String(), "re-queued 1") {
		t.Fatalf("the worker did not re-queue:\n%s", out)
	}
	got := r.ended(task.ID, "queued", head, []string{"sleep", marker})
	if !strings.Contains(got.Reason, "stopped by SIGINT") || !strings.Contains(got.Reason, "--grace 1s") {
		t.Fatalf("reason %q", got.Reason)
	}
	r.ok("task", "cancel", task.ID)

	// The terminal's Ctrl-C: SIGINT to the worker's whole process group.
	r.ok("submit", "--plan", r.plan("short.yaml", `version: 1
goal: short
steps:
  - exec: {argv: [sh, -c, "sleep 2.5 && echo done > e.txt"], writes: [e.txt]}
verify:
  - argv: [test, -f, e.txt]
`))
	c = r.cmd("worker", "--grace", "5m", "--until-idle")
	var wout bytes.Buffer
	c.Stdout, c.Stderr = &wout, &wout
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	task = r.running("sleep", "2.5")
	syscall.Kill(-c.Process.Pid, syscall.SIGINT)
	if code := exitCode(c); code != 0 {
		t.Fatalf("worker exited %d:\n%s", code, &wout)
	}
	if st := r.task(task.ID); st.State != "committed" {
		t.Fatalf("the step did not survive the terminal's Ctrl-C: task %s (%s)\n%s", st.State, st.Reason, &wout)
	}
}

// TestKill9AnyPoint kills `agentos run` of a multi-step plan at random
// points, then ends each dead run with `task cancel`: no target may be
// half-applied and no task left running. AGENTOS_KILL9_RUNS sets how many
// (the figure in the closing note used 24).
func TestKill9AnyPoint(t *testing.T) {
	n := 3
	if v, err := strconv.Atoi(os.Getenv("AGENTOS_KILL9_RUNS")); err == nil && v > 0 {
		n = v
	}
	r := newSigRepo(t, "AGENTOS_LEASE=1s")
	halfApplied, stuck, landed, deadLeases := 0, 0, 0, 0
	seen := map[string]bool{}
	for i := range n {
		head := r.git("rev-parse", "main")
		plan := r.plan("multi.yaml", fmt.Sprintf(`version: 1
goal: multi %d
steps:
  - write: {path: m/one.txt, content: "one %d\n"}
  - exec: {argv: [sh, -c, "sleep 0.3; echo two %d > m/two.txt"], writes: [m/two.txt]}
  - write: {path: m/three.txt, content: "three %d\n"}
  - exec: {argv: [sh, -c, "sleep 0.3; echo four %d > m/four.txt"], writes: [m/four.txt]}
verify:
  - argv: [sh, -c, "test -f m/one.txt && test -f m/two.txt && test -f m/three.txt && test -f m/four.txt"]
`, i, i, i, i, i))
		c, _ := r.start("run", "--plan", plan)
		time.Sleep(time.Duration(rand.IntN(2500)) * time.Millisecond)
		c.Process.Kill()
		c.Wait()
		var id string
		for _, x := range r.tasks() {
			if !seen[x.ID] {
				id, seen[x.ID] = x.ID, true
			}
		}
		if id == "" {
			continue // killed before the task existed
		}
		if st := r.task(id).State; st != "committed" && st != "cancelled" && st != "failed" {
			r.run("task", "cancel", id, "--reason", "kill -9")
		}
		st := r.task(id).State
		now := r.git("rev-parse", "main")
		switch {
		case st == "committed":
			landed++
			for _, f := range []string{"one", "two", "three", "four"} {
				if _, err := exec.Command("git", "-C", r.dir, "cat-file", "-e", now+":m/"+f+".txt").Output(); err != nil {
					halfApplied++
				}
			}
		case now != head:
			halfApplied++
			head = now
		}
		if st != "committed" && st != "cancelled" && st != "failed" {
			stuck++
		}
		// A lease of the killed process outlives it until it expires
		// (then anyone takes it over): counted, not a failure.
		if l := r.locks(); len(l) > 0 {
			deadLeases++
		}
	}
	r.ok("audit", "verify")
	t.Logf("kill -9 at %d random points: %d landed before the kill, %d half-applied targets, %d tasks left non-terminal after task cancel, %d left an expired lease row behind", n, landed, halfApplied, stuck, deadLeases)
	if halfApplied > 0 || stuck > 0 {
		t.Fatalf("%d half-applied targets, %d tasks left non-terminal", halfApplied, stuck)
	}
}
