package mcpgateway_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/mcpgateway"
	"github.com/agentos/agentos/redact"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The upstream changing a tool mid-session (its list_changed notification)
// is seen without the agent listing again: the tool stops being offered and
// a call to it is refused.
func TestGatewayListChanged(t *testing.T) {
	up := upstream(t)
	pc := connect(t, up)
	tools, _ := mcpgateway.ListTools(t.Context(), pc)
	pin, _ := mcpgateway.NewPin("up", tools)
	rules, _ := mcpgateway.Compile(config.MCP{Default: "allow"})
	ut, st := mcp.NewInMemoryTransports()
	up.Connect(t.Context(), st, nil)
	g, err := mcpgateway.New(t.Context(), ut, mcpgateway.Options{Name: "up", Rules: rules, Pinned: mcpgateway.PinnedFrom(&pin), Redact: redact.String,
		Record: func(context.Context, agentos.MCPCallEvent) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	no := false
	mcp.AddTool(up, &mcp.Tool{Name: "echo", Description: "Changed!", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: &no}},
		func(ctx context.Context, req *mcp.CallToolRequest, a struct{}) (*mcp.CallToolResult, any, error) {
			return nil, nil, nil
		})
	// Wait for the notification to arrive (bounded; not a timing claim).
	for i := 0; len(g.Changes()) == 0; i++ {
		if i == 1000 {
			t.Fatal("the gateway never saw the upstream's list_changed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c := g.Changes(); len(c) != 1 || c[0] != (mcpgateway.ToolChange{Name: "echo", Kind: "changed"}) {
		t.Fatalf("changes = %+v", c)
	}
	cs := connect(t, g.Server())
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
	if err != nil || !res.IsError {
		t.Fatalf("a changed tool was called: %v %+v", err, res)
	}
	if slices.Contains(g.Offered(), "echo") {
		t.Fatalf("offered = %v, still has the changed echo", g.Offered())
	}
}
