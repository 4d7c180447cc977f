package coordinator

import (
	"context"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/planner"
)

// fakeModel is a ModelPlanner that answers from memory: the pipeline plans
// through the interface it declares, with no model SDK behind it.
type fakeModel struct{ calls int }

func (m *fakeModel) Source() agentos.Source {
	return agentos.Source{Planner: "openai", Model: "fake-model"}
}

func (m *fakeModel) Intent(ctx context.Context, request string) (agentos.Intent, []agentos.PlannerCall, error) {
	m.calls++
	return agentos.Intent{Goal: "add notes", Kind: "chore", Scope: []string{"NOTES.md"}, Risk: "low", Source: m.Source()},
		[]agentos.PlannerCall{{Call: "intent", Attempt: 1, Model: "fake-model", Outcome: "ok"}}, nil
}

func (m *fakeModel) Plan(ctx context.Context, intent agentos.Intent, pack agentos.MemoryPack, repo planner.RepoContext, allowed []string, validate func(agentos.Plan) error) (agentos.Plan, []agentos.Question, []agentos.PlannerCall, error) {
	m.calls++
	p := agentos.Plan{Goal: "add notes", Source: "openai:fake-model", Steps: []agentos.Step{{Kind: agentos.StepWrite, Path: "NOTES.md", Content: "notes\n"}}}
	return p, nil, []agentos.PlannerCall{{Call: "plan", Attempt: 1, Model: "fake-model", Outcome: "ok"}}, validate(p)
}

func (m *fakeModel) ContextBudget() int          { return 1000 }
func (m *fakeModel) LastAnswer(err error) string { return "" }

func TestPlanRequestThroughModelPlanner(t *testing.T) {
	c, _ := gateCoordinator(t)
	ctx := t.Context()
	cfg, err := config.Parse([]byte(gatePolicy+"planner: {kind: openai, openai: {model: fake-model}}\n"), config.FileName)
	if err != nil {
		t.Fatal(err)
	}
	c.Config = cfg
	ann := agentos.Human("ann")

	// Nothing wired for the kind: refused before a task exists.
	if task, err := c.PlanRequest(ctx, NLRequest{Text: "add notes", Actor: ann}); task != nil || agentos.ErrorCode(err) != agentos.EINVALID {
		t.Fatalf("PlanRequest without a wired planner = %v, %v; want no task and an invalid error", task, err)
	}

	m := &fakeModel{}
	c.ModelPlanners = map[string]NewModelPlanner{"openai": func(config.Planner, func(string) string) (ModelPlanner, error) { return m, nil }}
	task, err := c.PlanRequest(ctx, NLRequest{Text: "add notes", Actor: ann})
	if err != nil {
		t.Fatal(err)
	}
	if task.State != agentos.StatePlanned || m.calls != 2 {
		t.Fatalf("task %s after %d model calls, want planned after 2", task.State, m.calls)
	}
	evs, err := c.DB.Events(ctx, agentos.EventFilter{Task: task.ID, Kind: EventPlannerCall})
	if err != nil || len(evs) != 2 || evs[0].Actor != agentos.Agent("openai:fake-model") {
		t.Fatalf("planner.call events = %v, %v; want 2 by agent:openai:fake-model", evs, err)
	}
}
