package coordinator_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/storetest/memstore"
)

// packID is the id of the MemoryPack stored for task (its memory.pack event).
func (f *fixture) packID(task string) string {
	f.t.Helper()
	evs := f.events(task, agentos.EventMemoryPack)
	if len(evs) == 0 {
		f.t.Fatalf("task %s stored no MemoryPack", task)
	}
	var d agentos.MemoryPackEvent
	if err := json.Unmarshal(evs[len(evs)-1].Data, &d); err != nil {
		f.t.Fatal(err)
	}
	return d.Pack
}

// TestFastAdmissionRefusals: admission is the last check before a plan
// touches anything. A plan edited in the store, a missing or edited
// MemoryPack (red line 1) and a policy changed since planning are refused:
// the task fails at admit with a ReviewPack, no run starts and main stays.
func TestFastAdmissionRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(f *fixture, task *agentos.Task)
		code   string
		says   string
	}{
		{"plan edited in the store", func(f *fixture, task *agentos.Task) {
			if !f.db.DB().TamperPlan(task.PlanID, func(p *agentos.Plan) { p.Steps[0].Content = "evil\n" }) {
				f.t.Fatal("no plan to tamper with")
			}
		}, agentos.EDENIED, "does not hash to the planned"},
		{"MemoryPack missing", func(f *fixture, task *agentos.Task) {
			if n := f.db.DB().DeleteMemoryPacks(task.ID); n != 1 {
				f.t.Fatalf("deleted %d MemoryPacks, want 1", n)
			}
		}, agentos.EDENIED, "missing from the store (red line 1)"},
		{"MemoryPack edited", func(f *fixture, task *agentos.Task) {
			if !f.db.DB().TamperMemoryPack(f.packID(task.ID), func(m *agentos.MemoryPack) {
				m.Items = append(m.Items, agentos.PackedItem{ID: "mem_x", Kind: "fact", Text: "planted", Scope: []string{}})
			}) {
				f.t.Fatal("no MemoryPack to tamper with")
			}
		}, agentos.EDENIED, "tampered with (red line 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fastPolicy, nil)
			task := f.mustPlan("plain.yaml", plainPlan)
			tc.tamper(f, task)
			_, err := f.c.Apply(t.Context(), task.ID, agentos.Human("ann"))
			wantErr(t, err, tc.code, tc.says, "apply after: "+tc.name)
			got := f.wantState(task.ID, agentos.StateFailed)
			if !strings.HasPrefix(got.Reason, "admission refused: ") {
				t.Fatalf("reason %q", got.Reason)
			}
			if _, d := f.lastTransition(task.ID); d["phase"] != "admit" {
				t.Fatalf("failure transition data %v, want phase admit", d)
			}
			if runs, _ := f.db.RunsOf(t.Context(), task.ID); len(runs) != 0 {
				t.Fatalf("a refused plan started runs %v", runs)
			}
			if _, ok := f.onMain("notes/a.txt"); ok {
				t.Fatal("a refused plan reached main")
			}
			f.wantReview(task.ID, agentos.StateFailed)
			f.verifyChain()
		})
	}
}

// TestFastAdmissionReplansStale: a plan whose policy changed since it was
// made is not failed at admission but planned again (its gates then run
// again), and the caller is told why; nothing was applied.
func TestFastAdmissionReplansStale(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	task := f.mustPlan("plain.yaml", plainPlan)
	old := task.PlanHash
	f.c.Config.Hash = "sha256:" + strings.Repeat("1", 64)
	_, err := f.c.Apply(t.Context(), task.ID, agentos.Human("ann"))
	wantErr(t, err, agentos.ECONFLICT, "was re-planned as", "apply of a stale plan")
	got := f.wantState(task.ID, agentos.StatePlanned)
	if got.PlanHash == old || got.PlanHash == "" {
		t.Fatalf("plan hash %q after the re-plan, was %q", got.PlanHash, old)
	}
	if _, err := f.c.Apply(t.Context(), task.ID, agentos.Human("ann")); err != nil {
		t.Fatalf("apply of the re-planned task: %v", err)
	}
	f.wantState(task.ID, agentos.StateCommitted)
}

