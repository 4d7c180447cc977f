// Package telemetry exports what AgentOS does as OpenTelemetry (docs/
// telemetry.md): traces following the GenAI semantic conventions (a span
// per task run, phase, gate decision, step, verify check, commit, model
// call and contractor run), metrics (transitions by state, durations,
// decisions by effect, tokens) and the audit events as logs.
//
// It is off unless an exporter is installed (package telemetry/otlp, as the
// policy's otel.endpoint or the standard OTEL_EXPORTER_OTLP_* variables
// say). Off, every function here is one atomic load and a return: nothing
// is allocated, no attribute is built. The pipeline calls it from a few
// central places (the coordinator's store wrapper for transitions, records,
// gate decisions and commits; the model clients), and never passes it free
// text: ids, hashes, states, rule ids, effects, exit codes and token counts
// only. It depends on the OpenTelemetry API alone, so the pipeline does not
// link the SDK.
package telemetry

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentos/agentos"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Providers are what an exporter package (package telemetry/otlp: the
// OpenTelemetry SDK and its OTLP exporters) installs; a nil provider turns
// its signal off.
type Providers struct {
	Tracer trace.TracerProvider
	Meter  metric.MeterProvider
	Logger otellog.LoggerProvider
}

// state is telemetry turned on: the tracer, the instruments, and the spans
// of the tasks this process is running.
type state struct {
	tracer trace.Tracer
	logger otellog.Logger

	transitions metric.Int64Counter
	phaseDur    metric.Float64Histogram
	stepDur     metric.Float64Histogram
	decisions   metric.Int64Counter
	tokens      metric.Int64Histogram
	opDur       metric.Float64Histogram

	mu    sync.Mutex
	tasks map[string]*taskSpans
}

// taskSpans are one task's open spans in this process.
type taskSpans struct {
	ctx        context.Context // carries the task span
	span       trace.Span
	phase      string
	phaseSpan  trace.Span
	phaseCtx   context.Context
	phaseStart time.Time
	lastEnd    time.Time // when the last step or check ended
}

var cur atomic.Pointer[state]

// On reports whether telemetry is exporting.
func On() bool { return cur.Load() != nil }

// Scope is the instrumentation scope of everything AgentOS emits.
const Scope = "github.com/agentos/agentos"

// Install turns the instrumentation on with p and returns the function
// that turns it off again, ending the spans of tasks still open (call it
// before shutting the providers down, so those spans are exported).
func Install(p Providers) (uninstall func()) {
	tp, mp := p.Tracer, p.Meter
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	s := &state{tasks: map[string]*taskSpans{}, tracer: tp.Tracer(Scope)}
	m := mp.Meter(Scope)
	s.transitions, _ = m.Int64Counter("agentos.task.transitions", metric.WithDescription("Task state changes, by the state entered"), metric.WithUnit("{transition}"))
	s.phaseDur, _ = m.Float64Histogram("agentos.task.phase.duration", metric.WithDescription("Time a task spent planning, applying or verifying"), metric.WithUnit("s"))
	s.stepDur, _ = m.Float64Histogram("agentos.step.duration", metric.WithDescription("Duration of steps and verify checks"), metric.WithUnit("s"))
	s.decisions, _ = m.Int64Counter("agentos.gate.decisions", metric.WithDescription("Gate decisions, by effect"), metric.WithUnit("{decision}"))
	s.tokens, _ = m.Int64Histogram("gen_ai.client.token.usage", metric.WithDescription("Tokens used by model calls"), metric.WithUnit("{token}"))
	s.opDur, _ = m.Float64Histogram("gen_ai.client.operation.duration", metric.WithDescription("Duration of model calls"), metric.WithUnit("s"))
	if p.Logger != nil {
		s.logger = p.Logger.Logger(Scope)
	}
	cur.Store(s)
	return func() {
		if cur.CompareAndSwap(s, nil) {
			s.endAll()
		}
	}
}

// endAll ends the spans of tasks still open when the process is done.
func (s *state) endAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ts := range s.tasks {
		s.endPhase(ts, time.Now())
		ts.span.End()
		delete(s.tasks, id)
	}
}

