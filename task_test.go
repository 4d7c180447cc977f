package agentos_test

import (
	"testing"

	"github.com/agentos/agentos"
)

// Every (from, to) pair is checked: the allowed set is exactly the table, so
// a transition added by accident elsewhere shows up here.
func TestTransitionTable(t *testing.T) {
	allowed := map[[2]agentos.State]bool{}
	for _, p := range [][2]agentos.State{
		{"created", "planning"}, {"created", "cancelled"}, {"created", "failed"},
		{"planning", "planned"}, {"planning", "blocked"}, {"planning", "failed"}, {"planning", "cancelled"},
		{"planned", "awaiting_approval"}, {"planned", "queued"}, {"planned", "planning"}, {"planned", "failed"}, {"planned", "cancelled"},
		{"blocked", "planning"}, {"blocked", "failed"}, {"blocked", "cancelled"},
		{"awaiting_approval", "queued"}, {"awaiting_approval", "rejected"}, {"awaiting_approval", "planning"}, {"awaiting_approval", "cancelled"}, {"awaiting_approval", "failed"},
		{"queued", "applying"}, {"queued", "planning"}, {"queued", "awaiting_approval"}, {"queued", "cancelled"}, {"queued", "failed"},
		{"applying", "verifying"}, {"applying", "failed"}, {"applying", "queued"}, {"applying", "cancelled"},
		{"verifying", "committed"}, {"verifying", "failed"}, {"verifying", "planning"}, {"verifying", "blocked"}, {"verifying", "queued"}, {"verifying", "cancelled"},
		{"committed", "rolled_back"},
	} {
		allowed[p] = true
	}
	for _, from := range agentos.States {
		for _, to := range agentos.States {
			want := allowed[[2]agentos.State{from, to}]
			if got := agentos.CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
			err := agentos.CheckTransition(from, to)
			if want != (err == nil) {
				t.Errorf("CheckTransition(%s, %s) = %v", from, to, err)
			}
			if err != nil && agentos.ErrorCode(err) != agentos.ECONFLICT {
				t.Errorf("CheckTransition(%s, %s) code = %s, want conflict", from, to, agentos.ErrorCode(err))
			}
		}
	}
	for _, s := range []agentos.State{"failed", "rejected", "cancelled", "rolled_back"} {
		for _, to := range agentos.States {
			if agentos.CanTransition(s, to) {
				t.Errorf("terminal state %s may move to %s", s, to)
			}
		}
	}
}

// Red line 2: whatever is configured, full_auto's budget is zero.
func TestQuestionBudget(t *testing.T) {
	for _, configured := range []int{-1, 0, 1, 3, 100} {
		if got := agentos.QuestionBudget(agentos.ModeFullAuto, configured); got != 0 {
			t.Errorf("QuestionBudget(full_auto, %d) = %d, want 0", configured, got)
		}
	}
	if got := agentos.QuestionBudget(agentos.ModeSemiAuto, -1); got != agentos.DefaultSemiAutoBudget {
		t.Errorf("semi_auto default = %d", got)
	}
	if got := agentos.QuestionBudget(agentos.ModeSemiAuto, 5); got != 5 {
		t.Errorf("semi_auto configured 5 = %d", got)
	}
	if got := agentos.QuestionBudget(agentos.ModeInteractive, 2); got != agentos.Unlimited {
		t.Errorf("interactive = %d", got)
	}
}

// The root package is the domain vocabulary: standard library and
// canonjson only.
func TestPlanHashCoversEveryField(t *testing.T) {
	p := agentos.Plan{Version: 1, ID: "p1", Task: "t1", Steps: []agentos.Step{{Kind: agentos.StepWrite, Path: "a", Content: "x"}}}
	h := p.ComputeHash()
	p.Hash = h
	if p.ComputeHash() != h {
		t.Fatal("the hash field itself changed the hash")
	}
	q := p
	q.Steps = []agentos.Step{{Kind: agentos.StepWrite, Path: "a", Content: "y"}}
	if q.ComputeHash() == h {
		t.Fatal("changing step content kept the hash")
	}
	q = p
	q.MemoryPackHash = "sha256:x"
	if q.ComputeHash() == h {
		t.Fatal("changing the memory pack hash kept the hash")
	}
}
