package coordinator_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/coordinator"
)

// TestFastApprovalNofM: a gated plan waits for two of its three named
// approvers; an outsider, a wrong hash, an agent and a repeated approval
// count for nothing; the second distinct approver queues and applies it.
func TestFastApprovalNofM(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	ctx := t.Context()
	task, err := f.plan("ci.yaml", ciPlan, agentos.ModeSemiAuto, true, nil)
	wantErr(t, err, agentos.EAWAITINGAPPROVAL, "ci-config: 2 of human:bob, human:cy, human:dee", "run of a gated plan")
	task = f.wantState(task.ID, agentos.StateAwaitingApproval)
	if _, d := f.lastTransition(task.ID); d["requirements"] == nil {
		t.Fatalf("the awaiting_approval transition does not record the requirements: %v", d)
	}
	plan, _, err := f.db.Plan(ctx, task.PlanID)
	if err != nil {
		t.Fatal(err)
	}
	if gr, err := f.c.GateResult(ctx, task, plan); err != nil || gr.Effect != agentos.EffectRequireApproval || len(gr.Requirements) != 1 || gr.Requirements[0].Approvals != 2 {
		t.Fatalf("GateResult = %+v, %v; want one requirement of 2 approvals", gr, err)
	}

	_, err = f.c.Approve(ctx, task.ID, task.PlanHash, unsigned(agentos.Human("ann")), "")
	wantErr(t, err, agentos.EDENIED, "is not an approver", "approval by someone not listed")
	_, err = f.c.Approve(ctx, task.ID, "sha256:0000000000000000000000000000000000000000000000000000000000000000", unsigned(agentos.Human("bob")), "")
	wantErr(t, err, agentos.ECONFLICT, "is not the current plan", "approval of another hash")
	_, err = f.c.Approve(ctx, task.ID, task.PlanHash, unsigned(agentos.Actor("agent:planner")), "")
	wantCode(t, err, agentos.EDENIED, "approval by an agent")
	if as, _ := f.db.Approvals(ctx, task.ID); len(as) != 0 {
		t.Fatalf("refused approvals were stored: %+v", as)
	}

	res, err := f.c.Approve(ctx, task.ID, task.PlanHash, unsigned(agentos.Human("bob")), "looks fine")
	wantErr(t, err, agentos.EAWAITINGAPPROVAL, "still needs", "first of two approvals")
	if res == nil || res.Status.Satisfied || res.Applied {
		t.Fatalf("first approval = %+v", res)
	}
	res, err = f.c.Approve(ctx, task.ID, task.PlanHash, unsigned(agentos.Human("bob")), "again")
	wantCode(t, err, agentos.EAWAITINGAPPROVAL, "the same approver twice")
	if !res.Status.Already {
		t.Fatalf("a repeated approval was not reported as already given: %+v", res.Status)
	}
	if as, _ := f.db.ActiveApprovals(ctx, task.ID); len(as) != 1 {
		t.Fatalf("%d active approvals after one person approved twice, want 1", len(as))
	}
	f.wantState(task.ID, agentos.StateAwaitingApproval)

	res, err = f.c.Approve(ctx, task.ID, task.PlanHash, unsigned(agentos.Human("cy")), "")
	if err != nil || !res.Applied || !res.Status.Satisfied {
		t.Fatalf("second approval = %+v, %v; want satisfied and applied", res, err)
	}
	done := f.wantState(task.ID, agentos.StateCommitted)
	if got, ok := f.onMain(".github/workflows/ci.yml"); !ok || got != "on: push\n" {
		t.Fatalf("main holds %q (%v) after the approved run", got, ok)
	}
	evs := f.events(task.ID, agentos.EventApproval)
	if len(evs) != 2 || evs[0].Actor != agentos.Human("bob") || evs[1].Actor != agentos.Human("cy") {
		t.Fatalf("approval events = %+v, want bob then cy", evs)
	}
	var last map[string]any
	if err := json.Unmarshal(evs[1].Data, &last); err != nil || last["satisfied"] != true || last["plan_hash"] != done.PlanHash {
		t.Fatalf("the completing approval audited %s", evs[1].Data)
	}
	f.wantReview(task.ID, agentos.StateCommitted)
	f.verifyChain()
}

