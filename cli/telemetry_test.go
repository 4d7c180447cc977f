package cli

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/agentos/agentos"
	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP receiver (protobuf) that keeps what it is
// sent.
type otlpReceiver struct {
	mu      sync.Mutex
	spans   []*tracepb.Span
	metrics []string // metric names
	logs    []*logspb.LogRecord
	bad     []string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	o.mu.Lock()
	defer o.mu.Unlock()
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		o.bad = append(o.bad, r.URL.Path+": content type "+ct)
	}
	var resp proto.Message
	switch r.URL.Path {
	case "/v1/traces":
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			o.bad = append(o.bad, err.Error())
		}
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				o.spans = append(o.spans, ss.Spans...)
			}
		}
		resp = &coltrace.ExportTraceServiceResponse{}
	case "/v1/metrics":
		var req colmetrics.ExportMetricsServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			o.bad = append(o.bad, err.Error())
		}
		for _, rm := range req.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					o.metrics = append(o.metrics, m.Name)
				}
			}
		}
		resp = &colmetrics.ExportMetricsServiceResponse{}
	case "/v1/logs":
		var req collogs.ExportLogsServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			o.bad = append(o.bad, err.Error())
		}
		for _, rl := range req.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				o.logs = append(o.logs, sl.LogRecords...)
			}
		}
		resp = &collogs.ExportLogsServiceResponse{}
	default:
		http.NotFound(w, r)
		return
	}
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return anyValue(kv.Value)
		}
	}
	return ""
}

