// Package coordinator is the pipeline: it plans (dry run), asks (QuestionPack
// and BLOCKED), gates, admits, applies in a worktree, verifies, commits,
// integrates and writes a ReviewPack for every run. Each red line has one
// choke point here:
//
//	admit.go      red lines 1 and 6, stale plans: only admit builds an Admitted
//	plan.go       red line 3 at plan time (workspace.Clean/LookPath)
//	questions.go  red line 2 through agentos.QuestionBudget; BLOCKED and answers
//	gates.go      policy gates; approve.go: approvals bound to the plan hash
//	commands.go   command rules at plan time, gates and right before each command
//	execute.go    red line 3 at apply time, every command through sandbox.Run
//	locks.go      red line 9: task and file leases; the executor checks Covers
//	commit.go     red lines 4 and 7: the only caller of Git.CommitTree
//	integrate.go  red line 8: fast-forward or three-way rebase, verify again, CAS
//	schedule.go   red line 10: every run (worker, apply, run, approve) is dispatched
//	              by the scheduler, each dispatch, hold and skip audited with its rule
//	review.go     red line 5: finish writes a ReviewPack on every return path
package coordinator

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/auditkey"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/redact"
	"github.com/agentos/agentos/sandbox"
)

// MemoryService is what the coordinator needs of the memory: a frozen pack
// per task, and a place to put lessons and answers.
type MemoryService interface {
	BuildPack(ctx context.Context, task string, q agentos.MemoryQuery) (agentos.MemoryPack, error)
	Add(ctx context.Context, item agentos.MemoryItem) (agentos.MemoryItem, error)
}

// Prompter asks questions at a terminal (interactive mode). Nil when stdin
// is not a terminal: then the task blocks instead.
type Prompter interface {
	Ask(q agentos.Question) (string, error)
}

// Progress receives what the coordinator is doing, for the CLI to render.
type Progress func(ev ProgressEvent)

// ProgressEvent is one progress update.
type ProgressEvent struct {
	Task    string
	Phase   string // plan | apply | verify | commit | integrate | review
	Index   int    // 1-based step or check number
	Total   int
	What    string
	Done    bool
	OK      bool
	Elapsed time.Duration
	// Output, on a start event of a command, is the last line the command
	// has printed so far: a terminal shows it while the command runs.
	Output func() string
}

// Runner runs one confined command: the sandbox (sandbox.Run). Every exec
// step and verify check goes through it; tests may hand in another.
type Runner func(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error)

// Coordinator runs tasks for one repository.
type Coordinator struct {
	DB       agentos.Store
	Repo     Git
	Config   *config.Config
	StateDir string // <repo>/.agentos
	Memory   MemoryService
	// Sandbox runs every command of a plan (default sandbox.Run).
	Sandbox  Runner
	Prompter Prompter
	// ConfirmApply shows an interactive run's plan and asks before it is
	// applied (false: not applied, the task stays planned). Nil when
	// nobody can answer (off a terminal) or `--yes` was given.
	ConfirmApply func(ctx context.Context, p *PlanPreview) (bool, error)
	Progress     Progress
	Identity     agentos.CommitIdentity
	// Env is the environment commands' allow-listed variables are taken from.
	Env []string
	Now func() time.Time
	// Stdout/Stderr receive nothing by default; commands' output is captured
	// into records.
	Log io.Writer
	// Redact hides secrets in every text from outside that is stored or
	// printed (New: the built-in rules; the CLI adds the policy's). nil
	// stores text as is.
	Redact func(string) string
	// AuditKey returns the repository's audit key, which signs every
	// commit's attestation (attest.go); the CLI wires it. nil: commits get
	// no attestation, and their runs' ReviewPacks say so.
	AuditKey func(ctx context.Context) (*auditkey.Key, error)
	// ModelPlanners build the model planner of each planner.kind that asks
	// a model (the CLI wires "openai"); a kind missing here is refused
	// before a task exists.
	ModelPlanners map[string]NewModelPlanner

	// PolicyAt reads the policy committed at a commit (policybase.go).
	PolicyAt PolicyAt

	// CheckStore proves the store whole before a run starts (preflight.go);
	// the CLI wires it. nil checks nothing.
	CheckStore func(ctx context.Context) error
	// RunEnded is called by a worker when one of its runs has ended and
	// released its locks: the CLI records the store's files as the run
	// left them, so the next run's CheckStore need not read them whole.
	// nil does nothing.
	RunEnded func()

	// engines holds the compiled gates and command rules (engines.go);
	// nil compiles them on every use.
	engines *engineCache
}

// New returns a coordinator with defaults filled in.
func New(db agentos.Store, repo Git, cfg *config.Config) *Coordinator {
	c := &Coordinator{
		Repo: repo, Config: cfg,
		StateDir: filepath.Join(repo.Dir(), agentos.StateDir),
		Identity: agentos.CommitIdentity{Name: "AgentOS", Email: "agentos@localhost"},
		Env:      os.Environ(),
		Now:      time.Now,
		Log:      io.Discard,
		Sandbox:  sandbox.Run,
		Redact:   redact.Default().String,
		engines:  &engineCache{},
	}
	c.DB = &redactingStore{Store: db, c: c}
	return c
}

func (c *Coordinator) progress(ev ProgressEvent) {
	if c.Progress != nil {
		ev.What = c.redact(ev.What) // printed: argv and check names can carry a token
		c.Progress(ev)
	}
}

// idAlphabet avoids look-alike characters so ids can be read aloud and typed.
const idAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// NewID returns a short random id with a one-letter kind prefix (t task, r
// run, p plan, i intent, m memory pack, q question pack).
func NewID(prefix string) string {
	b := make([]byte, 7)
	rand.Read(b)
	out := []byte(prefix)
	for _, x := range b {
		out = append(out, idAlphabet[int(x)%len(idAlphabet)])
	}
	return string(out)
}

func (c *Coordinator) worktreeDir(task string) string {
	return filepath.Join(c.StateDir, "worktrees", task)
}

func branchOf(task string) string { return "agentos/" + task }

func (c *Coordinator) transition(ctx context.Context, t *agentos.Task, to agentos.State, actor agentos.Actor, upd agentos.TaskUpdate, detail agentos.TransitionDetail) (*agentos.Task, error) {
	nt, err := c.DB.Transition(ctx, t.ID, t.State, to, actor, upd, detail)
	if err != nil {
		return nil, err
	}
	*t = *nt
	return t, nil
}
