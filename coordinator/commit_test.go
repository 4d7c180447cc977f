package coordinator

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// Red line 4: a run missing a Plan, Apply or Verify record cannot commit.
// The test bypasses the executor and calls the commit choke point directly
// with an incomplete record set; it must refuse and write no commit.
func TestCommitRequiresEveryRecord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		phases []agentos.Phase
		okAll  bool
		want   string
	}{
		{"no verify record", []agentos.Phase{agentos.PhasePlan, agentos.PhaseApply}, true, "step 1 has no verify record"},
		{"no apply record", []agentos.Phase{agentos.PhasePlan, agentos.PhaseVerify}, true, "step 1 has no apply record"},
		{"failed verify record", []agentos.Phase{agentos.PhasePlan, agentos.PhaseApply, agentos.PhaseVerify}, false, "is not OK"},
		{"no check record", []agentos.Phase{agentos.PhasePlan, agentos.PhaseApply, agentos.PhaseVerify}, true, "verify check 1 has no passing record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, dir := gateCoordinator(t)
			ctx := t.Context()
			x := commitExecutor(t, c, dir)
			task := x.task
			for _, ph := range tc.phases {
				ok := tc.okAll || ph != agentos.PhaseVerify
				if err := x.record(ctx, agentos.StepRecord{Phase: ph, Index: 0, Kind: "write", Summary: "write a.txt", OK: ok}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.name != "no check record" {
				x.record(ctx, agentos.StepRecord{Phase: agentos.PhaseVerify, Index: 1, Kind: "check", OK: true})
			}
			sha, err := c.commit(ctx, x)
			if agentos.ErrorCode(err) != agentos.EDENIED || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "red line 4") {
				t.Fatalf("commit = %q, %v; want a red line 4 refusal containing %q", sha, err, tc.want)
			}
			cs, _ := c.DB.CommitsOf(ctx, task.ID)
			if len(cs) != 0 {
				t.Fatalf("a commit was recorded: %v", cs)
			}
		})
	}
}

// commitExecutor plans a one-step plan with one check and sets up what the
// executor holds when it reaches the commit: run, worktree with the change,
// gates passed, dispatch and locks held. No record is written.
func commitExecutor(t *testing.T, c *Coordinator, dir string) *executor {
	t.Helper()
	ctx := t.Context()
	plan := filepath.Join(dir, "p.yaml")
	os.WriteFile(plan, []byte("version: 1\ngoal: g\nsteps:\n  - write: {path: a.txt, content: \"a\\n\"}\nverify:\n  - argv: [\"true\"]\n"), 0o644)
	task, err := c.PlanFile(ctx, PlanRequest{File: plan, Mode: agentos.ModeSemiAuto, Actor: agentos.Human("ann")})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := c.DB.Plan(ctx, task.PlanID)
	if err != nil {
		t.Fatal(err)
	}
	run := &agentos.Run{ID: NewID("r"), Task: task.ID, PlanHash: p.Hash, Worktree: c.worktreeDir(task.ID)}
	if err := c.DB.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := c.Repo.AddWorktree(ctx, run.Worktree, branchOf(task.ID), p.BaseCommit); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(run.Worktree, "a.txt"), []byte("a\n"), 0o644)
	if err := c.Gate(ctx, task, agentos.Human("ann")); err != nil {
		t.Fatal(err)
	}
	d, err := c.Schedule(ctx, task, agentos.Human("ann"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Release(context.WithoutCancel(ctx)) })
	locks, err := c.holdLocks(ctx, task, p, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { locks.Release(context.WithoutCancel(ctx)) })
	// A full git worktree (the fallback tree): these tests are about the
	// records, not the copy-on-write layer.
	tree := &taskTree{c: c, dir: run.Worktree, branch: branchOf(task.ID), fallback: "test"}
	return &executor{c: c, task: task, plan: p, run: run, wt: run.Worktree, locks: locks, tt: tree}
}

// The commit-time hold of "every change is verified": a plan that reaches
// the commit with no verify check (stored by a path that skipped planning's
// refusal, or by an older agentos) is refused there unless the policy
// explicitly allows unverified commits, and then the message says so.
func TestCommitRefusesUnverifiedPlan(t *testing.T) {
	c, dir := gateCoordinator(t)
	ctx := t.Context()
	x := commitExecutor(t, c, dir)
	x.plan.Verify = nil
	for _, ph := range []agentos.Phase{agentos.PhasePlan, agentos.PhaseApply, agentos.PhaseVerify} {
		if err := x.record(ctx, agentos.StepRecord{Phase: ph, Index: 0, Kind: "write", Summary: "write a.txt", OK: true}); err != nil {
			t.Fatal(err)
		}
	}
	sha, err := c.commit(ctx, x)
	if agentos.ErrorCode(err) != agentos.EDENIED || !strings.Contains(err.Error(), "has no verify check") || !strings.Contains(err.Error(), "verify.allow_unverified") {
		t.Fatalf("commit of a plan without checks = %q, %v; want a denial naming verify.allow_unverified", sha, err)
	}
	if cs, _ := c.DB.CommitsOf(ctx, x.task.ID); len(cs) != 0 {
		t.Fatalf("a commit was recorded: %v", cs)
	}

	c.Config.Verify.AllowUnverified = true
	sha, err = c.commit(ctx, x)
	if err != nil {
		t.Fatalf("commit with verify.allow_unverified: %v", err)
	}
	out, err := exec.Command("git", "-C", dir, "log", "-1", "--format=%B", sha).Output()
	if err != nil {
		t.Fatal(err)
	}
	if msg := string(out); !strings.Contains(msg, "0 verify checks") || !strings.Contains(msg, "UNVERIFIED: no verify check ran") {
		t.Fatalf("commit message does not say it is unverified:\n%s", out)
	}
}

// Defence in depth behind the seccomp filter: a set-id file in what a run
// leaves (planted here from outside the sandbox) is never committed, and
// its bits are cleared on the host.
func TestCommitRefusesSetIDFile(t *testing.T) {
	c, dir := gateCoordinator(t)
	x := commitExecutor(t, c, dir)
	ctx := t.Context()
	for _, r := range []agentos.StepRecord{
		{Phase: agentos.PhasePlan, Index: 0, Kind: "write", OK: true}, {Phase: agentos.PhaseApply, Index: 0, Kind: "write", OK: true},
		{Phase: agentos.PhaseVerify, Index: 0, Kind: "write", OK: true}, {Phase: agentos.PhaseVerify, Index: 1, Kind: "check", OK: true},
	} {
		if err := x.record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	suid := filepath.Join(x.wt, "a.txt")
	if err := os.Chmod(suid, os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	sha, err := c.commit(ctx, x)
	if agentos.ErrorCode(err) != agentos.EDENIED || !strings.Contains(agentos.ErrorMessage(err), "set-id") {
		t.Fatalf("commit = %q, %v; want a set-id refusal", sha, err)
	}
	if st, err := os.Stat(suid); err != nil || st.Mode()&os.ModeSetuid != 0 {
		t.Fatalf("after the refusal the file is %v, %v; want its set-uid bit cleared", st.Mode(), err)
	}
}
