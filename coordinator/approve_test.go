package coordinator

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/gitrepo"
	"github.com/agentos/agentos/sqlite"
)

const gatePolicy = `version: 1
target: main
sandbox: {require: false}
commands: {allow: ["true"]}
gates:
  - id: ci-config
    when: glob(step.paths, ".github/workflows/**")
    effect: require_approval
    message: the plan changes CI configuration
`

func gateCoordinator(t *testing.T) (*Coordinator, string) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"agentos.yaml": gatePolicy, ".gitignore": ".agentos/\n", "README.md": "hello\n",
		"ci.plan.yaml": "version: 1\ngoal: add CI\nsteps:\n  - write:\n      path: .github/workflows/ci.yml\n      content: \"on: push\\n\"\nverify:\n  - argv: [\"true\"]\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitIn(t, dir, "init", "-q", "-b", "main")
	gitIn(t, dir, "add", "agentos.yaml", ".gitignore", "README.md")
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
	return New(db, repo, cfg), dir
}

func gitIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=ann", "-c", "user.email=ann@example.com"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// TestAdmissionRefusesStaleApproval: an approval recorded, the task queued,
// then the base moves before apply. Admission refuses, the task goes back to
// awaiting_approval, and a fresh approval applies it.
func TestAdmissionRefusesStaleApproval(t *testing.T) {
	c, dir := gateCoordinator(t)
	ctx := t.Context()
	ann, bob := agentos.Human("ann"), agentos.Human("bob")
	task, err := c.PlanFile(ctx, PlanRequest{File: filepath.Join(dir, "ci.plan.yaml"), Mode: agentos.ModeSemiAuto, Actor: ann})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, task.ID, ann); agentos.ErrorCode(err) != agentos.EAWAITINGAPPROVAL {
		t.Fatalf("Apply = %v, want awaiting_approval", err)
	}
	req, err := c.decisionRequest(ctx, task.ID, task.PlanHash, unsigned(bob), approval.KindApprove, "")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := approval.NewStore(c.DB).Approve(ctx, req); err != nil || !st.Satisfied {
		t.Fatalf("Approve = %+v, %v; want satisfied", st, err)
	}
	if _, err := c.DB.Transition(ctx, task.ID, agentos.StateAwaitingApproval, agentos.StateQueued, bob, agentos.TaskUpdate{}, agentos.TransitionDetail{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("moved\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, dir, "commit", "-q", "-am", "base moves")

	_, err = c.Apply(ctx, task.ID, bob)
	if agentos.ErrorCode(err) != agentos.EAWAITINGAPPROVAL || !strings.Contains(err.Error(), "approval is stale: the base moved") {
		t.Fatalf("Apply after the base moved = %v, want awaiting_approval: approval is stale", err)
	}
	if cur, _ := c.DB.Task(ctx, task.ID); cur.State != agentos.StateAwaitingApproval {
		t.Fatalf("state = %s, want awaiting_approval", cur.State)
	}
	// The task was planned, not run: the approval queues it and nothing
	// runs outside the scheduler (red line 10); an apply then lands it.
	res, err := c.Approve(ctx, task.ID, task.PlanHash, unsigned(bob), "again")
	if err != nil || res.Applied || !res.Queued || res.Task.State != agentos.StateQueued {
		t.Fatalf("re-approve = %+v, %v; want queued, not applied", res, err)
	}
	if nt, err := c.Apply(ctx, task.ID, bob); err != nil || nt.State != agentos.StateCommitted {
		t.Fatalf("Apply after the re-approval = %+v, %v; want committed", nt, err)
	}
}

// TestReplanClearsApprovals: gating a new plan of the same task clears the
// approvals of the earlier plan; they stay in the history.
func TestReplanClearsApprovals(t *testing.T) {
	c, dir := gateCoordinator(t)
	ctx := t.Context()
	task, err := c.PlanFile(ctx, PlanRequest{File: filepath.Join(dir, "ci.plan.yaml"), Mode: agentos.ModeSemiAuto, Actor: agentos.Human("ann")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, task.ID, agentos.Human("ann")); agentos.ErrorCode(err) != agentos.EAWAITINGAPPROVAL {
		t.Fatalf("Apply = %v, want awaiting_approval", err)
	}
	st := approval.NewStore(c.DB)
	req, err := c.decisionRequest(ctx, task.ID, task.PlanHash, unsigned(agentos.Human("bob")), approval.KindApprove, "")
	if err != nil {
		t.Fatal(err)
	}
	req.Requirements = append(req.Requirements, approval.Requirement{RuleID: "extra", Approvals: 2})
	if _, err := st.Approve(ctx, req); err != nil {
		t.Fatal(err)
	}
	p, _, err := c.DB.Plan(ctx, task.PlanID)
	if err != nil {
		t.Fatal(err)
	}
	next := *p
	next.ID = NewID("p")
	next.Hash = next.ComputeHash()
	if _, _, err := c.evaluateGates(ctx, task, &next); err != nil {
		t.Fatal(err)
	}
	list, err := st.List(ctx, task.ID)
	if err != nil || len(list) != 1 || list[0].Cleared == "" {
		t.Fatalf("approvals after gating a new plan = %+v, %v; want the old one cleared and kept", list, err)
	}
}

// TestPlanAuthorDecodesTheEvent: the author of a plan is the actor of the
// plan.stored event naming that plan and hash, read from its decoded
// payload; an event that only mentions the hash elsewhere does not count.
func TestPlanAuthorDecodesTheEvent(t *testing.T) {
	c, dir := gateCoordinator(t)
	ctx := t.Context()
	ann := agentos.Human("ann")
	task, err := c.PlanFile(ctx, PlanRequest{File: filepath.Join(dir, "ci.plan.yaml"), Mode: agentos.ModeSemiAuto, Actor: ann})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := c.DB.Plan(ctx, task.PlanID)
	if err != nil {
		t.Fatal(err)
	}
	decoy := agentos.PlanStoredEvent{Plan: "p-other", Hash: "sha256:other", Base: p.Hash}
	if _, err := c.DB.Append(ctx, agentos.EventInput{Task: task.ID, Actor: agentos.Agent("mallory"), Kind: agentos.EventPlanStored, Data: decoy}); err != nil {
		t.Fatal(err)
	}
	got, err := c.planAuthor(ctx, task, p)
	if err != nil || got != ann {
		t.Fatalf("planAuthor = %q, %v; want %q", got, err, ann)
	}
	other := *p
	other.ID = "p-other"
	other.Hash = "sha256:other"
	if got, err := c.planAuthor(ctx, task, &other); err != nil || got != agentos.Agent("mallory") {
		t.Fatalf("planAuthor(other) = %q, %v; want the decoy's actor", got, err)
	}
}

// unsigned is a decider of a solo repository (no signers listed).
func unsigned(a agentos.Actor) approval.Identity { return approval.Identity{Actor: a} }
