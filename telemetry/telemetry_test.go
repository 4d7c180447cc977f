package telemetry

import (
	"context"
	"net/http"
	"testing"

	"github.com/agentos/agentos"
)

// Off, every entry point the pipeline calls costs nothing: no allocation
// (the attributes are never built).
func TestOffIsFree(t *testing.T) {
	if On() {
		t.Fatal("telemetry is on in a fresh process")
	}
	ctx := context.Background()
	task := &agentos.Task{ID: "t1", State: agentos.StateApplying, PlanHash: "sha256:x"}
	rec := agentos.StepRecord{Phase: agentos.PhaseApply, Kind: "write", OK: true}
	ds := []agentos.GateDecision{{RuleID: "r", Effect: agentos.EffectAllow}}
	req, _ := http.NewRequest("POST", "http://127.0.0.1/", nil)
	n := testing.AllocsPerRun(100, func() {
		Transition(ctx, agentos.StateQueued, task)
		_ = TaskContext(ctx, "t1")
		Record(ctx, "t1", rec)
		Gate(ctx, "t1", "sha256:x", ds)
		Commit(ctx, agentos.CommitRow{SHA: "abc"})
		c, call := ModelCall(ctx, "openai", "h", "m")
		call.End(1, 2, "stop", nil)
		_, agent := Agent(c, "claude", "")
		agent.End(0, 0, "", nil)
		_ = Traceparent(ctx)
		Inject(req)
		Audit(ctx, nil)
	})
	if n != 0 {
		t.Errorf("telemetry off allocates %v times per pipeline pass", n)
	}
}
