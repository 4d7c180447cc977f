package mcpserver_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/mcpserver"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// fake is a Backend whose RunCommand runs nothing but says whether it would
// have (after the decision was recorded), and whose Record can fail.
type fake struct {
	recordErr error
	events    []agentos.MCPCallEvent
	ran       bool
	effect    string
}

func (f *fake) SubmitPlan(context.Context, mcpserver.SubmitPlanArgs) (any, error) {
	return map[string]any{"id": "t1", "state": "committed"}, nil
}
func (f *fake) SubmitRequest(context.Context, mcpserver.SubmitRequestArgs) (any, error) {
	return nil, agentos.Errorf(agentos.EINVALID, "no planner")
}
func (f *fake) Task(context.Context, string) (any, error)      { return map[string]any{"id": "t1"}, nil }
func (f *fake) Questions(context.Context, string) (any, error) { return nil, nil }
func (f *fake) Review(context.Context, string) (any, error)    { return nil, nil }
func (f *fake) SearchMemory(context.Context, mcpserver.SearchMemoryArgs) (any, error) {
	return nil, nil
}
func (f *fake) RunCommand(ctx context.Context, a mcpserver.RunCommandArgs, record func(mcpserver.CommandDecision) error) (mcpserver.RunCommandResult, error) {
	if err := record(mcpserver.CommandDecision{Effect: f.effect, Rule: "r1", Reason: "because"}); err != nil {
		return mcpserver.RunCommandResult{Rule: "r1"}, err
	}
	if f.effect != "allow" {
		return mcpserver.RunCommandResult{Rule: "r1"}, agentos.Errorf(agentos.EDENIED, "command denied by rule r1")
	}
	f.ran = true
	return mcpserver.RunCommandResult{Rule: "r1", Stdout: "ok"}, nil
}
func (f *fake) Record(_ context.Context, ev agentos.MCPCallEvent) error {
	if f.recordErr != nil {
		return f.recordErr
	}
	f.events = append(f.events, ev)
	return nil
}
func (f *fake) Redact(s string) string { return strings.ReplaceAll(s, "hunter2", "[REDACTED]") }

func session(t *testing.T, b mcpserver.Backend) *mcp.ClientSession {
	ct, st := mcp.NewInMemoryTransports()
	if _, err := mcpserver.New(b, mcpserver.Options{Transport: "test"}).Connect(t.Context(), st, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "unit", Version: "0"}, nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// The tools and their annotations are the documented ones (docs/mcp.md);
// nothing answers, approves or rejects.
func TestTools(t *testing.T) {
	cs := session(t, &fake{})
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	type ann struct{ ro, destructive, idem, open bool }
	want := map[string]ann{
		"submit_plan":    {false, true, false, false},
		"submit_request": {false, true, false, true},
		"get_task":       {true, false, true, false},
		"get_questions":  {true, false, true, false},
		"get_review":     {true, false, true, false},
		"search_memory":  {true, false, true, false},
		"run_command":    {false, true, false, false},
	}
	if len(res.Tools) != len(want) {
		t.Errorf("%d tools, want %d", len(res.Tools), len(want))
	}
	for _, tl := range res.Tools {
		w, ok := want[tl.Name]
		if !ok {
			t.Errorf("unexpected tool %s", tl.Name)
			continue
		}
		a := tl.Annotations
		destructive := a.DestructiveHint != nil && *a.DestructiveHint
		open := a.OpenWorldHint == nil || *a.OpenWorldHint
		if got := (ann{a.ReadOnlyHint, destructive && !a.ReadOnlyHint, a.IdempotentHint, open}); got != w {
			t.Errorf("%s annotations = %+v, want %+v", tl.Name, got, w)
		}
	}
}

// A command runs only after its decision is recorded: when the record
// fails, nothing runs and the client is told why.
func TestRunCommandRecordsFirst(t *testing.T) {
	f := &fake{effect: "allow", recordErr: errors.New("disk full")}
	cs := session(t, f)
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "run_command", Arguments: map[string]any{"argv": []string{"true"}}})
	if err != nil {
		t.Fatal(err)
	}
	if f.ran || !res.IsError {
		t.Fatalf("ran = %v, result %+v: a command whose decision was not recorded ran", f.ran, res)
	}
	f.recordErr = nil
	res, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "run_command", Arguments: map[string]any{"argv": []string{"echo", "hunter2"}}})
	if err != nil || res.IsError || !f.ran {
		t.Fatalf("allowed command: %v %+v ran=%v", err, res, f.ran)
	}
	if len(f.events) != 1 || f.events[0].Decision != "allow" || f.events[0].Rule != "r1" || strings.Contains(f.events[0].Arguments, "hunter2") || f.events[0].Client != "unit 0" {
		t.Fatalf("events = %+v", f.events)
	}
}

// Every other call is recorded with its outcome, and a failure reaches
// the client as a tool error with the code.
func TestCallsRecorded(t *testing.T) {
	f := &fake{}
	cs := session(t, f)
	for _, c := range []struct {
		tool    string
		args    map[string]any
		isError bool
		outcome string
		task    string
	}{
		{"submit_plan", map[string]any{"plan": "version: 1"}, false, "ok", "t1"},
		{"submit_request", map[string]any{"request": "x"}, true, "invalid", ""},
		{"get_task", map[string]any{"task": "t1"}, false, "ok", "t1"},
	} {
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
		if err != nil || res.IsError != c.isError {
			t.Fatalf("%s: %v %+v", c.tool, err, res)
		}
		ev := f.events[len(f.events)-1]
		if ev.Tool != c.tool || ev.Outcome != c.outcome || ev.Task != c.task || ev.Front != "server" {
			t.Errorf("%s recorded as %+v", c.tool, ev)
		}
	}
}