func phaseOf(st agentos.State) string {
	switch st {
	case agentos.StatePlanning:
		return "plan"
	case agentos.StateApplying:
		return "apply"
	case agentos.StateVerifying:
		return "verify"
	}
	return ""
}

func (s *state) endPhase(ts *taskSpans, now time.Time) {
	if ts.phaseSpan == nil {
		return
	}
	ts.phaseSpan.End(trace.WithTimestamp(now))
	s.phaseDur.Record(ts.ctx, now.Sub(ts.phaseStart).Seconds(), metric.WithAttributes(attribute.String("agentos.phase", ts.phase)))
	ts.phaseSpan, ts.phaseCtx, ts.phase = nil, nil, ""
}

// Transition records t's change from `from` to its state: the task's span
// (started at its first transition in this process, ended when the task
// stops here: terminal, blocked, awaiting approval), the phase spans
// (plan, apply, verify) as children, an event per change and the counter.
func Transition(ctx context.Context, from agentos.State, t *agentos.Task) {
	s := cur.Load()
	if s == nil || t == nil {
		return
	}
	now := time.Now()
	s.transitions.Add(ctx, 1, metric.WithAttributes(attribute.String("agentos.task.state", string(t.State))))
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.tasks[t.ID]
	if ts == nil {
		c, span := s.tracer.Start(ctx, "agentos.task", trace.WithTimestamp(now), trace.WithAttributes(
			attribute.String("agentos.task.id", t.ID), attribute.String("agentos.task.mode", string(t.Mode)),
			attribute.String("agentos.task.planner", t.Planner)))
		ts = &taskSpans{ctx: c, span: span}
		s.tasks[t.ID] = ts
	}
	if t.PlanHash != "" {
		ts.span.SetAttributes(attribute.String("agentos.plan.hash", t.PlanHash), attribute.String("agentos.plan.id", t.PlanID))
	}
	ts.span.AddEvent("transition", trace.WithTimestamp(now), trace.WithAttributes(
		attribute.String("agentos.task.from", string(from)), attribute.String("agentos.task.to", string(t.State))))
	if p := phaseOf(t.State); p != ts.phase {
		s.endPhase(ts, now)
		if p != "" {
			attrs := []attribute.KeyValue{attribute.String("agentos.task.id", t.ID), attribute.String("agentos.phase", p)}
			if t.PlanHash != "" {
				attrs = append(attrs, attribute.String("agentos.plan.hash", t.PlanHash))
			}
			ts.phaseCtx, ts.phaseSpan = s.tracer.Start(ts.ctx, "agentos."+p, trace.WithTimestamp(now), trace.WithAttributes(attrs...))
			ts.phase, ts.phaseStart = p, now
		}
	}
	switch {
	case t.State.Terminal(), t.State == agentos.StateBlocked, t.State == agentos.StateAwaitingApproval:
		ts.span.SetAttributes(attribute.String("agentos.task.state", string(t.State)))
		if t.State == agentos.StateFailed {
			ts.span.SetStatus(codes.Error, "failed")
		}
		ts.span.End(trace.WithTimestamp(now))
		delete(s.tasks, t.ID)
	}
}

