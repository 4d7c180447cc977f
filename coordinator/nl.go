package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/budget"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/contractor"
	"github.com/agentos/agentos/planfile"
	"github.com/agentos/agentos/planner"
	"github.com/agentos/agentos/telemetry"
)

// Audit event kinds of the natural-language front (declared with their
// payloads in the root package's registry).
const (
	EventPlannerCall        = agentos.EventPlannerCall        // one model call: tokens, latency, outcome
	EventPlannerRefused     = agentos.EventPlannerRefused     // the model's last unusable answer
	EventContractorRun      = agentos.EventContractorRun      // exit, duration, steps, commands
	EventContractorDecision = agentos.EventContractorDecision // one hook decision
)

// NLRequest asks for a task planned from a natural-language request.
type NLRequest struct {
	Text      string
	Mode      agentos.Mode
	Values    map[string]string // answers given up front (--set)
	Actor     agentos.Actor
	AutoApply bool
	Labels    []string
}

// ModelPlanner plans a natural-language request by asking a model: first the
// Intent, then a Plan that validate accepts. Package planner/openai
// implements it and the CLI wires it in (Coordinator.ModelPlanners), so the
// pipeline never depends on a model SDK.
type ModelPlanner interface {
	// Source is the provenance stamped into what the planner produces.
	Source() agentos.Source
	Intent(ctx context.Context, request string) (agentos.Intent, []agentos.PlannerCall, error)
	Plan(ctx context.Context, intent agentos.Intent, pack agentos.MemoryPack, repo planner.RepoContext, allowed []string, validate func(agentos.Plan) error) (agentos.Plan, []agentos.Question, []agentos.PlannerCall, error)
	// ContextBudget is how many bytes of repository context the plan
	// request may carry.
	ContextBudget() int
	// LastAnswer returns the model's last unusable answer carried by an
	// error of Intent or Plan, or "".
	LastAnswer(err error) string
}

// NewModelPlanner builds the model planner the policy's planner section
// configures; getenv looks its API key up by name. A configuration problem
// is an EINVALID error.
type NewModelPlanner func(cfg config.Planner, getenv func(string) string) (ModelPlanner, error)