// TestFastStaleApprovalBaseMoved: an approval is bound to the base it saw;
// once main moves it no longer counts, the next approver is told why, and a
// fresh approval by the first approver completes the set.
func TestFastStaleApprovalBaseMoved(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	ctx := t.Context()
	task := f.mustPlan("ci.yaml", ciPlan)
	_, err := f.c.Apply(ctx, task.ID, agentos.Human("ann"))
	wantCode(t, err, agentos.EAWAITINGAPPROVAL, "gated apply")
	_, err = f.c.Approve(ctx, task.ID, task.PlanHash, unsigned(agentos.Human("bob")), "")
	wantCode(t, err, agentos.EAWAITINGAPPROVAL, "first approval")
	f.moveBase("moved")
	_, err = f.c.Approve(ctx, task.ID, task.PlanHash, unsigned(agentos.Human("cy")), "")
	wantErr(t, err, agentos.EAWAITINGAPPROVAL, "the approval by human:bob is stale: the base moved", "approval after the base moved")
	f.wantState(task.ID, agentos.StateAwaitingApproval)
	// A task that was only planned is queued, not applied, once approved.
	res, err := f.c.Approve(ctx, task.ID, task.PlanHash, unsigned(agentos.Human("bob")), "again")
	if err != nil || !res.Queued || res.Applied {
		t.Fatalf("fresh approval = %+v, %v; want queued", res, err)
	}
	f.wantState(task.ID, agentos.StateQueued)
	// The base moves again while it waits in the queue: admission sends it
	// back for approval instead of running it.
	f.moveBase("moved again")
	_, err = f.c.Apply(ctx, task.ID, agentos.Human("bob"))
	wantErr(t, err, agentos.EAWAITINGAPPROVAL, "stale", "apply of a queued task whose approvals went stale")
	f.wantState(task.ID, agentos.StateAwaitingApproval)
	if runs, _ := f.db.RunsOf(ctx, task.ID); len(runs) != 0 {
		t.Fatalf("a stale approval started runs %v", runs)
	}
}

// TestFastStaleApprovalMemoryChanged: the memory the plan's query selects
// is part of the binding; a memory edit after an approval voids it.
func TestFastStaleApprovalMemoryChanged(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	ctx := t.Context()
	task := f.mustPlan("ci.yaml", ciPlan)
	_, err := f.c.Apply(ctx, task.ID, agentos.Human("ann"))
	wantCode(t, err, agentos.EAWAITINGAPPROVAL, "gated apply")
	_, err = f.c.Approve(ctx, task.ID, task.PlanHash, unsigned(agentos.Human("bob")), "")
	wantCode(t, err, agentos.EAWAITINGAPPROVAL, "first approval")
	f.mem.mu.Lock()
	f.mem.items = []agentos.PackedItem{{ID: "mem_1", Kind: "fact", Text: "CI runs on push only", Scope: []string{}, Score: 1}}
	f.mem.mu.Unlock()
	_, err = f.c.Approve(ctx, task.ID, task.PlanHash, unsigned(agentos.Human("cy")), "")
	wantErr(t, err, agentos.EAWAITINGAPPROVAL, "the memory changed", "approval after the memory changed")
}

// TestFastReject: a rejection needs a reason, ends the task in rejected
// with a ReviewPack, and nothing applies it afterwards.
func TestFastReject(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	ctx := t.Context()
	task := f.mustPlan("ci.yaml", ciPlan)
	_, err := f.c.Apply(ctx, task.ID, agentos.Human("ann"))
	wantCode(t, err, agentos.EAWAITINGAPPROVAL, "gated apply")
	_, err = f.c.Reject(ctx, task.ID, "", unsigned(agentos.Human("dee")), "  ")
	wantErr(t, err, agentos.EINVALID, "needs a reason", "rejection without a reason")
	_, err = f.c.Reject(ctx, task.ID, "", unsigned(agentos.Human("zed")), "no")
	wantErr(t, err, agentos.EDENIED, "cannot reject", "rejection by someone not listed")
	f.wantState(task.ID, agentos.StateAwaitingApproval)

	rt, err := f.c.Reject(ctx, task.ID, "", unsigned(agentos.Human("dee")), "we use GitLab")
	if err != nil || rt.State != agentos.StateRejected {
		t.Fatalf("Reject = %+v, %v", rt, err)
	}
	got := f.wantState(task.ID, agentos.StateRejected)
	if got.Reason != "rejected by human:dee: we use GitLab" {
		t.Fatalf("reason %q", got.Reason)
	}
	e, d := f.lastTransition(task.ID)
	if e.Actor != agentos.Human("dee") || d["decision"] != "reject" || d["plan_hash"] != task.PlanHash {
		t.Fatalf("rejection transition = %s by %s", e.Data, e.Actor)
	}
	as, _ := f.db.Approvals(ctx, task.ID)
	if len(as) != 1 || as[0].Kind != agentos.KindReject || as[0].Comment != "we use GitLab" {
		t.Fatalf("approvals after the rejection = %+v", as)
	}
	f.wantReview(task.ID, agentos.StateRejected)
	_, err = f.c.Approve(ctx, task.ID, task.PlanHash, unsigned(agentos.Human("bob")), "")
	wantCode(t, err, agentos.ECONFLICT, "approval of a rejected task")
	_, err = f.c.Apply(ctx, task.ID, agentos.Human("bob"))
	wantCode(t, err, agentos.ECONFLICT, "apply of a rejected task")
	if _, ok := f.onMain(".github/workflows/ci.yml"); ok {
		t.Fatal("a rejected plan reached main")
	}
	f.verifyChain()
}