// TestFastAdmitWithoutGateDecisions: a queued task whose plan was never
// gated (someone moved it in the store) is refused at admission.
func TestFastAdmitWithoutGateDecisions(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	task := f.mustPlan("plain.yaml", plainPlan)
	if _, err := f.db.Transition(t.Context(), task.ID, agentos.StatePlanned, agentos.StateQueued, agentos.System, agentos.TaskUpdate{}, agentos.TransitionDetail{}); err != nil {
		t.Fatal(err)
	}
	_, err := f.c.Apply(t.Context(), task.ID, agentos.Human("ann"))
	wantErr(t, err, agentos.EDENIED, "was never gated", "apply of an ungated plan")
	f.wantState(task.ID, agentos.StateFailed)
}

// TestFastTraceAndVerifyCommits: a landed commit traces back to its task,
// run, plan and intent with every check passing; once the stored plan is
// edited the trace and `audit verify`'s commit check both say so. A commit
// AgentOS did not make has no trace.
func TestFastTraceAndVerifyCommits(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	ctx := t.Context()
	task, err := f.plan("plain.yaml", plainPlan, agentos.ModeSemiAuto, true, nil)
	if err != nil || task.State != agentos.StateCommitted {
		t.Fatalf("run = %+v, %v", task, err)
	}
	tr, err := f.c.TraceCommit(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if !tr.OK || tr.Task == nil || tr.Task.ID != task.ID || tr.PlanID != task.PlanID || tr.Kind != "change" || tr.Commit != task.Commit || len(tr.Checks) < 8 {
		t.Fatalf("trace = %+v", tr)
	}
	for _, ch := range tr.Checks {
		if !ch.OK {
			t.Fatalf("check %q failed on an untouched commit", ch.What)
		}
	}
	n, bad, err := f.c.VerifyCommits(ctx)
	if err != nil || n != 1 || len(bad) != 0 {
		t.Fatalf("VerifyCommits = %d, %v, %v; want 1 clean", n, bad, err)
	}

	f.db.DB().TamperPlan(task.PlanID, func(p *agentos.Plan) { p.Goal = "something else" })
	tr, err = f.c.TraceCommit(ctx, task.Commit)
	if err != nil || tr.OK {
		t.Fatalf("trace after the plan was edited = %+v, %v; want not OK", tr, err)
	}
	n, bad, err = f.c.VerifyCommits(ctx)
	if err != nil || n != 1 || len(bad) != 1 || !strings.Contains(bad[0], "stored plan still hashes to the trailer failed") {
		t.Fatalf("VerifyCommits after the edit = %d, %v, %v", n, bad, err)
	}

	_, err = f.c.TraceCommit(ctx, "main~1")
	wantErr(t, err, agentos.ENOTFOUND, "has no AgentOS trailers", "trace of the user's commit")
	// A store that lost the commit's records: every record check fails.
	g := newFixture(t, fastPolicy, nil)
	g.c.Repo = f.c.Repo
	g.c.DB = memstore.Open()
	tr, err = g.c.TraceCommit(ctx, task.Commit)
	if err != nil || tr.OK {
		t.Fatalf("trace against an empty store = %+v, %v; want not OK", tr, err)
	}
}

// TestFastVerifyFails: a failing verify check fails the run: no commit on
// main, a ReviewPack, a failed record of the check, a lesson remembered.
func TestFastVerifyFails(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	ctx := t.Context()
	task, err := f.plan("bad.yaml", "version: 1\ngoal: write then fail\nsteps:\n  - write: {path: notes/b.txt, content: \"b\\n\"}\nverify:\n  - argv: [\"false\"]\n", agentos.ModeSemiAuto, true, nil)
	if err == nil {
		t.Fatal("a run whose verify check fails succeeded")
	}
	got := f.wantState(task.ID, agentos.StateFailed)
	if _, ok := f.onMain("notes/b.txt"); ok {
		t.Fatal("a failed run reached main")
	}
	recs, err := f.db.Records(ctx, got.RunID)
	if err != nil {
		t.Fatal(err)
	}
	failed := false
	for _, r := range recs {
		failed = failed || (r.Phase == agentos.PhaseVerify && !r.OK && strings.Join(r.Argv, " ") == "false")
	}
	if !failed {
		t.Fatalf("no failed verify record of `false`: %+v", recs)
	}
	run, err := f.db.Run(ctx, got.RunID)
	if err != nil || run.Outcome != agentos.StateFailed || run.EndedAt.IsZero() {
		t.Fatalf("run = %+v, %v", run, err)
	}
	rp := f.wantReview(task.ID, agentos.StateFailed)
	if rp.Run != got.RunID {
		t.Fatalf("ReviewPack of run %s, want %s", rp.Run, got.RunID)
	}
	kinds := f.mem.kinds()
	if len(kinds) != 1 || kinds[0] != agentos.MemoryObservation {
		t.Fatalf("memory was given %v, want one observation (never a lesson: nobody vouched for it)", kinds)
	}
	f.mem.mu.Lock()
	obs := f.mem.added[0]
	f.mem.mu.Unlock()
	if !strings.Contains(obs.Text, "(false):\n> failed") || obs.Author == string(agentos.System) || !strings.Contains(obs.Source, "verify check 1") {
		t.Fatalf("observation %+v: want the failing command quoted, sourced to its check, not by system", obs)
	}
}

// TestFastRollback: only a committed task rolls back; its rollback task
// lands a revert, the task ends rolled_back, and a second rollback is
// refused. A revert that changes nothing is refused without a commit.
func TestFastRollback(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	ctx := t.Context()
	waiting := f.mustPlan("ci.yaml", ciPlan)
	_, err := f.c.Rollback(ctx, waiting.ID, agentos.Human("ann"))
	wantErr(t, err, agentos.ECONFLICT, "only a committed task can be rolled back", "rollback of a planned task")

	task, err := f.plan("plain.yaml", plainPlan, agentos.ModeSemiAuto, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.c.Rollback(ctx, task.ID, agentos.Human("ann"))
	if err != nil || res.Revert == "" || res.Rollback == nil || res.Rollback.State != agentos.StateCommitted {
		t.Fatalf("Rollback = %+v, %v", res, err)
	}
	f.wantState(task.ID, agentos.StateRolledBack)
	if _, ok := f.onMain("notes/a.txt"); ok {
		t.Fatal("the rolled-back file is still on main")
	}
	if evs := f.events(task.ID, agentos.EventRollback); len(evs) == 0 {
		t.Fatal("the rollback is not in the task's audit")
	}
	if c, err := f.db.Commit(ctx, res.Revert); err != nil || c.Kind != "rollback" {
		t.Fatalf("revert commit record = %+v, %v", c, err)
	}
	_, err = f.c.Rollback(ctx, task.ID, agentos.Human("ann"))
	wantCode(t, err, agentos.ECONFLICT, "second rollback")

	// Someone reverted it by hand already: nothing to revert.
	other, err := f.plan("other.yaml", strings.ReplaceAll(plainPlan, "notes/a.txt", "notes/c.txt"), agentos.ModeSemiAuto, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.git("revert", "--no-edit", other.Commit)
	head := f.git("rev-parse", "main")
	_, err = f.c.Rollback(ctx, other.ID, agentos.Human("ann"))
	wantErr(t, err, agentos.ECONFLICT, "changes nothing", "rollback of an already reverted commit")
	if now := f.git("rev-parse", "main"); now != head {
		t.Fatal("a refused rollback moved main")
	}
	f.wantState(other.ID, agentos.StateCommitted)
	f.verifyChain()
}