// modelPlanner builds the planner of the policy's planner.kind.
func (c *Coordinator) modelPlanner() (ModelPlanner, error) {
	kind := c.Config.Planner.Kind
	build, ok := c.ModelPlanners[kind]
	if !ok {
		kinds := []string{"contractor"}
		for k := range c.ModelPlanners {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		return nil, agentos.Errorf(agentos.EINVALID, "planner.kind %q is not supported by this agentos: use %s", kind, strings.Join(kinds, " or "))
	}
	return build(c.Config.Planner, c.getenv)
}

// NoPlannerMessage is what `agentos run "…"` says when no planner is set.
func NoPlannerMessage() string {
	return "natural-language requests need a planner and agentos.yaml has none: " + config.HowToConfigureOpenAI +
		"; or let an agent CLI do the work: `planner: {kind: contractor, contractor: {name: claude, allow_tcp: [\"api.anthropic.com:443\"]}}` (or codex, opencode, with their endpoint); " +
		"a plan file needs no planner: agentos run --plan FILE"
}

// RunRequest plans a natural-language request with the configured planner
// and, unless a question or a gate stops it, applies it.
func (c *Coordinator) RunRequest(ctx context.Context, req NLRequest) (*agentos.Task, error) {
	req.AutoApply = true
	t, err := c.PlanRequest(ctx, req)
	if err != nil || t == nil || t.State != agentos.StatePlanned {
		return t, err
	}
	t, err = c.Apply(ctx, t.ID, req.Actor)
	return c.endIfInterrupted(ctx, t, err)
}

// PlanRequest creates a task for a natural-language request and plans it
// with the configured planner (openai or contractor). The result enters the
// same path as a plan file: every step is re-validated against the base
// commit (red line 3), the MemoryPack is frozen and the plan stored and
// hashed by storePlan. A planner misconfiguration is an invalid error before
// any task exists.
func (c *Coordinator) PlanRequest(ctx context.Context, req NLRequest) (*agentos.Task, error) {
	text := strings.TrimSpace(req.Text)
	if text == "" {
		return nil, agentos.Errorf(agentos.EINVALID, "the request is empty: agentos run \"what to change\"")
	}
	pc := c.Config.Planner
	switch pc.Kind {
	case "", "file":
		return nil, agentos.Errorf(agentos.EINVALID, "%s", NoPlannerMessage())
	case "contractor":
	default:
		if _, err := c.modelPlanner(); err != nil {
			return nil, err
		}
	}
	mode := req.Mode
	if mode == "" {
		mode = agentos.ModeSemiAuto
		if c.Config.Modes.Default != "" {
			mode = agentos.Mode(c.Config.Modes.Default)
		}
	}
	target, _, err := c.targetAndBase(ctx)
	if err != nil {
		return nil, err
	}
	t := &agentos.Task{
		ID: NewID("t"), Mode: mode, Goal: firstLine(text), Request: text, Planner: pc.Kind,
		Submitter: req.Actor, Labels: req.Labels, Target: target, AutoApply: req.AutoApply,
	}
	if err := c.checkTaskInput(t, req.Values); err != nil {
		return nil, err // no task was created
	}
	values, err := c.startTask(ctx, t, req.Values, req.Actor)
	if err != nil {
		return c.endIfInterrupted(ctx, c.startedOrNot(ctx, t), err)
	}
	t, err = c.planRequest(ctx, t, values, req.Actor)
	return c.endIfInterrupted(ctx, t, err)
}

// planRequest (re)plans a natural-language task in state planning with the
// answers known so far; planFromSource sends tasks not planned from a file
// here, so `agentos answer` resumes them.
func (c *Coordinator) planRequest(ctx context.Context, t *agentos.Task, values map[string]string, actor agentos.Actor) (*agentos.Task, error) {
	// A raised budget is AgentOS's answer, not the task's: never a param
	// or a line of the model's prompt.
	values = budget.Without(values)
	// Model calls and contractors are children of the task's plan span.
	ctx = telemetry.TaskContext(ctx, t.ID)
	if values == nil {
		values = map[string]string{}
	}
	if t.Planner == PlannerSession {
		// The session's agent and the person who drove it are gone: there
		// is nobody to plan it again.
		return c.failPlanning(ctx, t, agentos.Errorf(agentos.ECONFLICT, "task %s is the work of an agent session, which cannot be re-planned: start a new `agentos session`", t.ID))
	}
	switch c.Config.Planner.Kind {
	case "", "file":
		return c.failPlanning(ctx, t, agentos.Errorf(agentos.EINVALID, "%s", NoPlannerMessage()))
	case "contractor":
		return c.planWithContractor(ctx, t, actor)
	}
	return c.planWithModel(ctx, t, values, actor)
}

func (c *Coordinator) planWithModel(ctx context.Context, t *agentos.Task, values map[string]string, actor agentos.Actor) (*agentos.Task, error) {
	pl, err := c.modelPlanner()
	if err != nil {
		return c.failPlanning(ctx, t, err)
	}
	_, base, err := c.targetAndBase(ctx)
	if err != nil {
		return c.failPlanning(ctx, t, err)
	}
	request := t.Request
	if len(values) > 0 {
		var b strings.Builder
		b.WriteString(request + "\n\nAnswers already given (do not ask these again):\n")
		for _, k := range sortedKeys(values) {
			fmt.Fprintf(&b, "- %s: %s\n", k, values[k])
		}
		request = b.String()
	}
	model := pl.Source().Model
	agent := agentos.Agent(c.Config.Planner.Kind + ":" + model)
	meter, err := c.budgetMeter(ctx, t, agent)
	if err != nil {
		return c.failPlanning(ctx, t, err)
	}
	// The planner checks the budget before each model call and records
	// each call's usage through the meter in its context.
	ctx = budget.WithMeter(ctx, meter)

	c.progress(ProgressEvent{Task: t.ID, Phase: "plan", What: "intent from " + model})
	intent, usage, err := pl.Intent(ctx, request)
	c.auditUsage(ctx, t, agent, usage)
	if err != nil {
		return c.failModel(ctx, t, agent, pl.LastAnswer(err), err)
	}
	intent.Version, intent.ID, intent.Task, intent.Request = agentos.DocVersion, NewID("i"), t.ID, t.Request
	if err := c.checkIntentText(&intent); err != nil {
		return c.failPlanning(ctx, t, err)
	}
	assumptions, err := c.resolveQuestions(ctx, t, unanswered(intent.OpenQuestions, values), values, actor)
	if err != nil || t.State != agentos.StatePlanning {
		return t, err
	}
	pack, err := c.buildMemoryPack(ctx, t, &intent)
	if err != nil {
		return c.failPlanning(ctx, t, err)
	}
	budget := pl.ContextBudget()
	rc, err := planner.BuildRepoContext(ctx, c.Repo.Dir(), base, intent.Scope, budget)
	if err != nil {
		return c.failPlanning(ctx, t, agentos.WrapError(agentos.EINTERNAL, err, "cannot read the repository for the planner: %v", err))
	}
	var steps []agentos.Step
	var checks []agentos.Check
	validate := func(p agentos.Plan) error {
		var err error
		steps, checks, err = c.validateSteps(ctx, base, rendered(p), intent.ID)
		return err
	}
	c.progress(ProgressEvent{Task: t.ID, Phase: "plan", What: "plan from " + model})
	proposed, qs, usage, err := pl.Plan(ctx, intent, *pack, rc, c.Config.Commands.Allow, validate)
	c.auditUsage(ctx, t, agent, usage)
	if err != nil {
		return c.failModel(ctx, t, agent, pl.LastAnswer(err), err)
	}
	more, err := c.resolveQuestions(ctx, t, unanswered(qs, values), values, actor)
	if err != nil || t.State != agentos.StatePlanning {
		return t, err
	}
	assumptions = append(assumptions, more...)
	for _, a := range assumptions {
		intent.Assumptions = append(intent.Assumptions, fmt.Sprintf("%s = %q (%s)", a.Question, a.Value, a.Why))
	}
	noteDefaultChecks(&intent, checks)
	intent.Hash = intent.ComputeHash()
	p := &agentos.Plan{
		Version: agentos.DocVersion, ID: NewID("p"), Task: t.ID, IntentID: intent.ID, Goal: proposed.Goal,
		BaseCommit: base, Target: t.Target, PolicyHash: c.Config.Hash, Params: values,
		Assumptions: assumptions, Steps: steps, Verify: checks, Source: proposed.Source,
	}
	return c.storePlan(ctx, t, &intent, p, pack, agent)
}

func (c *Coordinator) planWithContractor(ctx context.Context, t *agentos.Task, actor agentos.Actor) (*agentos.Task, error) {
	kc := c.Config.Planner.Contractor
	return c.planWithAgent(ctx, t, kc.Name, "contractor", func(intent agentos.Intent, pack *agentos.MemoryPack) contractor.Spec {
		return contractor.Spec{
			Name: kc.Name, Prompt: contractor.Prompt(intent) + memoryPrompt(pack),
			Argv: kc.Argv, Env: kc.Env, EnvPass: kc.EnvPass, Getenv: c.getenv,
			Network: kc.NetworkAllowed(), AllowTCP: kc.AllowTCP, Timeout: kc.RunTimeout(), Model: kc.Model,
		}
	})
}

// planWithAgent has an agent CLI work on the task on a layer of its own (a
// configured contractor, or a person's session: who), records its run and
// every tool decision in the task's audit, and turns what it changed into
// the task's plan, validated like any plan. spec gives what differs between
// contractors and sessions; the rest (base, rules, layer, sandbox policy,
// state directory) is filled in here, the same for both.
func (c *Coordinator) planWithAgent(ctx context.Context, t *agentos.Task, name, who string, spec func(agentos.Intent, *agentos.MemoryPack) contractor.Spec) (*agentos.Task, error) {
	_, base, err := c.targetAndBase(ctx)
	if err != nil {
		return c.failPlanning(ctx, t, err)
	}
	agent := agentos.Agent(who + ":" + name)
	intent := agentos.Intent{
		Version: agentos.DocVersion, ID: NewID("i"), Task: t.ID, Request: t.Request, Goal: t.Goal, Kind: "change",
		Scope: []string{}, Constraints: []string{}, Acceptance: []string{}, Assumptions: []string{}, Risk: "medium",
		OpenQuestions: []agentos.Question{}, Source: agentos.Source{Planner: who, Model: name},
	}
	// The contractor works with the MemoryPack the plan will pin (red line 1:
	// every execution carries one).
	pack, err := c.buildMemoryPack(ctx, t, &intent)
	if err != nil {
		return c.failPlanning(ctx, t, err)
	}
	transcript := &tailWriter{max: 4096, h: sha256.New()}
	engine, err := cmdrule.New(c.Config.Commands)
	if err != nil {
		return c.failPlanning(ctx, t, err)
	}
	// The contractor works on a copy-on-write layer over the shared base
	// checkout where tasks can (a full scratch worktree elsewhere).
	var layer *contractor.Layer
	where := "a scratch worktree"
	if c.overlayUnavailable() == "" {
		l, err := c.leaseBase(ctx, base)
		if err != nil {
			return c.failPlanning(ctx, t, err)
		}
		defer l.release()
		layer = &contractor.Layer{Lower: l.tree, Collect: func(ctx context.Context, upper, work string) ([]agentos.Step, error) {
			return c.layerSteps(ctx, l, upper, work, base, intent.ID)
		}}
		where = "a copy-on-write worktree"
	}
	meter, err := c.budgetMeter(ctx, t, agent)
	if err == nil {
		err = meter.Check(ctx) // a limit already reached: the agent does not start
	}
	if err != nil {
		return c.failPlanning(ctx, t, err)
	}
	c.progress(ProgressEvent{Task: t.ID, Phase: "plan", What: who + " " + name + " at work on " + where})
	cs := spec(intent, pack)
	actx, call := telemetry.Agent(ctx, name, cs.Model)
	cs.Env = withTraceparent(actx, cs.Env)
	cs.Repo, cs.Base, cs.IntentID = c.Repo.Dir(), base, intent.ID
	cs.Rules = contractor.Rules{Allow: c.Config.Commands.Allow, Engine: engine}
	cs.StateDir, cs.Require, cs.Policy, cs.Layer = c.StateDir+"/contractors", c.Config.Sandbox.Required(), c.confinement(), layer
	if cs.Terminal == nil {
		cs.Transcript = io.MultiWriter(c.Log, transcript)
	}
	// Each usage report is recorded as it is printed; a reached limit
	// stops the agent mid-run.
	var inTok, outTok int64
	cs.OnUsage = func(u agentos.ModelUsage) error {
		inTok, outTok = inTok+u.InputTokens+u.CacheReadTokens+u.CacheWriteTokens, outTok+u.OutputTokens
		if _, err := meter.Record(ctx, u); err != nil {
			return err
		}
		return meter.Check(ctx)
	}
	res, err := contractor.Run(ctx, cs)
	call.End(inTok, outTok, fmt.Sprintf("exit %d", res.ExitCode), err)
	// An agent's tool call is kept as evidence, its head redacted first.
	for i := range res.Commands {
		res.Commands[i].Command, res.Commands[i].Reason = c.recorded(res.Commands[i].Command), c.recorded(res.Commands[i].Reason)
	}
	evs := []agentos.EventInput{{Task: t.ID, Actor: agent, Kind: EventContractorRun, Data: agentos.ContractorRunEvent{
		Contractor: name, ExitCode: res.ExitCode, DurationMS: res.DurationMS, TimedOut: res.TimedOut,
		Unconfined: res.Unconfined, Steps: len(res.Steps), Commands: contractorCommands(res.Commands), Error: agentos.ErrorMessage(err),
		TranscriptDigest: "sha256:" + hex.EncodeToString(transcript.h.Sum(nil)), TranscriptTail: c.redactText(transcript.String())}}}
	for _, d := range res.Decisions {
		d.Command, d.Path, d.Reason = c.recorded(d.Command), c.recorded(d.Path), c.recorded(d.Reason)
		evs = append(evs, agentos.EventInput{Task: t.ID, Actor: agentos.System, Kind: EventContractorDecision, Data: agentos.ContractorDecisionEvent(d)})
	}
	if _, aerr := c.DB.Append(ctx, evs...); aerr != nil {
		return t, aerr
	}
	if err != nil {
		return c.failPlanning(ctx, t, err)
	}
	if len(res.Steps) == 0 {
		return c.failPlanning(ctx, t, agentos.Errorf(agentos.EFAILED, "%s %s changed nothing (exit %d, %d tool calls decided); see `agentos audit` for its decisions", who, name, res.ExitCode, len(res.Decisions)))
	}
	p := agentos.Plan{Steps: res.Steps}
	steps, checks, err := c.validateSteps(ctx, base, rendered(p), intent.ID)
	if err != nil {
		return c.failPlanning(ctx, t, agentos.WrapError(agentos.ErrorCode(err), err, "the changes of %s %s are refused: %s", who, name, agentos.ErrorMessage(err)))
	}
	scope := map[string]bool{}
	for _, s := range steps {
		for _, w := range s.Writes() {
			scope[w] = true
		}
	}
	for w := range scope {
		intent.Scope = append(intent.Scope, w)
	}
	sort.Strings(intent.Scope)
	noteDefaultChecks(&intent, checks)
	intent.Hash = intent.ComputeHash()
	plan := &agentos.Plan{
		Version: agentos.DocVersion, ID: NewID("p"), Task: t.ID, IntentID: intent.ID, Goal: t.Goal,
		BaseCommit: base, Target: t.Target, PolicyHash: c.Config.Hash, Params: map[string]string{},
		Steps: steps, Verify: checks, Source: who + ":" + name,
	}
	return c.storePlan(ctx, t, &intent, plan, pack, agent)
}

// memoryPrompt renders a MemoryPack for a contractor's prompt.
func memoryPrompt(pack *agentos.MemoryPack) string {
	if pack == nil || len(pack.Items) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n\nWhat this repository's people have recorded (MemoryPack %s); follow it:\n", pack.Hash)
	for _, it := range pack.Items {
		fmt.Fprintf(&b, "- [%s] %s (%s)\n", it.Kind, strings.TrimSpace(it.Text), it.Source)
	}
	return b.String()
}

// rendered turns a proposed plan into the raw form validateSteps checks, so
// that a model's or contractor's plan passes exactly the checks a plan file
// does (paths against the base commit, commands against the allowlist).
func rendered(p agentos.Plan) *planfile.Rendered {
	r := &planfile.Rendered{ByModel: true}
	for i, s := range p.Steps {
		rs := planfile.RawStep{Line: i + 1, Kind: s.Kind, Fields: map[string]string{}, Rationale: s.Rationale, Risk: s.Risk}
		switch s.Kind {
		case agentos.StepWrite:
			rs.Fields["path"], rs.Fields["content"] = s.Path, s.Content
		case agentos.StepDelete, agentos.StepMkdir:
			rs.Fields["path"] = s.Path
		case agentos.StepRename:
			rs.Fields["from"], rs.Fields["to"] = s.From, s.To
		case agentos.StepPatch:
			rs.Fields["diff"] = s.Diff
		case agentos.StepExec:
			rs.Argv = s.Argv
			rs.Writes = s.Paths
			if s.TimeoutMS > 0 {
				rs.Fields["timeout"] = (time.Duration(s.TimeoutMS) * time.Millisecond).String()
			}
		}
		r.Steps = append(r.Steps, rs)
	}
	for i, ch := range p.Verify {
		rc := planfile.RawCheck{Line: i + 1, Name: ch.Name, Argv: ch.Argv}
		if ch.TimeoutMS > 0 {
			rc.Timeout = (time.Duration(ch.TimeoutMS) * time.Millisecond).String()
		}
		r.Verify = append(r.Verify, rc)
	}
	return r
}

// failModel records the model's last unusable answer (for the ReviewPack
// reader, through the audit) and fails the task.
func (c *Coordinator) failModel(ctx context.Context, t *agentos.Task, agent agentos.Actor, last string, err error) (*agentos.Task, error) {
	if last != "" {
		if _, aerr := c.DB.Append(ctx, agentos.EventInput{Task: t.ID, Actor: agent, Kind: EventPlannerRefused,
			Data: agentos.PlannerRefusedEvent{Error: agentos.ErrorMessage(err), LastAnswer: c.recorded(last)}}); aerr != nil {
			return t, aerr
		}
	}
	return c.failPlanning(ctx, t, err)
}

// plannerRecords copies the planner's calls and its last unusable answer
// from the task's audit events into the ReviewPack.
func plannerRecords(rp *agentos.ReviewPack, evs []agentos.Event) {
	for _, e := range evs {
		switch e.Kind {
		case EventPlannerCall:
			var pc agentos.PlannerCall
			if json.Unmarshal(e.Data, &pc) == nil {
				rp.PlannerCalls = append(rp.PlannerCalls, pc)
			}
		case EventPlannerRefused:
			var r agentos.PlannerRefusedEvent
			if json.Unmarshal(e.Data, &r) == nil {
				rp.PlannerLastAnswer = r.LastAnswer
			}
		case EventContractorDecision:
			var d agentos.ContractorDecisionEvent
			if json.Unmarshal(e.Data, &d) == nil {
				rp.ToolDecisions = append(rp.ToolDecisions, d)
				if rp.ToolCounts == nil {
					rp.ToolCounts = &agentos.ToolDecisionCounts{}
				}
				rp.ToolCounts.Total++
				switch {
				case d.Allow:
					rp.ToolCounts.Allowed++
				case d.Ask:
					rp.ToolCounts.Asked++
				default:
					rp.ToolCounts.Denied++
				}
			}
		}
	}
}

func (c *Coordinator) auditUsage(ctx context.Context, t *agentos.Task, agent agentos.Actor, usage []agentos.PlannerCall) {
	var evs []agentos.EventInput
	for _, u := range usage {
		evs = append(evs, agentos.EventInput{Task: t.ID, Actor: agent, Kind: EventPlannerCall, Data: u})
	}
	if len(evs) > 0 {
		c.DB.Append(ctx, evs...)
	}
}

func (c *Coordinator) redactText(s string) string {
	if c.Redact != nil {
		return c.Redact(s)
	}
	return s
}

// getenv looks a variable up in the coordinator's environment.
func (c *Coordinator) getenv(name string) string {
	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v
		}
	}
	return ""
}

func unanswered(qs []agentos.Question, values map[string]string) []agentos.Question {
	var out []agentos.Question
	for _, q := range qs {
		if _, ok := values[q.ID]; !ok {
			out = append(out, q)
		}
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}

// withTraceparent adds TRACEPARENT (W3C trace context) to a contractor's
// environment when telemetry is on, so the agent CLI's own telemetry joins
// the task's trace.
func withTraceparent(ctx context.Context, env map[string]string) map[string]string {
	tp := telemetry.Traceparent(ctx)
	if tp == "" {
		return env
	}
	out := make(map[string]string, len(env)+1)
	for k, v := range env {
		out[k] = v
	}
	out["TRACEPARENT"] = tp
	return out
}