// TestFastGateDeny: a deny gate fails the task at the gate with a
// ReviewPack; the refusal is audited as a gate decision.
func TestFastGateDeny(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	task := f.mustPlan("secret.yaml", "version: 1\ngoal: add a key\nsteps:\n  - write: {path: secrets/key, content: \"k\\n\"}\nverify:\n  - argv: [\"true\"]\n")
	_, err := f.c.Apply(t.Context(), task.ID, agentos.Human("ann"))
	wantErr(t, err, agentos.EDENIED, "no-secrets", "apply of a denied plan")
	f.wantState(task.ID, agentos.StateFailed)
	if _, d := f.lastTransition(task.ID); d["phase"] != "gate" {
		t.Fatalf("deny transition data %v, want phase gate", d)
	}
	ds, err := f.db.GateDecisions(t.Context(), task.ID, task.PlanHash)
	if err != nil || len(ds) == 0 {
		t.Fatalf("gate decisions = %+v, %v", ds, err)
	}
	denied := false
	for _, d := range ds {
		denied = denied || (d.RuleID == "no-secrets" && d.Effect == agentos.EffectDeny)
	}
	if !denied {
		t.Fatalf("no deny decision stored: %+v", ds)
	}
	f.wantReview(task.ID, agentos.StateFailed)
}

// TestFastCancel: cancel ends a waiting task with a ReviewPack; a running
// or ended task is refused, as is an unknown one.
func TestFastCancel(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	ctx := t.Context()
	task := f.mustPlan("ci.yaml", ciPlan)
	_, err := f.c.Apply(ctx, task.ID, agentos.Human("ann"))
	wantCode(t, err, agentos.EAWAITINGAPPROVAL, "gated apply")
	ct, err := f.c.Cancel(ctx, task.ID, agentos.Human("ann"), "", 0)
	if err != nil || ct.State != agentos.StateCancelled {
		t.Fatalf("Cancel = %+v, %v", ct, err)
	}
	got := f.wantState(task.ID, agentos.StateCancelled)
	if got.Reason != "cancelled by human:ann" {
		t.Fatalf("default reason %q", got.Reason)
	}
	if e, _ := f.lastTransition(task.ID); e.Actor != agentos.Human("ann") {
		t.Fatalf("cancel audited as %s", e.Actor)
	}
	f.wantReview(task.ID, agentos.StateCancelled)
	_, err = f.c.Cancel(ctx, task.ID, agentos.Human("ann"), "again", 0)
	wantErr(t, err, agentos.ECONFLICT, "already ended", "cancel of a cancelled task")

	// A task being applied belongs to its runner.
	busy := f.mustPlan("plain.yaml", plainPlan)
	for _, to := range []agentos.State{agentos.StateQueued, agentos.StateApplying} {
		if busy, err = f.db.Transition(ctx, busy.ID, busy.State, to, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{}); err != nil {
			t.Fatal(err)
		}
	}
	// Its runner may be finishing (no lease, just updated): not yet.
	_, err = f.c.Cancel(ctx, busy.ID, agentos.Human("ann"), "stop", 0)
	wantErr(t, err, agentos.ECONFLICT, "is still applying", "cancel of an applying task")
	f.wantState(busy.ID, agentos.StateApplying)
	// A lease-lifetime later with no lease, its runner is dead: ended here.
	f.c.Now = func() time.Time { return time.Now().Add(coordinator.DefaultLeaseTTL + time.Second) }
	ct, err = f.c.Cancel(ctx, busy.ID, agentos.Human("ann"), "stop", 0)
	if err != nil || ct.State != agentos.StateCancelled {
		t.Fatalf("Cancel of a dead run = %+v, %v", ct, err)
	}
	if got := f.wantState(busy.ID, agentos.StateCancelled); got.Reason != "cancelled by human:ann: stop (its runner released its lease and stopped)" {
		t.Fatalf("dead-run cancel reason %q", got.Reason)
	}
	f.c.Now = time.Now

	_, err = f.c.Cancel(ctx, "t-nope", agentos.Human("ann"), "", 0)
	wantCode(t, err, agentos.ENOTFOUND, "cancel of an unknown task")
	f.verifyChain()
}

// unsigned is a decider of a repository that lists no signers (solo use).
func unsigned(a agentos.Actor) approval.Identity { return approval.Identity{Actor: a} }
