package coordinator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/budget"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/planfile"
	"github.com/agentos/agentos/workspace"
)

// UpfrontPack is the Pack field of an AnswerPack given before any question
// was asked (--set, --answers at run): answered, and spending no budget.
const UpfrontPack = "upfront"

// checkValues refuses values for undeclared params or invalid for their kind.
func checkValues(f *planfile.File, values map[string]string, root string) error {
	byID := map[string]agentos.Question{}
	for _, p := range f.Params {
		byID[p.ID] = p.AsQuestion()
	}
	for _, id := range sortedKeys(values) {
		q, ok := byID[id]
		if !ok {
			return agentos.Errorf(agentos.EINVALID, "--set %s: the plan declares no param %q (declared: %s)", id, id, strings.Join(sortedKeys(byID), ", "))
		}
		if err := ValidateAnswer(q, values[id]); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// ValidateAnswer checks a value against its question's kind. An empty
// answer to a blocker is no answer.
func ValidateAnswer(q agentos.Question, v string) error {
	if v == "" && q.Blocker {
		return agentos.Errorf(agentos.EINVALID, "answer to %q is empty: it is a blocker question (%s)", q.ID, q.Text)
	}
	switch q.Kind {
	case agentos.KindChoice:
		if !slices.Contains(q.Options, v) {
			return agentos.Errorf(agentos.EINVALID, "answer to %q: %q is not one of %s", q.ID, v, strings.Join(q.Options, ", "))
		}
	case agentos.KindBool:
		if v != "true" && v != "false" {
			return agentos.Errorf(agentos.EINVALID, "answer to %q: %q is not a bool (true or false)", q.ID, v)
		}
	case agentos.KindPath:
		if _, err := workspace.Clean(v); err != nil {
			return agentos.Errorf(agentos.EINVALID, "answer to %q: %s", q.ID, agentos.ErrorMessage(err))
		}
	}
	return nil
}

// resolveQuestions applies the mode's rules to open questions. It fills
// values for answered or assumed questions and returns the assumptions; when
// questions must be asked and cannot be asked here, it blocks the task (state
// blocked, an EBLOCKED error); when the mode forbids them, it fails the task.
func (c *Coordinator) resolveQuestions(ctx context.Context, t *agentos.Task, questions []agentos.Question, values map[string]string, actor agentos.Actor) ([]agentos.Assumption, error) {
	if len(questions) == 0 {
		return nil, nil
	}
	if err := c.checkQuestionText(questions); err != nil {
		_, err = c.failPlanning(ctx, t, err)
		return nil, err
	}
	budget := c.Config.QuestionBudget(t.Mode)
	ids := func(qs []agentos.Question) string {
		var s []string
		for _, q := range qs {
			s = append(s, q.ID)
		}
		return strings.Join(s, ", ")
	}
	var assumptions []agentos.Assumption
	var ask []agentos.Question
	switch t.Mode {
	case agentos.ModeFullAuto:
		// Red line 2: budget is zero, so any blocker fails the task; never
		// block, never guess. A non-blocker takes the default its plan
		// declared (not a guess: the author's own answer), as an assumption.
		for _, q := range questions {
			if q.Blocker {
				ask = append(ask, q)
			}
		}
		if len(ask) > 0 {
			_, err := c.failPlanning(ctx, t, agentos.Errorf(agentos.EFAILED,
				"full_auto allows no questions: %s (answer them up front with --set ID=VALUE, or use --mode semi_auto or interactive)", ids(ask)))
			return nil, err
		}
		for _, q := range questions {
			values[q.ID] = q.Default
			assumptions = append(assumptions, agentos.Assumption{Question: q.ID, Value: q.Default, Why: "full_auto: non-blocker param takes the default its plan declared"})
		}
		return assumptions, nil
	case agentos.ModeSemiAuto:
		for _, q := range questions {
			if q.Blocker {
				ask = append(ask, q)
				continue
			}
			values[q.ID] = q.Default
			assumptions = append(assumptions, agentos.Assumption{Question: q.ID, Value: q.Default, Why: "semi_auto: non-blocker question answered by its default"})
		}
		used := c.questionsAsked(ctx, t.ID)
		if len(ask) > 0 && used+len(ask) > budget {
			_, err := c.failPlanning(ctx, t, agentos.Errorf(agentos.EFAILED,
				"%d blocker question(s) exceed the semi_auto question budget of %d (%d already asked): %s; answer them up front with --set ID=VALUE, or use --mode interactive",
				len(ask), budget, used, ids(ask)))
			return nil, err
		}
	default:
		ask = questions
	}
	if len(ask) == 0 {
		return assumptions, nil
	}
	if c.Prompter != nil && t.Mode == agentos.ModeInteractive {
		ap := agentos.AnswerPack{Version: agentos.DocVersion, Pack: "interactive", Who: actor, When: c.Now().UTC()}
		for _, q := range ask {
			// What the terminal shows is redacted (a plan's or a model's
			// question text); options and default stay: they are values.
			shown := q
			shown.Text, shown.Why = c.redact(q.Text), c.redact(q.Why)
			v, err := c.Prompter.Ask(shown)
			if err != nil {
				return nil, agentos.WrapError(agentos.EINVALID, err, "question %s: %v", q.ID, err)
			}
			if err := c.checkAnswers(map[string]string{q.ID: v}); err != nil {
				return nil, err
			}
			values[q.ID] = v
			ap.Answers = append(ap.Answers, agentos.Answer{Question: q.ID, Value: v})
		}
		if err := c.recordAnswers(ctx, t, &ap, ask, actor, nil, ""); err != nil {
			return nil, err
		}
		return assumptions, nil
	}
	limit := budget
	qp := &agentos.QuestionPack{
		Version: agentos.DocVersion, ID: NewID("q"), Task: t.ID, Mode: t.Mode,
		Budget:    agentos.Budget{Limit: limit, Used: c.questionsAsked(ctx, t.ID) + len(ask)},
		Questions: ask, CreatedAt: c.Now().UTC(),
	}
	if err := c.DB.SaveQuestionPack(ctx, qp); err != nil {
		return nil, err
	}
	reason := fmt.Sprintf("%d question(s): %s", len(ask), ids(ask))
	if _, err := c.DB.Transition(ctx, t.ID, t.State, agentos.StateBlocked, agentos.System, agentos.TaskUpdate{Reason: &reason},
		agentos.TransitionDetail{QuestionPack: qp.ID},
		agentos.EventInput{Task: t.ID, Actor: agentos.System, Kind: agentos.EventQuestions, Data: agentos.QuestionsEvent{Pack: qp.ID, Hash: qp.Hash, Questions: questionIDs(ask), Budget: qp.Budget}}); err != nil {
		return nil, err
	}
	nt, err := c.DB.Task(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	*t = *nt
	var sets []string
	for _, q := range ask {
		sets = append(sets, "--set "+q.ID+"=…")
	}
	return nil, agentos.Errorf(agentos.EBLOCKED, "task %s waits on %d question(s): %s; see `agentos questions %s`, answer with `agentos answer %s %s`",
		t.ID, len(ask), questionList(ask), t.ID, t.ID, strings.Join(sets, " "))
}

func questionList(qs []agentos.Question) string {
	var parts []string
	for _, q := range qs {
		parts = append(parts, fmt.Sprintf("%s (%s)", q.ID, strings.TrimSuffix(q.Text, "?")))
	}
	return strings.Join(parts, ", ")
}

// questionsAsked counts questions already put to a person for this task.
func (c *Coordinator) questionsAsked(ctx context.Context, task string) int {
	qp, err := c.DB.LatestQuestionPack(ctx, task)
	if err != nil {
		return 0
	}
	return qp.Budget.Used
}

// recordAnswers stores an accepted AnswerPack and audits who answered. The
// answers are this task's: they become memory only if the task commits and
// their question is durable (rememberAnswers).
func (c *Coordinator) recordAnswers(ctx context.Context, t *agentos.Task, ap *agentos.AnswerPack, qs []agentos.Question, actor agentos.Actor, signed *agentos.SignedStatement, osUser string) error {
	if err := c.DB.SaveAnswerPack(ctx, t.ID, ap); err != nil {
		return err
	}
	var ids []string
	for _, a := range ap.Answers {
		ids = append(ids, a.Question)
	}
	if _, err := c.DB.Append(ctx, agentos.EventInput{Task: t.ID, Actor: actor, Kind: agentos.EventAnswers,
		Data: agentos.AnswersEvent{Pack: ap.Pack, AnswerPack: ap.Hash, Who: ap.Who, Answers: ids, Signed: signed, OSUser: osUser}}); err != nil {
		return err
	}
	return nil
}

// answerKeeper is the part of the memory that lets a new answer supersede
// the last one to the same question (the memory package's Service).
type answerKeeper interface {
	List(ctx context.Context, f memory.ListFilter) ([]agentos.MemoryItem, error)
	Edit(ctx context.Context, id, text, actor string) (agentos.MemoryItem, error)
}

func answerValues(ap agentos.AnswerPack) map[string]string {
	m := make(map[string]string, len(ap.Answers))
	for i, a := range ap.Answers {
		if _, dup := m[a.Question]; dup {
			m[fmt.Sprintf("%s#%d", a.Question, i)] = a.Value
			continue
		}
		m[a.Question] = a.Value
	}
	return m
}

// internalQuestions are asked by AgentOS itself about one run; their
// answers are never memory, whatever a pack says.
var internalQuestions = map[string]bool{"rebase_conflict": true}

// rememberAnswers, once t has committed, remembers the answers to its
// durable questions (the plan file's params with durable: true, or asked
// questions marked durable), each the latest a person gave, as items of
// kind answer by that person. An answer already remembered for the same
// question is superseded, so memory holds one answer per question.
// Best effort, as the task is already committed: a failure is reported
// through progress, never undoes the commit.
func (c *Coordinator) rememberAnswers(ctx context.Context, t *agentos.Task) {
	if c.Memory == nil || t.State != agentos.StateCommitted {
		return
	}
	packs, err := c.DB.AnswerPacks(ctx, t.ID)
	if err != nil || len(packs) == 0 {
		return // nothing answered: the plan file need not be read again
	}
	durable := map[string]agentos.Question{}
	if t.Planner == "file" {
		if src, err := c.taskSource(ctx, t); err == nil && src != "" {
			if f, err := planfile.ParseString(src); err == nil {
				for _, p := range f.Params {
					if q := p.AsQuestion(); q.Durable {
						durable[q.ID] = q
					}
				}
			}
		}
	}
	if qp, err := c.DB.LatestQuestionPack(ctx, t.ID); err == nil {
		for _, q := range qp.Questions {
			if q.Durable {
				durable[q.ID] = q
			}
		}
	}
	if len(durable) == 0 {
		return
	}
	type given struct {
		value string
		who   agentos.Actor
	}
	latest := map[string]given{}
	for _, ap := range packs { // oldest first: later answers win
		for _, a := range ap.Answers {
			if _, ok := durable[a.Question]; ok && !internalQuestions[a.Question] && ap.Who.IsHuman() {
				latest[a.Question] = given{a.Value, ap.Who}
			}
		}
	}
	for _, id := range sortedKeys(latest) {
		g, q := latest[id], durable[id]
		text := c.redact(fmt.Sprintf("%s %s", strings.TrimSpace(q.Text), g.value))
		tag := "question:" + id
		var old []agentos.MemoryItem
		keeper, ok := c.Memory.(answerKeeper)
		if ok {
			old, _ = keeper.List(ctx, memory.ListFilter{Kind: agentos.MemoryAnswer, Tag: tag, Limit: 1})
		}
		var err error
		switch {
		case len(old) > 0 && old[0].Text == text:
			continue
		case len(old) > 0:
			_, err = keeper.Edit(ctx, old[0].ID, text, string(g.who))
		default:
			_, err = c.Memory.Add(ctx, agentos.MemoryItem{Kind: agentos.MemoryAnswer, Text: text, Scope: []string{}, Tags: []string{"answer", tag},
				Source: "task " + t.ID, Author: string(g.who), Confidence: 1})
		}
		if err != nil {
			c.progress(ProgressEvent{Task: t.ID, Phase: "memory", What: "remember answer " + id + ": " + agentos.ErrorMessage(err), Done: true})
		}
	}
}

// Answer accepts an AnswerPack for a blocked task and resumes it: a new plan
// (new hash; the old one is kept) and, for run/submit tasks, on to apply.
// It refuses with nothing changed when the pack answers another or an
// outdated QuestionPack, leaves a blocker unanswered, gives an invalid value,
// names an unknown question, or the task is not blocked.
func (c *Coordinator) Answer(ctx context.Context, taskID string, ap agentos.AnswerPack, who approval.Identity) (*agentos.Task, error) {
	// Stopped while re-planning (a contractor at work) or waiting to run,
	// the task is cancelled with its ReviewPack, never left planning.
	t, err := c.answer(ctx, taskID, ap, who)
	return c.endIfInterrupted(ctx, t, err)
}

func (c *Coordinator) answer(ctx context.Context, taskID string, ap agentos.AnswerPack, who approval.Identity) (*agentos.Task, error) {
	actor := who.Actor
	if !actor.IsHuman() {
		return nil, agentos.Errorf(agentos.EDENIED, "%s cannot answer questions: only a human may", actor)
	}
	if _, ok := actor.HumanName(); !ok {
		return nil, agentos.Errorf(agentos.EDENIED, "%q cannot answer questions: it is not a person's name", actor)
	}
	keys, err := c.Config.Keyring()
	if err != nil {
		return nil, agentos.WrapError(agentos.EINVALID, err, "signers: %v", err)
	}
	if keys.Len() > 0 && !who.Signed() {
		return nil, agentos.Errorf(agentos.EDENIED, "%s cannot answer unsigned: the policy lists signers, so answers must be signed with a listed key (ssh-agent or --signing-key)", actor)
	}
	t, err := c.DB.Task(ctx, taskID)
	if err != nil {
		return nil, err
	}
	if t.State != agentos.StateBlocked {
		return nil, agentos.Errorf(agentos.ECONFLICT, "task %s is %s, not blocked: there is nothing to answer", t.ID, t.State)
	}
	qp, err := c.DB.LatestQuestionPack(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	if ap.Pack != qp.ID || ap.PackHash != qp.Hash {
		return nil, agentos.Errorf(agentos.EINVALID, "the AnswerPack answers QuestionPack %s (%s), but task %s waits on %s (%s): fetch the current one with `agentos questions %s`",
			orNone(ap.Pack), orNone(ap.PackHash), t.ID, qp.ID, qp.Hash, t.ID)
	}
	byID := map[string]agentos.Question{}
	for _, q := range qp.Questions {
		byID[q.ID] = q
	}
	given := map[string]string{}
	if err := c.checkAnswerPack(ap); err != nil {
		return nil, err
	}
	for _, a := range ap.Answers {
		q, ok := byID[a.Question]
		if !ok {
			return nil, agentos.Errorf(agentos.EINVALID, "answer to unknown question %q (the pack asks: %s)", a.Question, strings.Join(sortedKeys(byID), ", "))
		}
		if _, dup := given[a.Question]; dup {
			return nil, agentos.Errorf(agentos.EINVALID, "question %q answered twice", a.Question)
		}
		if err := ValidateAnswer(q, a.Value); err != nil {
			return nil, err
		}
		if budget.IsQuestion(q.ID) {
			if err := c.checkRaise(ctx, t, q.ID, a.Value); err != nil {
				return nil, err
			}
		}
		given[a.Question] = a.Value
	}
	for _, q := range qp.Questions {
		if _, ok := given[q.ID]; !ok && q.Blocker {
			return nil, agentos.Errorf(agentos.EINVALID, "blocker question %q is unanswered: %s", q.ID, q.Text)
		}
	}
	ap.Version = agentos.DocVersion
	ap.Who = actor
	if ap.When.IsZero() {
		ap.When = c.Now().UTC()
	}
	signed, err := who.SignStatement(c.answerStatement(t, qp, ap), c.Now())
	if err != nil {
		return nil, err
	}
	if err := c.recordAnswers(ctx, t, &ap, qp.Questions, actor, signed, who.OSUser); err != nil {
		return nil, err
	}
	if _, err := c.transition(ctx, t, agentos.StatePlanning, actor, agentos.TaskUpdate{Reason: agentos.Str("")}, agentos.TransitionDetail{AnswerPack: ap.Hash}); err != nil {
		return nil, err
	}
	values, err := c.answeredValues(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	// Stored answers are redacted; this plan uses the values as given.
	maps.Copy(values, given)
	// Unanswered non-blockers of this pack take their defaults.
	for _, q := range qp.Questions {
		if _, ok := values[q.ID]; !ok {
			values[q.ID] = q.Default
		}
	}
	if _, err := c.planFromSource(ctx, t, values, actor); err != nil {
		return t, err
	}
	switch {
	case t.AutoApply && t.State == agentos.StatePlanned:
		return c.Apply(ctx, t.ID, actor)
	case t.AutoQueue && t.State == agentos.StatePlanned:
		// A submitted task goes back through the gates to the queue, where
		// a worker picks it up.
		return t, c.Gate(ctx, t, actor)
	}
	return t, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// answeredValues merges every accepted AnswerPack of a task, in order.
func (c *Coordinator) answeredValues(ctx context.Context, task string) (map[string]string, error) {
	aps, err := c.DB.AnswerPacks(ctx, task)
	if err != nil {
		return nil, err
	}
	values := map[string]string{}
	for _, ap := range aps {
		for _, a := range ap.Answers {
			values[a.Question] = a.Value
		}
	}
	return values, nil
}

// questionIDs are the ids of qs, for the questions.asked event.
func questionIDs(qs []agentos.Question) []string {
	out := make([]string, 0, len(qs))
	for _, q := range qs {
		out = append(out, q.ID)
	}
	return out
}
