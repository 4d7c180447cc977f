package agentos_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
)

// What the constructors build decodes strictly as its kind's payload, as the
// stores write it (canonical JSON); a re-shaped payload does not.
func TestDecodeEvent(t *testing.T) {
	task := &agentos.Task{ID: "t1", State: agentos.StatePlanning, Reason: "why", Submitter: agentos.Human("ann")}
	ins := []agentos.EventInput{
		agentos.NewTaskCreatedEvent(task),
		agentos.NewTransitionEvent(task, agentos.StateCreated, agentos.System, true, agentos.TransitionDetail{Phase: "plan", Conflict: []string{"a"}}),
		agentos.NewPlanStoredEvent(&agentos.Plan{ID: "p1", Task: "t1"}, agentos.System),
		agentos.NewMemoryPackEvent(&agentos.MemoryPack{ID: "m1", Task: "t1"}, agentos.System),
		agentos.NewStepEvent("t1", agentos.StepRecord{Run: "r1", Phase: agentos.PhasePlan}, agentos.System),
		agentos.NewCommitEvent(agentos.CommitRow{SHA: "abc", Task: "t1"}, agentos.System),
		agentos.NewGateEvent("t1", "sha256:x", agentos.GateDecision{RuleID: "r"}, agentos.System),
		agentos.NewReviewEvent(&agentos.ReviewPack{Task: "t1"}),
	}
	for i, in := range ins {
		b, err := canonjson.Marshal(in.Data)
		if err != nil {
			t.Fatal(err)
		}
		v, err := agentos.DecodeEvent(agentos.Event{Seq: int64(i + 1), Kind: in.Kind, Data: b})
		if err != nil {
			t.Errorf("%s: %v", in.Kind, err)
		}
		if te, ok := v.(*agentos.TransitionEvent); ok && (te.From != agentos.StateCreated || te.To != agentos.StatePlanning || te.Reason != "why" || te.Phase != "plan") {
			t.Errorf("transition decoded as %+v", te)
		}
	}
	for _, c := range []struct{ kind, data, want string }{
		{agentos.EventTransition, `{"from":"a","to":"b","why":1}`, `audit event 7 (task.transition): data does not decode as TransitionEvent: json: unknown field "why"`},
		{agentos.EventIntegrated, `{"target":"main","commit":"c","landed":"yes"}`, "audit event 7 (integrated): data does not decode as IntegratedEvent"},
		{"task.deleted", `{}`, `audit event 7 has unknown kind "task.deleted"`},
		{agentos.EventTaskCreated, `null`, "audit event 7 (task.created): data is not a JSON object"},
		{agentos.EventTaskCreated, `{} {}`, "more than one JSON value"},
	} {
		_, err := agentos.DecodeEvent(agentos.Event{Seq: 7, Kind: c.kind, Data: json.RawMessage(c.data)})
		if err == nil || !strings.Contains(err.Error(), c.want) || agentos.ErrorCode(err) != agentos.EINVALID {
			t.Errorf("DecodeEvent(%s %s) = %v, want an invalid error containing %q", c.kind, c.data, err, c.want)
		}
	}
}

// The registry is a function: changing the map it returns changes nothing.
func TestEventPayloadsIsFixed(t *testing.T) {
	m := agentos.EventPayloads()
	delete(m, agentos.EventTransition)
	if _, ok := agentos.EventPayloads()[agentos.EventTransition]; !ok {
		t.Fatal("deleting from EventPayloads' result removed a kind")
	}
	kinds := agentos.EventKinds()
	if len(kinds) != len(agentos.EventPayloads()) || kinds[0] > kinds[len(kinds)-1] {
		t.Errorf("EventKinds() = %v", kinds)
	}
}