// TaskContext returns ctx carrying task's innermost open span (its phase,
// else the task), so what runs for the task in ctx (a model call, a
// contractor) is a child of it. Off, or for a task with no span here, ctx
// itself.
func TaskContext(ctx context.Context, task string) context.Context {
	s := cur.Load()
	if s == nil {
		return ctx
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.tasks[task]
	switch {
	case ts == nil:
		return ctx
	case ts.phaseSpan != nil:
		return trace.ContextWithSpan(ctx, ts.phaseSpan)
	}
	return trace.ContextWithSpan(ctx, ts.span)
}

// parent returns the span context a task's record hangs under (its phase
// span, else the task's), or ctx's own.
func (s *state) parent(ctx context.Context, task string) (context.Context, *taskSpans) {
	ts := s.tasks[task]
	switch {
	case ts == nil:
		return ctx, nil
	case ts.phaseCtx != nil:
		return ts.phaseCtx, ts
	}
	return ts.ctx, ts
}

// Record makes a step's or verify check's span from its record (stored
// when it ended: it began DurationMS before); other records are events on
// the phase span.
func Record(ctx context.Context, task string, rec agentos.StepRecord) {
	s := cur.Load()
	if s == nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	pctx, ts := s.parent(ctx, task)
	attrs := []attribute.KeyValue{attribute.String("agentos.task.id", task), attribute.String("agentos.run.id", rec.Run),
		attribute.String("agentos.step.phase", string(rec.Phase)), attribute.Int("agentos.step.index", rec.Index),
		attribute.String("agentos.step.kind", rec.Kind), attribute.Int("agentos.step.exit_code", rec.ExitCode), attribute.Bool("agentos.step.ok", rec.OK)}
	name := ""
	switch {
	case rec.Phase == agentos.PhaseApply:
		name = "agentos.step"
	case rec.Phase == agentos.PhaseVerify && rec.Kind == "check":
		name = "agentos.verify.check"
	default:
		trace.SpanFromContext(pctx).AddEvent("record", trace.WithTimestamp(now), trace.WithAttributes(attrs...))
		return
	}
	start := now.Add(-time.Duration(rec.DurationMS) * time.Millisecond)
	_, span := s.tracer.Start(pctx, name, trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	if !rec.OK {
		span.SetStatus(codes.Error, "exit code or postcondition failed")
	}
	span.End(trace.WithTimestamp(now))
	s.stepDur.Record(ctx, float64(rec.DurationMS)/1000, metric.WithAttributes(attribute.String("agentos.step.phase", string(rec.Phase)), attribute.String("agentos.step.kind", rec.Kind), attribute.Bool("agentos.step.ok", rec.OK)))
	if ts != nil {
		ts.lastEnd = now
	}
}

// Gate makes a span per gate decision of the plan, under the task's.
func Gate(ctx context.Context, task, planHash string, ds []agentos.GateDecision) {
	s := cur.Load()
	if s == nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	pctx, _ := s.parent(ctx, task)
	for _, d := range ds {
		_, span := s.tracer.Start(pctx, "agentos.gate", trace.WithTimestamp(now), trace.WithAttributes(
			attribute.String("agentos.task.id", task), attribute.String("agentos.plan.hash", planHash),
			attribute.String("agentos.gate.rule_id", d.RuleID), attribute.String("agentos.gate.effect", string(d.Effect)),
			attribute.Int("agentos.gate.step", d.Step), attribute.String("agentos.policy.hash", d.PolicyHash)))
		if d.Effect == agentos.EffectDeny {
			span.SetStatus(codes.Error, "denied")
		}
		span.End(trace.WithTimestamp(now))
		s.decisions.Add(ctx, 1, metric.WithAttributes(attribute.String("agentos.gate.effect", string(d.Effect))))
	}
}

// Commit makes the commit's span: from the end of the last check to now.
func Commit(ctx context.Context, c agentos.CommitRow) {
	s := cur.Load()
	if s == nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	pctx, ts := s.parent(ctx, c.Task)
	start := now
	if ts != nil && !ts.lastEnd.IsZero() {
		start = ts.lastEnd
	}
	_, span := s.tracer.Start(pctx, "agentos.commit", trace.WithTimestamp(start), trace.WithAttributes(
		attribute.String("agentos.task.id", c.Task), attribute.String("agentos.run.id", c.Run), attribute.String("agentos.commit.sha", c.SHA),
		attribute.String("agentos.commit.branch", c.Branch), attribute.String("agentos.plan.hash", c.PlanHash), attribute.String("agentos.diff.hash", c.DiffHash),
		attribute.String("agentos.commit.kind", c.Kind)))
	span.End(trace.WithTimestamp(now))
}

// Call is an open model-call or agent span.
type Call struct {
	s     *state
	span  trace.Span
	ctx   context.Context
	start time.Time
	attrs []attribute.KeyValue
}

// ModelCall starts the span of one model call (GenAI conventions: "chat
// MODEL", kind client) as a child of ctx's span; the returned context
// carries it, so the HTTP request it makes carries its traceparent (see
// Inject). Off: ctx and nil (whose End does nothing).
func ModelCall(ctx context.Context, provider, server, model string) (context.Context, *Call) {
	s := cur.Load()
	if s == nil {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.provider.name", provider),
		attribute.String("gen_ai.request.model", model)}
	if server != "" {
		attrs = append(attrs, attribute.String("server.address", server))
	}
	c, span := s.tracer.Start(ctx, "chat "+model, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return c, &Call{s: s, span: span, ctx: c, start: time.Now(), attrs: attrs[:3]}
}

// Agent starts the span of a contractor run (GenAI: "invoke_agent NAME").
func Agent(ctx context.Context, name, model string) (context.Context, *Call) {
	s := cur.Load()
	if s == nil {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.name", name)}
	if model != "" {
		attrs = append(attrs, attribute.String("gen_ai.request.model", model))
	}
	c, span := s.tracer.Start(ctx, "invoke_agent "+name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return c, &Call{s: s, span: span, ctx: c, start: time.Now(), attrs: attrs[:2]}
}

// End ends the call's span with its usage (as the model reported it), the
// finish reason or outcome, and err; and records the GenAI metrics.
func (c *Call) End(inputTokens, outputTokens int64, outcome string, err error) {
	if c == nil {
		return
	}
	c.span.SetAttributes(attribute.Int64("gen_ai.usage.input_tokens", inputTokens), attribute.Int64("gen_ai.usage.output_tokens", outputTokens))
	if outcome != "" {
		c.span.SetAttributes(attribute.StringSlice("gen_ai.response.finish_reasons", []string{outcome}))
	}
	if err != nil {
		c.span.SetStatus(codes.Error, agentos.ErrorCode(err))
		c.span.SetAttributes(attribute.String("error.type", agentos.ErrorCode(err)))
	}
	c.span.End()
	c.s.opDur.Record(c.ctx, time.Since(c.start).Seconds(), metric.WithAttributes(c.attrs...))
	for _, t := range []struct {
		kind string
		n    int64
	}{{"input", inputTokens}, {"output", outputTokens}} {
		c.s.tokens.Record(c.ctx, t.n, metric.WithAttributes(append([]attribute.KeyValue{attribute.String("gen_ai.token.type", t.kind)}, c.attrs...)...))
	}
}

// Traceparent is the W3C traceparent of ctx's span, for a contractor's
// TRACEPARENT variable ("" when off or no span).
func Traceparent(ctx context.Context) string {
	if cur.Load() == nil {
		return ""
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier["traceparent"]
}

// Inject sets the traceparent header of req from its context (a model
// planner's requests).
func Inject(req *http.Request) {
	if cur.Load() == nil {
		return
	}
	propagation.TraceContext{}.Inject(req.Context(), propagation.HeaderCarrier(req.Header))
}

// Audit emits audit events as log records: the event's kind as the event
// name, its data (redacted as stored) as the body, its seq, hash, task and
// actor as attributes.
func Audit(ctx context.Context, evs []agentos.Event) {
	s := cur.Load()
	if s == nil || s.logger == nil {
		return
	}
	for _, e := range evs {
		var r otellog.Record
		r.SetTimestamp(e.Time)
		r.SetObservedTimestamp(time.Now())
		r.SetEventName(e.Kind)
		r.SetSeverity(otellog.SeverityInfo)
		r.SetBody(attribute.StringValue(string(e.Data)))
		r.AddAttributes(attribute.Int64("agentos.audit.seq", e.Seq), attribute.String("agentos.audit.kind", e.Kind),
			attribute.String("agentos.audit.hash", e.Hash), attribute.String("agentos.audit.actor", string(e.Actor)),
			attribute.String("agentos.task.id", e.Task), attribute.String("agentos.run.id", e.Run))
		s.logger.Emit(ctx, r)
	}
}
