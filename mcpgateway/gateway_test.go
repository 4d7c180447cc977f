package mcpgateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/mcpgateway"
	"github.com/agentos/agentos/redact"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// upstream is an in-process MCP server with one read-only tool.
func upstream(t testing.TB) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
	no := false
	type in struct {
		Text string `json:"text"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echo.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: &no}},
		func(ctx context.Context, req *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "wipe", Description: "Wipe."},
		func(ctx context.Context, req *mcp.CallToolRequest, a struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "WIPED"}}}, nil, nil
		})
	return s
}

func connect(t testing.TB, s *mcp.Server) *mcp.ClientSession { return connectWith(t, s, nil) }

func connectWith(t testing.TB, s *mcp.Server, opts *mcp.ClientOptions) *mcp.ClientSession {
	ct, st := mcp.NewInMemoryTransports()
	if _, err := s.Connect(t.Context(), st, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, opts).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// gateway puts a Gateway in front of a fresh upstream, with echo and wipe
// pinned, and returns the agent's session and the recorded events.
func gateway(t testing.TB) (*mcp.ClientSession, *[]agentos.MCPCallEvent) {
	return gatewayWith(t, nil, nil)
}

func gatewayWith(t testing.TB, extra []config.MCPRule, copts *mcp.ClientOptions) (*mcp.ClientSession, *[]agentos.MCPCallEvent) {
	up := upstream(t)
	pc := connect(t, up)
	tools, err := mcpgateway.ListTools(t.Context(), pc)
	if err != nil {
		t.Fatal(err)
	}
	pin, err := mcpgateway.NewPin("up", tools)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := mcpgateway.Compile(config.MCP{Rules: append([]config.MCPRule{
		{ID: "ro", When: "annotations.read_only", Effect: "allow"},
		{ID: "no-wipe", When: `tool == "wipe"`, Effect: "deny", Reason: "no"},
	}, extra...)})
	if err != nil {
		t.Fatal(err)
	}
	var evs []agentos.MCPCallEvent
	ut, st := mcp.NewInMemoryTransports()
	if _, err := up.Connect(t.Context(), st, nil); err != nil {
		t.Fatal(err)
	}
	g, err := mcpgateway.New(t.Context(), ut, mcpgateway.Options{Name: "up", Rules: rules, Pinned: mcpgateway.PinnedFrom(&pin),
		Redact: redact.String, PinHint: "agentos mcp pin up",
		Record: func(_ context.Context, ev agentos.MCPCallEvent) error { evs = append(evs, ev); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return connectWith(t, g.Server(), copts), &evs
}

// A rule that says ask hands the call to a person through the client's
// elicitation: their yes lets it through, their no refuses it; a client
// that cannot ask gets a refusal saying how a person allows it.
func TestGatewayAsk(t *testing.T) {
	ask := []config.MCPRule{{ID: "ask-echo", When: `tool == "echo" && arguments.text == "ask"`, Effect: "ask", Reason: "echoing ask needs a person"}}
	for _, tc := range []struct {
		name     string
		answer   *mcp.ElicitResult // nil: the client has no elicitation
		passes   bool
		decision string
		says     string
	}{
		{"yes", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"allow": true}}, true, "ask-approved", ""},
		{"no", &mcp.ElicitResult{Action: "accept", Content: map[string]any{"allow": false}}, false, "ask-declined", "did not allow it"},
		{"declined", &mcp.ElicitResult{Action: "decline"}, false, "ask-declined", "did not allow it (decline)"},
		{"cannot ask", nil, false, "ask-declined", "cannot ask one (no elicitation support); a person allows such calls by adding an allow rule to mcp.rules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts *mcp.ClientOptions
			asked := 0
			if tc.answer != nil {
				opts = &mcp.ClientOptions{ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					asked++
					if !strings.Contains(req.Params.Message, "rule ask-echo") {
						t.Errorf("the question does not name its rule: %q", req.Params.Message)
					}
					return tc.answer, nil
				}}
			}
			cs, evs := gatewayWith(t, ask, opts)
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "ask"}})
			if err != nil {
				t.Fatal(err)
			}
			text := res.Content[0].(*mcp.TextContent).Text
			if passed := !res.IsError && text == "ask"; passed != tc.passes {
				t.Fatalf("passed = %v, want %v (%q)", passed, tc.passes, text)
			}
			if !strings.Contains(text, tc.says) {
				t.Errorf("result %q does not say %q", text, tc.says)
			}
			if tc.answer != nil && asked != 1 {
				t.Errorf("asked %d times, want 1", asked)
			}
			if len(*evs) != 1 || (*evs)[0].Decision != tc.decision || (*evs)[0].Rule != "ask-echo" {
				t.Fatalf("events = %+v, want one %s by ask-echo", *evs, tc.decision)
			}
		})
	}
}

func TestGatewayDecides(t *testing.T) {
	cs, evs := gateway(t)
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi ghp_cccccccccccccccccccccccccccccccccccc"}})
	if err != nil || res.IsError {
		t.Fatalf("echo: %v %+v", err, res)
	}
	res, err = cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "wipe"})
	if err != nil || !res.IsError || res.Content[0].(*mcp.TextContent).Text == "WIPED" {
		t.Fatalf("wipe passed the gateway: %v %+v", err, res)
	}
	b, _ := json.Marshal(*evs)
	if len(*evs) != 2 || (*evs)[0].Decision != "allow" || (*evs)[1].Decision != "deny" || (*evs)[1].Rule != "no-wipe" {
		t.Fatalf("events = %s", b)
	}
	if strings.Contains(string(b), "ghp_cccc") {
		t.Fatalf("a secret reached the record: %s", b)
	}
}

// TestGatewayLatency measures the gateway's added latency per tool call
// against calling the server directly, in one run (a figure, never an
// assertion): AGENTOS_MCP_LATENCY=1 go test ./mcpgateway -run Latency -v.
func TestGatewayLatency(t *testing.T) {
	if os.Getenv("AGENTOS_MCP_LATENCY") == "" {
		t.Skip("a measurement: set AGENTOS_MCP_LATENCY=1")
	}
	const n = 2000
	measure := func(cs *mcp.ClientSession) []time.Duration {
		d := make([]time.Duration, 0, n)
		for i := 0; i < n; i++ {
			start := time.Now()
			if _, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil {
				t.Fatal(err)
			}
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		return d
	}
	direct := measure(connect(t, upstream(t)))
	gw, _ := gateway(t)
	via := measure(gw)
	p := func(d []time.Duration, q float64) time.Duration { return d[int(float64(len(d)-1)*q)] }
	t.Logf("direct  p50 %v p95 %v", p(direct, .5), p(direct, .95))
	t.Logf("gateway p50 %v p95 %v (ratio p50 %.2f, p95 %.2f; added p50 %v, p95 %v)", p(via, .5), p(via, .95),
		float64(p(via, .5))/float64(p(direct, .5)), float64(p(via, .95))/float64(p(direct, .95)), p(via, .5)-p(direct, .5), p(via, .95)-p(direct, .95))
}

func TestRecordedArguments(t *testing.T) {
	if got := mcpgateway.RecordedArguments(nil, redact.String); got != "{}" {
		t.Errorf("no arguments recorded as %q", got)
	}
	big := `{"content":"` + strings.Repeat("é", mcpgateway.MaxRecordedArguments) + `","token":"ghp_dddddddddddddddddddddddddddddddddddd"}`
	got := mcpgateway.RecordedArguments([]byte(big), redact.String)
	if len(got) > mcpgateway.MaxRecordedArguments+200 || !strings.Contains(got, fmt.Sprintf("(%d bytes, sha256:", len(big))) || !utf8.ValidString(got) {
		t.Errorf("large arguments recorded as %d bytes ending %q", len(got), got[len(got)-100:])
	}
	if got := mcpgateway.RecordedArguments([]byte(`{"token":"ghp_dddddddddddddddddddddddddddddddddddd"}`), redact.String); strings.Contains(got, "ghp_dddd") {
		t.Errorf("a secret was recorded: %s", got)
	}
}
