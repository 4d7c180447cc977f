package coordinator

import (
	"context"
	"reflect"
	"slices"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/planfile"
	"github.com/agentos/agentos/telemetry"
)

// redactingStore is the one place free text from outside (goals, requests,
// reasons and error messages, command output, answers, model text, memory)
// is redacted on its way into the store; memory.Redacted is the same for
// the memory (remember, below; the CLI's memory verbs and memory serve). It wraps the coordinator's store
// (New installs it), so no pipeline path can write such text unredacted.
//
// Hashed artifacts (plan, intent, packs) are hashed by the store after this
// wrapper has redacted them: a plan's hash covers its goal as stored, that
// is redacted. What a plan changes is never altered: write content, patch
// diffs, argv, env and paths are the change itself (the secrets gate judges
// them, at plan time and on the final diff before commit). Audit event data
// is redacted by the store's own hook (cli wires it), also for events passed
// here.
type redactingStore struct {
	agentos.Store
	c *Coordinator
}

func (s *redactingStore) r(x string) string { return s.c.redact(x) }

func (s *redactingStore) rs(xs []string) {
	for i := range xs {
		xs[i] = s.r(xs[i])
	}
}

func (s *redactingStore) CreateTask(ctx context.Context, t *agentos.Task) error {
	t.Goal, t.Request, t.Reason = s.r(t.Goal), s.r(t.Request), s.r(t.Reason)
	t.SourcePath = s.r(t.SourcePath) // a client names it ("api:NAME")
	// Labels arrive from plan files, flags, the API and MCP clients; the
	// scheduler's rules read them as stored.
	t.Labels = slices.Clone(t.Labels)
	s.rs(t.Labels)
	t.Source = s.redactSource(t)
	return s.Store.CreateTask(ctx, t)
}

// redactSource redacts a stored plan file when that changes nothing the plan
// is built from (steps, checks, parameters): a secret in its goal or a
// comment goes, a secret in content stays (it is the change; the gate
// decides).
func (s *redactingStore) redactSource(t *agentos.Task) string {
	red := s.r(t.Source)
	if red == t.Source || (t.Planner != "" && t.Planner != "file") {
		return red
	}
	a, err1 := planfile.ParseString(t.Source)
	b, err2 := planfile.ParseString(red)
	if err1 != nil || err2 != nil {
		return t.Source
	}
	if reflect.DeepEqual(a.Steps, b.Steps) && reflect.DeepEqual(a.Verify, b.Verify) && reflect.DeepEqual(a.Params, b.Params) && a.Mode == b.Mode {
		return red
	}
	return t.Source
}

func (s *redactingStore) Transition(ctx context.Context, id string, from, to agentos.State, actor agentos.Actor, upd agentos.TaskUpdate, detail agentos.TransitionDetail, extra ...agentos.EventInput) (*agentos.Task, error) {
	if upd.Reason != nil {
		upd.Reason = agentos.Str(s.r(*upd.Reason))
	}
	if upd.Goal != nil {
		upd.Goal = agentos.Str(s.r(*upd.Goal))
	}
	nt, err := s.Store.Transition(ctx, id, from, to, actor, upd, detail, extra...)
	if err == nil {
		telemetry.Transition(ctx, from, nt) // every state change passes here
	}
	return nt, err
}

func (s *redactingStore) SavePlan(ctx context.Context, p *agentos.Plan, actor agentos.Actor) error {
	p.Goal, p.Source = s.r(p.Goal), s.r(p.Source)
	for k, v := range p.Params {
		p.Params[k] = s.r(v)
	}
	for i := range p.Assumptions {
		a := &p.Assumptions[i]
		a.Value, a.Why = s.r(a.Value), s.r(a.Why)
	}
	for i := range p.Steps {
		p.Steps[i].Rationale = s.r(p.Steps[i].Rationale)
	}
	return s.Store.SavePlan(ctx, p, actor)
}

func (s *redactingStore) SaveIntent(ctx context.Context, in *agentos.Intent) error {
	in.Request, in.Goal, in.Source.File = s.r(in.Request), s.r(in.Goal), s.r(in.Source.File)
	s.rs(in.Constraints)
	s.rs(in.Acceptance)
	s.rs(in.Assumptions)
	s.questions(in.OpenQuestions)
	return s.Store.SaveIntent(ctx, in)
}

func (s *redactingStore) questions(qs []agentos.Question) {
	for i := range qs {
		qs[i].Text, qs[i].Why = s.r(qs[i].Text), s.r(qs[i].Why)
	}
}

func (s *redactingStore) SaveMemoryPack(ctx context.Context, m *agentos.MemoryPack, actor agentos.Actor) error {
	m.Query.Text = s.r(m.Query.Text)
	for i := range m.Items {
		m.Items[i].Text = s.r(m.Items[i].Text)
	}
	return s.Store.SaveMemoryPack(ctx, m, actor)
}

func (s *redactingStore) AddRecord(ctx context.Context, task string, rec agentos.StepRecord, actor agentos.Actor) error {
	rec.Summary, rec.OutputTail = s.r(rec.Summary), s.r(rec.OutputTail)
	err := s.Store.AddRecord(ctx, task, rec, actor)
	if err == nil {
		telemetry.Record(ctx, task, rec)
	}
	return err
}

func (s *redactingStore) AddPatch(ctx context.Context, run string, p agentos.PatchRecord) error {
	p.Diff = s.r(p.Diff) // DiffHash stays the hash of the real diff
	return s.Store.AddPatch(ctx, run, p)
}

func (s *redactingStore) SaveGateDecisions(ctx context.Context, task, planHash string, ds []agentos.GateDecision, actor agentos.Actor) error {
	for i := range ds {
		ds[i].Reason = s.r(ds[i].Reason)
	}
	err := s.Store.SaveGateDecisions(ctx, task, planHash, ds, actor)
	if err == nil {
		telemetry.Gate(ctx, task, planHash, ds)
	}
	return err
}

func (s *redactingStore) SaveQuestionPack(ctx context.Context, q *agentos.QuestionPack) error {
	s.questions(q.Questions)
	return s.Store.SaveQuestionPack(ctx, q)
}

// SaveAnswerPack stores answers redacted. The run that received them plans
// with the values as given; a later re-plan reads them back redacted, so a
// secret a plan needs verbatim belongs in its content, where the gate sees it.
func (s *redactingStore) SaveAnswerPack(ctx context.Context, task string, a *agentos.AnswerPack) error {
	for i := range a.Answers {
		a.Answers[i].Value, a.Answers[i].Note = s.r(a.Answers[i].Value), s.r(a.Answers[i].Note)
	}
	return s.Store.SaveAnswerPack(ctx, task, a)
}

func (s *redactingStore) RecordApproval(ctx context.Context, a agentos.Approval, decide func(active []agentos.Approval) (bool, error), evs ...agentos.EventInput) error {
	a.Comment, a.Cleared = s.r(a.Comment), s.r(a.Cleared)
	return s.Store.RecordApproval(ctx, a, decide, evs...)
}

// remember adds an item the pipeline remembers (answers, lessons),
// redacted as memory.Redacted redacts every item, whatever memory service
// keeps it.
func (c *Coordinator) remember(ctx context.Context, it agentos.MemoryItem) (agentos.MemoryItem, error) {
	return c.Memory.Add(ctx, memory.RedactItem(it, c.redact))
}
