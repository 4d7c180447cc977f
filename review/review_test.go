package review

import (
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

func TestMarkdownAndRollbackGuide(t *testing.T) {
	rp := &agentos.ReviewPack{
		Task: "t1", Run: "r1", Outcome: agentos.StateCommitted, Goal: "g", Target: "main", Mode: agentos.ModeSemiAuto,
		Records:      []agentos.StepRecord{{Phase: agentos.PhaseApply, Index: 0, Summary: "exec a|b", ExitCode: 0, OK: true}},
		Commits:      []agentos.CommitRecord{{SHA: "abc", Branch: "main", Trailers: map[string]string{"AgentOS-Task": "t1"}}},
		PlannerCalls: []agentos.PlannerCall{{Call: "plan", Attempt: 2, Model: "m", PromptTokens: 10, Outcome: "invalid"}},
		Unconfined:   true,
	}
	rp.Rollback = RollbackGuide(rp, "")
	if len(rp.Rollback) == 0 || !strings.Contains(rp.Rollback[0], "agentos rollback t1") {
		t.Fatalf("rollback guide = %v", rp.Rollback)
	}
	md := Markdown(rp)
	for _, want := range []string{"# ReviewPack: task t1, run r1", `exec a\|b`, "UNCONFINED", "| plan | 2 | `m` | 10 |", "AgentOS-Task: t1", "agentos rollback t1"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	failed := &agentos.ReviewPack{Task: "t2", Outcome: agentos.StateFailed, Target: "main"}
	g := RollbackGuide(failed, "/wt")
	if !strings.Contains(strings.Join(g, "\n"), "nothing was committed to main") || !strings.Contains(strings.Join(g, "\n"), "agentos task clean t2") {
		t.Errorf("failed guide = %v", g)
	}
}

// An unverified change says so before anything else a reviewer reads; a
// verified one never mentions it.
func TestMarkdownUnverifiedFirst(t *testing.T) {
	rp := &agentos.ReviewPack{Task: "t1", Run: "r1", Outcome: agentos.StateCommitted, Goal: "g", Target: "main",
		Unverified: "the plan has no verify check"}
	lines := strings.Split(Markdown(rp), "\n")
	if len(lines) < 3 || lines[2] != "**UNVERIFIED:** the plan has no verify check" {
		t.Fatalf("first lines = %q", lines[:min(len(lines), 4)])
	}
	rp.Unverified = ""
	if md := Markdown(rp); strings.Contains(md, "UNVERIFIED") {
		t.Fatalf("a verified pack says UNVERIFIED:\n%s", md)
	}
}
