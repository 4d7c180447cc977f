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

// Which signals the variables and the policy turn on.
func TestSignals(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		cfg                   Config
		traces, metrics, logs bool
	}{
		{Config{Getenv: env()}, false, false, false},
		{Config{Endpoint: "http://c:4318", Getenv: env()}, true, true, true},
		{Config{Getenv: env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")}, true, true, true},
		{Config{Getenv: env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces")}, true, false, false},
		{Config{Endpoint: "http://c:4318", Getenv: env("OTEL_LOGS_EXPORTER", "none")}, true, true, false},
		{Config{Endpoint: "http://c:4318", Getenv: env("OTEL_SDK_DISABLED", "true")}, false, false, false},
	} {
		tr, m, l := c.cfg.Signals()
		if tr != c.traces || m != c.metrics || l != c.logs {
			t.Errorf("%+v: signals %v %v %v", c.cfg.Endpoint, tr, m, l)
		}
	}
	// Setup with nothing on turns nothing on.
	shutdown, err := Setup(context.Background(), Config{Getenv: env()})
	if err != nil || On() || shutdown(context.Background()) != nil {
		t.Fatalf("Setup off: %v, on %v", err, On())
	}
}
