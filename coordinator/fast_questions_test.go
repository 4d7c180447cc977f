package coordinator_test

import (
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
)

const releasePlan = `version: 1
goal: Cut a release
params:
  - {id: version, question: "Which version?", kind: text, blocker: true, durable: true}
  - {id: channel, question: "Which channel?", kind: choice, options: [stable, beta], default: stable, blocker: false}
steps:
  - write: {path: VERSION, content: "{{ .params.version }} {{ .params.channel }}\n"}
    template: true
verify:
  - argv: ["true"]
`

const manyPlan = `version: 1
goal: four blockers
params:
  - {id: a, question: "A?"}
  - {id: b, question: "B?"}
  - {id: c, question: "C?", kind: choice, options: ["yes", "no"]}
  - {id: d, question: "D?", kind: path}
steps:
  - write: {path: MANY, content: "{{ .params.a }} {{ .params.b }} {{ .params.c }} {{ .params.d }}\n"}
    template: true
verify:
  - argv: [grep, -q, " ", MANY]
`

// TestFastQuestionsSemiAuto: a blocker question blocks the task with a
// QuestionPack; answers that are not for the current pack, name unknown
// questions, leave the blocker empty or come from an agent change nothing;
// a valid AnswerPack re-plans and (for a run) applies it, and the answer is
// remembered.
func TestFastQuestionsSemiAuto(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	ctx := t.Context()
	task, err := f.plan("release.yaml", releasePlan, agentos.ModeSemiAuto, true, nil)
	wantErr(t, err, agentos.EBLOCKED, "waits on 1 question(s): version (Which version)", "planning with an open blocker")
	task = f.wantState(task.ID, agentos.StateBlocked)
	qp, err := f.db.LatestQuestionPack(ctx, task.ID)
	if err != nil || len(qp.Questions) != 1 || qp.Questions[0].ID != "version" || qp.Budget.Used != 1 || qp.Budget.Limit != 3 {
		t.Fatalf("QuestionPack = %+v, %v", qp, err)
	}
	if evs := f.events(task.ID, agentos.EventQuestions); len(evs) != 1 {
		t.Fatalf("%d questions events, want 1", len(evs))
	}
	_, err = f.c.Apply(ctx, task.ID, agentos.Human("ann"))
	wantCode(t, err, agentos.EBLOCKED, "apply of a blocked task")

	good := agentos.AnswerPack{Pack: qp.ID, PackHash: qp.Hash, Answers: []agentos.Answer{{Question: "version", Value: "1.4.0"}}}
	bad := func(mod func(*agentos.AnswerPack)) agentos.AnswerPack {
		ap := good
		ap.Answers = append([]agentos.Answer{}, good.Answers...)
		mod(&ap)
		return ap
	}
	for _, tc := range []struct {
		name  string
		ap    agentos.AnswerPack
		actor agentos.Actor
		code  string
		says  string
	}{
		{"another pack", bad(func(a *agentos.AnswerPack) { a.Pack = "q-old" }), agentos.Human("ann"), agentos.EINVALID, "answers QuestionPack q-old"},
		{"an outdated hash", bad(func(a *agentos.AnswerPack) { a.PackHash = "sha256:old" }), agentos.Human("ann"), agentos.EINVALID, "fetch the current one"},
		{"an unknown question", bad(func(a *agentos.AnswerPack) { a.Answers[0].Question = "nope" }), agentos.Human("ann"), agentos.EINVALID, `unknown question "nope"`},
		{"an empty blocker", bad(func(a *agentos.AnswerPack) { a.Answers[0].Value = "" }), agentos.Human("ann"), agentos.EINVALID, "is a blocker question"},
		{"a question twice", bad(func(a *agentos.AnswerPack) { a.Answers = append(a.Answers, a.Answers[0]) }), agentos.Human("ann"), agentos.EINVALID, "answered twice"},
		{"no answer to the blocker", bad(func(a *agentos.AnswerPack) { a.Answers = nil }), agentos.Human("ann"), agentos.EINVALID, `blocker question "version" is unanswered`},
		{"an agent", good, agentos.Actor("agent:planner"), agentos.EDENIED, "only a human may"},
	} {
		_, err := f.c.Answer(ctx, task.ID, tc.ap, unsigned(tc.actor))
		wantErr(t, err, tc.code, tc.says, "answer with "+tc.name)
	}
	f.wantState(task.ID, agentos.StateBlocked)
	if aps, _ := f.db.AnswerPacks(ctx, task.ID); len(aps) != 0 {
		t.Fatalf("refused answers were stored: %+v", aps)
	}

	done, err := f.c.Answer(ctx, task.ID, good, unsigned(agentos.Human("ann")))
	if err != nil || done.State != agentos.StateCommitted {
		t.Fatalf("Answer = %+v, %v; want committed", done, err)
	}
	if got, _ := f.onMain("VERSION"); got != "1.4.0 stable\n" {
		t.Fatalf("VERSION on main = %q: the answer or the non-blocker's default was lost", got)
	}
	aps, _ := f.db.AnswerPacks(ctx, task.ID)
	if len(aps) != 1 || aps[0].Who != agentos.Human("ann") || aps[0].Hash == "" {
		t.Fatalf("stored AnswerPacks = %+v", aps)
	}
	if evs := f.events(task.ID, agentos.EventAnswers); len(evs) != 1 || evs[0].Actor != agentos.Human("ann") {
		t.Fatalf("answers events = %+v", evs)
	}
	if plans, _ := f.db.PlansOf(ctx, task.ID); len(plans) != 1 {
		t.Fatalf("plans after the answer = %v, want the one plan made with it", plans)
	}
	// Remembered once committed: the durable answer, by who gave it; the
	// channel (not durable, and only assumed) is not.
	f.mem.mu.Lock()
	added := append([]agentos.MemoryItem{}, f.mem.added...)
	f.mem.mu.Unlock()
	if len(added) != 1 || added[0].Kind != agentos.MemoryAnswer || added[0].Text != "Which version? 1.4.0" || added[0].Author != "human:ann" {
		t.Fatalf("memory was given %+v, want the one durable answer by human:ann", added)
	}
	_, err = f.c.Answer(ctx, task.ID, good, unsigned(agentos.Human("ann")))
	wantErr(t, err, agentos.ECONFLICT, "not blocked", "answer to a committed task")
	f.verifyChain()
}

