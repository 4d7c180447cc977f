package coordinator

import (
	"context"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/planner"
)

// fakeModel is a ModelPlanner that answers from memory: the pipeline plans
// through the interface it declares, with no model SDK behind it.
type fakeModel struct {
	calls int
	// verify are the checks the model brings.
	verify []agentos.Check
}

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
	p := agentos.Plan{Goal: "add notes", Source: "openai:fake-model", Steps: []agentos.Step{{Kind: agentos.StepWrite, Path: "NOTES.md", Content: "notes\n"}}, Verify: m.verify}
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

	// The model brings no verify check and the policy has no default: the
	// change would commit unverified, so the plan is refused.
	task, err := c.PlanRequest(ctx, NLRequest{Text: "add notes", Actor: ann})
	if agentos.ErrorCode(err) != agentos.EDENIED || !strings.Contains(agentos.ErrorMessage(err), "verify.default") || task == nil || task.State != agentos.StateFailed {
		t.Fatalf("a model plan without checks and no default = %v, %v; want it failed, denied, naming verify.default", task, err)
	}

	// With a default, the model's plan gets it, marked as the policy's.
	if c.Config, err = config.Parse([]byte(gatePolicy+"planner: {kind: openai, openai: {model: fake-model}}\nverify:\n  default:\n    - {name: smoke, argv: [\"true\"], timeout: 1m}\n"), config.FileName); err != nil {
		t.Fatal(err)
	}
	m.calls = 0
	task, err = c.PlanRequest(ctx, NLRequest{Text: "add notes", Actor: ann})
	if err != nil {
		t.Fatal(err)
	}
	if task.State != agentos.StatePlanned || m.calls != 2 {
		t.Fatalf("task %s after %d model calls, want planned after 2", task.State, m.calls)
	}
	p, _, err := c.DB.Plan(ctx, task.PlanID)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Verify) != 1 || !p.Verify[0].PolicyDefault || p.Verify[0].Name != "smoke" || p.Verify[0].TimeoutMS != 60000 || p.Verify[0].Exe == "" {
		t.Fatalf("plan verify = %+v, want the policy's default, resolved and marked", p.Verify)
	}
	in, err := c.DB.Intent(ctx, task.IntentID)
	if err != nil || len(in.Acceptance) != 1 || !strings.Contains(in.Acceptance[0], "verify.default") {
		t.Fatalf("intent acceptance = %v, %v; want the default check noted", in, err)
	}
	evs, err := c.DB.Events(ctx, agentos.EventFilter{Task: task.ID, Kind: EventPlannerCall})
	if err != nil || len(evs) != 2 || evs[0].Actor != agentos.Agent("openai:fake-model") {
		t.Fatalf("planner.call events = %v, %v; want 2 by agent:openai:fake-model", evs, err)
	}

	// A model that brings a trivial check of its own still gets the
	// repository's default: it cannot choose what verifies its change.
	m.verify = []agentos.Check{{Argv: []string{"true", "trivially"}, Name: "mine"}}
	task, err = c.PlanRequest(ctx, NLRequest{Text: "add notes", Actor: ann})
	if err != nil {
		t.Fatal(err)
	}
	if p, _, err = c.DB.Plan(ctx, task.PlanID); err != nil {
		t.Fatal(err)
	}
	if len(p.Verify) != 2 || p.Verify[0].Name != "mine" || !p.Verify[1].PolicyDefault || p.Verify[1].Name != "smoke" {
		t.Fatalf("plan verify = %+v, want the model's check and the policy's default", p.Verify)
	}
}
