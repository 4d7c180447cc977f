package coordinator_test

// Fast unit tests of the pipeline over the in-memory store (storetest/
// memstore): real git repositories in temp dirs and the real sandbox, no
// database file and no agentos binary. Each test asserts outcomes, states,
// audit events and refusal codes.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/gitrepo"
	"github.com/agentos/agentos/storetest/memstore"
)

// fastPolicy gates CI files behind two of three named approvers, denies
// secrets, and allows a few commands.
const fastPolicy = `version: 1
target: main
sandbox: {require: false}
commands: {allow: ["true", "false", grep, ./tools/gen.sh]}
gates:
  - id: ci-config
    when: glob(step.paths, ".github/workflows/**")
    effect: require_approval
    message: the plan changes CI configuration
    approvers: [bob, cy, dee]
    approvals: 2
  - id: no-secrets
    when: glob(step.paths, "secrets/**")
    effect: deny
    message: secrets are not written by plans
`

// fakeMemory is the memory the coordinator sees: a fixed pack and a record
// of what it was asked to remember.
type fakeMemory struct {
	mu    sync.Mutex
	items []agentos.PackedItem
	added []agentos.MemoryItem
}

func (m *fakeMemory) BuildPack(ctx context.Context, task string, q agentos.MemoryQuery) (agentos.MemoryPack, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return agentos.MemoryPack{Items: append([]agentos.PackedItem{}, m.items...)}, nil
}

func (m *fakeMemory) Add(ctx context.Context, it agentos.MemoryItem) (agentos.MemoryItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.added = append(m.added, it)
	return it, nil
}

func (m *fakeMemory) kinds() []agentos.MemoryKind {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []agentos.MemoryKind
	for _, it := range m.added {
		out = append(out, it.Kind)
	}
	return out
}

type fixture struct {
	t   testing.TB
	c   *coordinator.Coordinator
	db  *memstore.Store
	mem *fakeMemory
	dir string
}

// newFixture makes a git repository holding policy and files, and a
// coordinator over a fresh in-memory store.
func newFixture(t testing.TB, policy string, files map[string]string) *fixture {
	t.Helper()
	dir := t.TempDir()
	all := map[string]string{"agentos.yaml": policy, ".gitignore": ".agentos/\n", "README.md": "hello\n"}
	for k, v := range files {
		all[k] = v
	}
	for name, body := range all {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{t: t, dir: dir, db: memstore.Open(), mem: &fakeMemory{}}
	f.git("init", "-q", "-b", "main")
	f.git("add", "-A")
	f.git("commit", "-q", "-m", "init")
	if err := os.MkdirAll(filepath.Join(dir, ".agentos"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "agentos.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := gitrepo.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	f.c = coordinator.New(f.db, repo, cfg)
	f.c.Memory = f.mem
	return f
}

func (f *fixture) git(args ...string) string {
	f.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=ann", "-c", "user.email=ann@example.com"}, args...)...)
	cmd.Dir = f.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		f.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// moveBase commits a change to README.md on main.
func (f *fixture) moveBase(line string) {
	f.t.Helper()
	p := filepath.Join(f.dir, "README.md")
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, append(b, []byte(line+"\n")...), 0o644); err != nil {
		f.t.Fatal(err)
	}
	f.git("commit", "-q", "-am", "base moves: "+line)
}

// plan writes a plan file and plans it, or runs it (plan and apply) when
// run is set.
func (f *fixture) plan(name, body string, mode agentos.Mode, run bool, values map[string]string) (*agentos.Task, error) {
	f.t.Helper()
	p := filepath.Join(f.t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		f.t.Fatal(err)
	}
	req := coordinator.PlanRequest{File: p, Mode: mode, Actor: agentos.Human("ann"), Values: values}
	if run {
		return f.c.Run(f.t.Context(), req)
	}
	return f.c.PlanFile(f.t.Context(), req)
}

// mustPlan plans a plan file that must reach planned.
func (f *fixture) mustPlan(name, body string) *agentos.Task {
	f.t.Helper()
	task, err := f.plan(name, body, agentos.ModeSemiAuto, false, nil)
	if err != nil || task.State != agentos.StatePlanned {
		f.t.Fatalf("plan %s = %+v, %v; want planned", name, task, err)
	}
	return task
}

func (f *fixture) task(id string) *agentos.Task {
	f.t.Helper()
	task, err := f.db.Task(f.t.Context(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return task
}

func (f *fixture) wantState(id string, want agentos.State) *agentos.Task {
	f.t.Helper()
	task := f.task(id)
	if task.State != want {
		f.t.Fatalf("task %s is %s (%s), want %s", id, task.State, task.Reason, want)
	}
	return task
}

func (f *fixture) events(task, kind string) []agentos.Event {
	f.t.Helper()
	evs, err := f.db.Events(f.t.Context(), agentos.EventFilter{Task: task, Kind: kind})
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

// lastTransition decodes the newest transition event of task.
func (f *fixture) lastTransition(task string) (agentos.Event, map[string]any) {
	f.t.Helper()
	evs := f.events(task, agentos.EventTransition)
	if len(evs) == 0 {
		f.t.Fatalf("task %s has no transition events", task)
	}
	e := evs[len(evs)-1]
	var d map[string]any
	if err := json.Unmarshal(e.Data, &d); err != nil {
		f.t.Fatal(err)
	}
	return e, d
}

// wantReview asserts the task's newest ReviewPack has the outcome.
func (f *fixture) wantReview(task string, outcome agentos.State) *agentos.ReviewPack {
	f.t.Helper()
	rp, md, err := f.db.Review(f.t.Context(), task)
	if err != nil {
		f.t.Fatalf("task %s has no ReviewPack: %v", task, err)
	}
	if rp.Outcome != outcome || md == "" {
		f.t.Fatalf("ReviewPack of %s has outcome %s (markdown %d bytes), want %s", task, rp.Outcome, len(md), outcome)
	}
	return rp
}

// verifyChain asserts the audit chain is intact.
func (f *fixture) verifyChain() {
	f.t.Helper()
	if _, err := f.db.VerifyChain(f.t.Context()); err != nil {
		f.t.Fatalf("audit chain: %v", err)
	}
}

// onMain reads a file at main's head.
func (f *fixture) onMain(path string) (string, bool) {
	cmd := exec.Command("git", "show", "main:"+path)
	cmd.Dir = f.dir
	out, err := cmd.Output()
	return string(out), err == nil
}

func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if err == nil || agentos.ErrorCode(err) != code {
		t.Fatalf("%s: got %v (code %q), want code %q", what, err, agentos.ErrorCode(err), code)
	}
}

func wantErr(t *testing.T, err error, code, substr, what string) {
	t.Helper()
	wantCode(t, err, code, what)
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("%s: %v does not say %q", what, err, substr)
	}
}

const ciPlan = `version: 1
goal: add CI
steps:
  - write: {path: .github/workflows/ci.yml, content: "on: push\n"}
verify:
  - argv: ["true"]
`

const plainPlan = `version: 1
goal: write a note
steps:
  - write: {path: notes/a.txt, content: "a\n"}
verify:
  - argv: ["true"]
`