// TestFastQuestionBudget: semi_auto refuses more blockers than its budget
// and full_auto refuses any question (red line 2): both fail the task with
// a ReviewPack instead of blocking; answers given up front spend nothing.
func TestFastQuestionBudget(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	task, err := f.plan("many.yaml", manyPlan, agentos.ModeSemiAuto, false, nil)
	wantErr(t, err, agentos.EFAILED, "4 blocker question(s) exceed the semi_auto question budget of 3", "four blockers in semi_auto")
	f.wantState(task.ID, agentos.StateFailed)
	if _, d := f.lastTransition(task.ID); d["phase"] != "plan" {
		t.Fatalf("failed planning transition data %v", d)
	}
	f.wantReview(task.ID, agentos.StateFailed)

	task, err = f.plan("release.yaml", releasePlan, agentos.ModeFullAuto, false, nil)
	// Only the blocker is a question: channel (blocker: false, default
	// stable) takes its declared default.
	wantErr(t, err, agentos.EFAILED, "full_auto allows no questions: version (", "questions in full_auto")
	f.wantState(task.ID, agentos.StateFailed)
	if _, err := f.db.LatestQuestionPack(t.Context(), task.ID); agentos.ErrorCode(err) != agentos.ENOTFOUND {
		t.Fatalf("full_auto stored a QuestionPack: %v", err)
	}

	task, err = f.plan("release.yaml", releasePlan, agentos.ModeFullAuto, true, map[string]string{"version": "2.0.0"})
	if err != nil || task.State != agentos.StateCommitted {
		t.Fatalf("full_auto with the blocker answered up front = %+v, %v (the non-blocker takes its default)", task, err)
	}
	if p, _, err := f.db.Plan(t.Context(), task.PlanID); err != nil || p.Params["channel"] != "stable" || len(p.Assumptions) != 1 || p.Assumptions[0].Question != "channel" {
		t.Fatalf("full_auto plan params/assumptions = %+v, %v; want channel assumed as stable", p, err)
	}

	task, err = f.plan("many.yaml", manyPlan, agentos.ModeFullAuto, true, map[string]string{"a": "1", "b": "2", "c": "yes", "d": "docs"})
	if err != nil || task.State != agentos.StateCommitted {
		t.Fatalf("full_auto with every answer up front = %+v, %v", task, err)
	}
	if got, _ := f.onMain("MANY"); got != "1 2 yes docs\n" {
		t.Fatalf("MANY = %q", got)
	}
	aps, _ := f.db.AnswerPacks(t.Context(), task.ID)
	if len(aps) != 1 || aps[0].Pack != coordinator.UpfrontPack {
		t.Fatalf("up-front answers stored as %+v", aps)
	}
}