func anyValue(v *common.AnyValue) string {
	switch x := v.Value.(type) {
	case *common.AnyValue_StringValue:
		return x.StringValue
	case *common.AnyValue_IntValue:
		return strings.TrimSpace(strings.Repeat(" ", 0) + itoa(x.IntValue))
	case *common.AnyValue_BoolValue:
		if x.BoolValue {
			return "true"
		}
		return "false"
	}
	return v.String()
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// tracedModel is fakeModel that keeps the traceparent of each request.
type tracedModel struct {
	fakeModel
	tmu          sync.Mutex
	traceparents []string
}

func (m *tracedModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.tmu.Lock()
	m.traceparents = append(m.traceparents, r.Header.Get("Traceparent"))
	m.tmu.Unlock()
	m.fakeModel.ServeHTTP(w, r)
}

// A run exported to a local OTLP/HTTP receiver: one trace whose root is
// the task, with the plan, apply and verify phases as children; the model
// calls (GenAI attributes: operation, model, tokens) under the plan, each
// request carrying its span's traceparent to the model server; the gate
// decision, the step, the check and the commit where they happened, with
// the task id, plan hash, rule id and effect as attributes. The metrics
// and the audit events (as logs) arrive too.
func TestTelemetryRunTrace(t *testing.T) {
	rcv := &otlpReceiver{}
	col := httptest.NewServer(rcv)
	defer col.Close()
	fm := &tracedModel{}
	srv := httptest.NewServer(fm)
	defer srv.Close()
	t.Setenv("AGENTOS_E2E_KEY", "sk-e2e")
	dir := mustGovernedRepo(t, basePolicy+`planner:
  kind: openai
  openai:
    base_url: `+srv.URL+`/v1
    model: test-model
    api_key_env: AGENTOS_E2E_KEY
    max_retries: 0
gates:
  - {id: notes-ok, when: 'glob(step.paths, "NOTES.md")', effect: allow, message: notes are fine}
otel:
  endpoint: `+col.URL+`
`)
	code, out, errOut := runCLI(t, "-C", dir, "run", "add a notes file")
	if code != 0 {
		t.Fatalf("agentos run: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	task := strings.Fields(out)[1]
	rp := latestReview(t, dir, task)
	head := gitT(t, dir, "rev-parse", "main")

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, b := range rcv.bad {
		t.Error(b)
	}
	byName := map[string][]*tracepb.Span{}
	byID := map[string]*tracepb.Span{}
	for _, s := range rcv.spans {
		byName[s.Name] = append(byName[s.Name], s)
		byID[hex.EncodeToString(s.SpanId)] = s
	}
	one := func(name string) *tracepb.Span {
		t.Helper()
		if len(byName[name]) != 1 {
			t.Fatalf("%d spans named %q, want 1 (spans: %v)", len(byName[name]), name, names(rcv.spans))
		}
		return byName[name][0]
	}
	parentOf := func(s *tracepb.Span) *tracepb.Span { return byID[hex.EncodeToString(s.ParentSpanId)] }
	root := one("agentos.task")
	if len(root.ParentSpanId) != 0 || attr(root, "agentos.task.id") != task || attr(root, "agentos.plan.hash") != rp.PlanHash || attr(root, "agentos.task.state") != "committed" {
		t.Errorf("task span: parent %x, attributes %v; want a root with task %s, plan hash %s, state committed", root.ParentSpanId, root.Attributes, task, rp.PlanHash)
	}
	for _, s := range rcv.spans {
		if !bytes.Equal(s.TraceId, root.TraceId) {
			t.Errorf("span %s is in another trace", s.Name)
		}
		if p := parentOf(s); s != root && (p == nil || s.StartTimeUnixNano < p.StartTimeUnixNano) {
			t.Errorf("span %s has no parent in the trace, or starts before it", s.Name)
		}
	}
	plan, apply, verify := one("agentos.plan"), one("agentos.apply"), one("agentos.verify")
	for _, ph := range []*tracepb.Span{plan, apply, verify} {
		if parentOf(ph) != root {
			t.Errorf("%s is not a child of the task span", ph.Name)
		}
	}
	chats := byName["chat test-model"]
	if len(chats) != 3 {
		t.Fatalf("%d model call spans, want 3 (intent, refused plan, plan)", len(chats))
	}
	for _, c := range chats {
		if parentOf(c) != plan || c.Kind != tracepb.Span_SPAN_KIND_CLIENT || attr(c, "gen_ai.operation.name") != "chat" || attr(c, "gen_ai.request.model") != "test-model" ||
			attr(c, "gen_ai.provider.name") != "openai" || attr(c, "gen_ai.usage.input_tokens") != "50" || attr(c, "gen_ai.usage.output_tokens") != "10" {
			t.Errorf("model call span %v (parent %s)", c.Attributes, parentOf(c).GetName())
		}
	}
	fm.tmu.Lock()
	tps := fm.traceparents
	fm.tmu.Unlock()
	if len(tps) != 3 {
		t.Fatalf("the model server saw %d requests", len(tps))
	}
	for i, tp := range tps {
		want := "00-" + hex.EncodeToString(root.TraceId) + "-" + hex.EncodeToString(chats[i].SpanId) + "-01"
		found := false
		for _, c := range chats {
			if tp == "00-"+hex.EncodeToString(root.TraceId)+"-"+hex.EncodeToString(c.SpanId)+"-01" {
				found = true
			}
		}
		if !found {
			t.Errorf("request %d carried traceparent %q, want its model call span's (like %s)", i, tp, want)
		}
	}
	gate := one("agentos.gate")
	if parentOf(gate) != root || attr(gate, "agentos.gate.rule_id") != "notes-ok" || attr(gate, "agentos.gate.effect") != "allow" || attr(gate, "agentos.plan.hash") != rp.PlanHash {
		t.Errorf("gate span %v under %s", gate.Attributes, parentOf(gate).GetName())
	}
	step := one("agentos.step")
	if parentOf(step) != apply || attr(step, "agentos.step.kind") != "write" || attr(step, "agentos.step.ok") != "true" {
		t.Errorf("step span %v under %s", step.Attributes, parentOf(step).GetName())
	}
	check := one("agentos.verify.check")
	if parentOf(check) != verify || attr(check, "agentos.step.exit_code") != "0" {
		t.Errorf("check span %v under %s", check.Attributes, parentOf(check).GetName())
	}
	commit := one("agentos.commit")
	if p := parentOf(commit); (p != verify && p != root) || attr(commit, "agentos.commit.sha") != head || attr(commit, "agentos.plan.hash") != rp.PlanHash {
		t.Errorf("commit span %v under %s; main is %s", commit.Attributes, p.GetName(), head)
	}
	for _, m := range []string{"agentos.task.transitions", "agentos.task.phase.duration", "agentos.step.duration", "agentos.gate.decisions", "gen_ai.client.token.usage", "gen_ai.client.operation.duration"} {
		if !strings.Contains(strings.Join(rcv.metrics, ","), m) {
			t.Errorf("metric %s not received (got %v)", m, rcv.metrics)
		}
	}
	t.Logf("%d spans %v; metrics %v; %d log records", len(rcv.spans), names(rcv.spans), rcv.metrics, len(rcv.logs))
	evs := auditEvents(t, dir, "")
	kinds := map[string]int{}
	for _, l := range rcv.logs {
		kinds[l.EventName]++
	}
	if len(rcv.logs) == 0 || kinds[agentos.EventUsage] != 3 || kinds[agentos.EventCommit] != 1 || len(rcv.logs) > len(evs) {
		t.Errorf("audit logs: %d records by kind %v (the store has %d events)", len(rcv.logs), kinds, len(evs))
	}
}

func names(spans []*tracepb.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// A contractor gets the trace context of its invoke_agent span in
// TRACEPARENT, so its own telemetry joins the task's trace.
func TestTelemetryContractorTraceparent(t *testing.T) {
	rcv := &otlpReceiver{}
	col := httptest.NewServer(rcv)
	defer col.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := mustGovernedRepo(t, basePolicy+`planner:
  kind: contractor
  contractor:
    name: custom
    argv: [`+exe+`, __contractor_traceparent]
    timeout: 1m
verify:
  default:
    - {name: trace exists, argv: [cat, TRACE.txt]}
`)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.URL) // the variables alone turn it on
	code, out, errOut := runCLI(t, "-C", dir, "run", "write the trace")
	if code != 0 {
		t.Fatalf("agentos run: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	got := gitT(t, dir, "show", "main:TRACE.txt")
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var agent *tracepb.Span
	for _, s := range rcv.spans {
		if s.Name == "invoke_agent custom" {
			agent = s
		}
	}
	if agent == nil {
		t.Fatalf("no invoke_agent span in %v", names(rcv.spans))
	}
	want := "00-" + hex.EncodeToString(agent.TraceId) + "-" + hex.EncodeToString(agent.SpanId) + "-01"
	if got != want || attr(agent, "gen_ai.operation.name") != "invoke_agent" || attr(agent, "gen_ai.agent.name") != "custom" {
		t.Errorf("the contractor saw TRACEPARENT=%q, want %q (span %v)", got, want, agent.Attributes)
	}
}