// TestFastUpfrontValuesRefused: a value for an undeclared param or one
// invalid for its kind is refused before any task exists.
func TestFastUpfrontValuesRefused(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	for _, tc := range []struct {
		values map[string]string
		says   string
	}{
		{map[string]string{"undeclared": "1"}, `the plan declares no param "undeclared"`},
		{map[string]string{"c": "maybe"}, `"maybe" is not one of yes, no`},
		{map[string]string{"d": "../etc"}, `answer to "d"`},
	} {
		_, err := f.plan("many.yaml", manyPlan, agentos.ModeSemiAuto, false, tc.values)
		wantErr(t, err, agentos.EINVALID, tc.says, "up-front values")
	}
	if ts, _ := f.db.Tasks(t.Context(), agentos.TaskFilter{}); len(ts) != 0 {
		t.Fatalf("refused plans created tasks: %+v", ts)
	}
}

func TestFastValidateAnswer(t *testing.T) {
	choice := agentos.Question{ID: "c", Kind: agentos.KindChoice, Options: []string{"yes", "no"}}
	boolean := agentos.Question{ID: "b", Kind: agentos.KindBool}
	path := agentos.Question{ID: "p", Kind: agentos.KindPath}
	blocker := agentos.Question{ID: "x", Kind: agentos.KindText, Blocker: true}
	for _, tc := range []struct {
		q  agentos.Question
		v  string
		ok bool
	}{
		{choice, "yes", true}, {choice, "maybe", false},
		{boolean, "true", true}, {boolean, "false", true}, {boolean, "1", false},
		{path, "docs/a.md", true}, {path, "../etc", false}, {path, "/etc/passwd", false},
		{blocker, "", false}, {blocker, "v", true},
		{agentos.Question{ID: "y", Kind: agentos.KindText}, "", true},
	} {
		err := coordinator.ValidateAnswer(tc.q, tc.v)
		if (err == nil) != tc.ok || (err != nil && agentos.ErrorCode(err) != agentos.EINVALID) {
			t.Errorf("ValidateAnswer(%s %s, %q) = %v, want ok=%v", tc.q.Kind, tc.q.ID, tc.v, err, tc.ok)
		}
	}
}

type recordingPrompter struct{ shown []agentos.Question }

func (p *recordingPrompter) Ask(q agentos.Question) (string, error) {
	p.shown = append(p.shown, q)
	return "1.0.0", nil
}

// TestFastPrompterSeesRedactedQuestions: an interactive question is shown
// redacted: its text comes from a plan or a model, and the terminal is a
// place text is printed.
func TestFastPrompterSeesRedactedQuestions(t *testing.T) {
	f := newFixture(t, fastPolicy, nil)
	p := &recordingPrompter{}
	f.c.Prompter = p
	body := strings.Replace(releasePlan, `question: "Which version?"`, `question: "Which version? (token ghp_R8xQ2mK9vL4nP7tY1wE5zC3bH6jF0dS8aG2u)"`, 1)
	if _, err := f.plan("release.yaml", body, agentos.ModeInteractive, false, nil); err != nil {
		t.Fatal(err)
	}
	if len(p.shown) == 0 {
		t.Fatal("no question was asked")
	}
	for _, q := range p.shown {
		if strings.Contains(q.Text, "ghp_R8xQ2mK9") {
			t.Errorf("the terminal was shown %q", q.Text)
		}
	}
	if !strings.Contains(p.shown[0].Text, "[REDACTED:github-token]") {
		t.Errorf("question shown as %q", p.shown[0].Text)
	}
}
