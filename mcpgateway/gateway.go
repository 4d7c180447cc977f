package mcpgateway

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
	"github.com/agentos/agentos/config"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Options configure a Gateway.
type Options struct {
	// Name is the upstream server's name: what rules see as server, and
	// what its pin is recorded under.
	Name string
	// Rules decide every tools/call (Compile of the committed policy).
	Rules *Rules
	// Pinned is the tool list a person approved (nil: none yet, so no tool
	// is offered).
	Pinned Pinned
	// Record appends a decision to the audit chain. A call whose decision
	// cannot be recorded is refused.
	Record func(context.Context, agentos.MCPCallEvent) error
	// Redact hides secrets in the arguments before they are recorded.
	Redact func(string) string
	// PinHint is the command a person runs to pin the server's tools
	// (named in refusals).
	PinHint string
	// Transport is how the agent reaches the gateway (stdio, http).
	Transport string
	// Version is AgentOS's version, in the gateway's server info.
	Version string
}

// Gateway is one agent's governed view of one upstream MCP server.
type Gateway struct {
	opts Options
	up   *mcp.ClientSession
	srv  *mcp.Server

	mu sync.Mutex
	// listed is the upstream's tools as last listed, by name.
	listed map[string]*mcp.Tool
	// offered is the tools the agent sees: pinned and unchanged.
	offered map[string]bool
	changes []ToolChange
}

// New connects to the upstream server over up, lists its tools and builds
// the gateway's own server, which offers the agent only the pinned,
// unchanged ones. The upstream's list_changed notifications re-list it,
// so a tool changed mid-session stops being offered and callable.
func New(ctx context.Context, up mcp.Transport, opts Options) (*Gateway, error) {
	if opts.Rules == nil || opts.Record == nil || opts.Redact == nil {
		return nil, agentos.Errorf(agentos.EINTERNAL, "mcpgateway: rules, record and redact are required")
	}
	g := &Gateway{opts: opts, listed: map[string]*mcp.Tool{}, offered: map[string]bool{}}
	g.srv = mcp.NewServer(&mcp.Implementation{Name: "agentos-mcp-proxy", Title: "AgentOS gateway to " + opts.Name, Version: opts.Version}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
		Instructions: "Tools of the MCP server " + opts.Name + " through the AgentOS gateway: only tools a person pinned are listed, and every call is decided by the repository's policy and audited.",
	})
	g.srv.AddReceivingMiddleware(g.decide)
	client := mcp.NewClient(&mcp.Implementation{Name: "agentos-mcp-proxy", Version: opts.Version}, &mcp.ClientOptions{
		Capabilities: &mcp.ClientCapabilities{},
		ToolListChangedHandler: func(ctx context.Context, _ *mcp.ToolListChangedRequest) {
			// Best effort: a failed re-list keeps the last list, and a
			// call to a tool the upstream changed is refused by its hash
			// the next time a list succeeds.
			_ = g.Refresh(ctx)
		},
	})
	cs, err := client.Connect(ctx, up, nil)
	if err != nil {
		return nil, agentos.WrapError(agentos.EFAILED, err, "MCP server %s: cannot connect: %v", opts.Name, err)
	}
	g.up = cs
	if err := g.Refresh(ctx); err != nil {
		cs.Close()
		return nil, err
	}
	return g, nil
}

// Server is the gateway's MCP server, for the agent's transport.
func (g *Gateway) Server() *mcp.Server { return g.srv }

// Close ends the upstream session (and stops a server started as a command).
func (g *Gateway) Close() error { return g.up.Close() }

// Changes is how the upstream's tools differ from the pin, as last listed.
func (g *Gateway) Changes() []ToolChange {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.changes)
}

// Offered is the names of the tools the agent sees, sorted.
func (g *Gateway) Offered() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for n := range g.offered {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ListTools lists every tool of the upstream server (for pinning).
func ListTools(ctx context.Context, cs *mcp.ClientSession) ([]*mcp.Tool, error) {
	var tools []*mcp.Tool
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, err
		}
		tools = append(tools, t)
	}
	return tools, nil
}

// Refresh lists the upstream's tools again and offers the agent exactly the
// pinned, unchanged ones (the server tells the agent when that changes).
func (g *Gateway) Refresh(ctx context.Context) error {
	tools, err := ListTools(ctx, g.up)
	if err != nil {
		return agentos.WrapError(agentos.EFAILED, err, "MCP server %s: cannot list its tools: %v", g.opts.Name, err)
	}
	now, err := NewPin(g.opts.Name, tools)
	if err != nil {
		return err
	}
	hashes := map[string]string{}
	for _, t := range now.Tools {
		hashes[t.Name] = t.Hash
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.listed = map[string]*mcp.Tool{}
	var add []*mcp.Tool
	var remove []string
	offered := map[string]bool{}
	for _, t := range tools {
		g.listed[t.Name] = t
		if h, ok := g.opts.Pinned[t.Name]; ok && h == hashes[t.Name] {
			offered[t.Name] = true
			if !g.offered[t.Name] {
				add = append(add, t)
			}
		}
	}
	for n := range g.offered {
		if !offered[n] {
			remove = append(remove, n)
		}
	}
	g.offered = offered
	g.changes = Diff(g.opts.Pinned, now)
	if len(remove) > 0 {
		g.srv.RemoveTools(remove...)
	}
	for _, t := range add {
		g.srv.AddTool(offeredTool(t), g.forward)
	}
	return nil
}

// offeredTool is the tool as the agent sees it: what the person pinned
// (the hash covers every field copied here).
func offeredTool(t *mcp.Tool) *mcp.Tool {
	c := &mcp.Tool{Name: t.Name, Title: t.Title, Description: t.Description, InputSchema: t.InputSchema, OutputSchema: t.OutputSchema, Annotations: t.Annotations}
	if c.InputSchema == nil {
		c.InputSchema = map[string]any{"type": "object"}
	}
	return c
}

// forward passes an allowed call (decide ran first) to the upstream server.
// A call a rule asks about arrives with the pending decision in ctx: it is
// resolved here, inside the SDK's multi-round-trip handling, which carries
// the question to the client as an elicitation (directly for clients on
// older protocol versions, as an input request for newer ones).
func (g *Gateway) forward(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if p, ok := ctx.Value(askKey{}).(*pendingAsk); ok {
		res, done := g.resolveAsk(ctx, req, p)
		if done {
			return res, nil
		}
	}
	var args any
	if len(req.Params.Arguments) > 0 {
		args = req.Params.Arguments
	}
	return g.up.CallTool(ctx, &mcp.CallToolParams{Name: req.Params.Name, Arguments: args})
}

// askKey carries a call a rule asks about from decide to forward.
type askKey struct{}

type pendingAsk struct {
	ev agentos.MCPCallEvent
	d  Decision
}

// askID names the gateway's question among a call's input requests.
const askID = "agentos-ask"

// resolveAsk asks the person through the client, or reads their answer
// from the retried call; done is false when the answer is yes and the
// call goes on (recorded first).
func (g *Gateway) resolveAsk(ctx context.Context, req *mcp.CallToolRequest, p *pendingAsk) (*mcp.CallToolResult, bool) {
	ev, d := p.ev, p.d
	refuse := func(how string) (*mcp.CallToolResult, bool) {
		ev.Decision, ev.Reason = "ask-declined", how
		msg := "AgentOS refused this call: " + how
		if err := g.opts.Record(ctx, ev); err != nil {
			msg += " (and could not record the refusal: " + agentos.ErrorMessage(err) + ")"
		}
		return toolError(msg), true
	}
	// The answer is bound to this tool and these arguments: a retry with
	// other arguments is asked again.
	state := canonjson.Sum([]byte(req.Params.Name + "\x00" + string(req.Params.Arguments)))
	resp, answered := req.Params.InputResponses[askID]
	if !answered || req.Params.RequestState != state {
		if !canElicit(req.Session) {
			return refuse(fmt.Sprintf("rule %s asks a person about this call (%s), and this MCP client cannot ask one (no elicitation support); a person allows such calls by adding an allow rule to mcp.rules in %s and committing it", d.Rule, d.Reason, config.FileName))
		}
		return &mcp.CallToolResult{RequestState: state, InputRequests: mcp.InputRequestMap{askID: &mcp.ElicitParams{
			Message: fmt.Sprintf("AgentOS: allow the tool %s of MCP server %s with arguments %s? (rule %s: %s)", req.Params.Name, g.opts.Name, ev.Arguments, d.Rule, d.Reason),
			RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{
				"allow": map[string]any{"type": "boolean", "title": "Allow this call", "description": "yes runs this one call"},
			}, "required": []string{"allow"}},
		}}}, true
	}
	er, ok := resp.(*mcp.ElicitResult)
	if !ok || er.Action != "accept" || er.Content["allow"] != true {
		action := "no answer"
		if ok {
			action = er.Action
		}
		return refuse(fmt.Sprintf("rule %s asked a person, who did not allow it (%s)", d.Rule, action))
	}
	ev.Decision, ev.Reason = "ask-approved", d.Reason+"; a person allowed it when asked through the MCP client"
	if err := g.opts.Record(ctx, ev); err != nil {
		return toolError("AgentOS refused this call: it cannot record it in its audit (" + agentos.ErrorMessage(err) + ")"), true
	}
	return nil, false
}

// canElicit reports whether the client said it can put a question to its
// user.
func canElicit(ss *mcp.ServerSession) bool {
	if ss == nil {
		return false
	}
	p := ss.InitializeParams()
	return p != nil && p.Capabilities != nil && p.Capabilities.Elicitation != nil
}

// decide is the receiving middleware that governs every tools/call before
// the SDK routes it: a tool not pinned or changed since is refused, the
// policy's rules decide the rest (asking a person through elicitation when
// a rule says ask and the client can), and every decision is recorded
// first: a call that cannot be recorded does not run.
func (g *Gateway) decide(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, r mcp.Request) (mcp.Result, error) {
		if method == "tools/list" {
			// The agent sees the upstream's tools as they are now, each
			// offered only while it matches its pin.
			if err := g.Refresh(ctx); err != nil {
				return nil, err
			}
			return next(ctx, method, r)
		}
		req, ok := r.(*mcp.CallToolRequest)
		if method != "tools/call" || !ok {
			return next(ctx, method, r)
		}
		name := req.Params.Name
		ev := agentos.MCPCallEvent{Front: "gateway", Transport: g.opts.Transport, Server: g.opts.Name, Tool: bounded(name),
			Arguments: RecordedArguments(req.Params.Arguments, g.opts.Redact), Client: ClientName(req.Session)}
		refuse := func(decision, rule, reason string) (mcp.Result, error) {
			ev.Decision, ev.Rule, ev.Reason = decision, rule, reason
			msg := "AgentOS refused this call: " + reason
			if err := g.opts.Record(ctx, ev); err != nil {
				msg += " (and could not record the refusal: " + agentos.ErrorMessage(err) + ")"
			}
			return toolError(msg), nil
		}
		g.mu.Lock()
		tool, listed := g.listed[name]
		offered := g.offered[name]
		_, pinned := g.opts.Pinned[name]
		g.mu.Unlock()
		switch {
		case !offered && listed && pinned:
			return refuse(config.MCPDeny, "mcp.pin", fmt.Sprintf("the tool %s of server %s changed since a person pinned it (its description, schema or annotations): it stays refused until a person reviews and pins it again with `%s`", name, g.opts.Name, g.opts.PinHint))
		case !offered && listed:
			return refuse(config.MCPDeny, "mcp.pin", fmt.Sprintf("the tool %s of server %s is not pinned: a person reviews and pins it with `%s`", name, g.opts.Name, g.opts.PinHint))
		case !offered:
			return refuse(config.MCPDeny, "mcp.pin", fmt.Sprintf("server %s offers no tool %s", g.opts.Name, name))
		}
		var args map[string]any
		if len(req.Params.Arguments) > 0 {
			if err := json.Unmarshal(req.Params.Arguments, &args); err != nil {
				return refuse(config.MCPDeny, "mcp.arguments", "the arguments are not a JSON object: "+err.Error())
			}
		}
		d := g.opts.Rules.Decide(Call{Server: g.opts.Name, Tool: name, Annotations: tool.Annotations, Arguments: args})
		ev.Rule, ev.Reason = d.Rule, d.Reason
		switch d.Effect {
		case config.MCPDeny:
			return refuse(config.MCPDeny, d.Rule, fmt.Sprintf("rule %s denies it: %s", d.Rule, d.Reason))
		case config.MCPAsk:
			// Decided, and recorded, where the person's answer is known.
			return next(context.WithValue(ctx, askKey{}, &pendingAsk{ev: ev, d: d}), method, r)
		default:
			ev.Decision = config.MCPAllow
		}
		if err := g.opts.Record(ctx, ev); err != nil {
			return toolError("AgentOS refused this call: it cannot record it in its audit (" + agentos.ErrorMessage(err) + ")"), nil
		}
		return next(ctx, method, r)
	}
}

// ClientName is what the client called itself in initialize ("" when it
// did not): advisory, recorded, never an identity. Every call's audit event
// keeps it, so it is cut at MaxClientName bytes: the client chooses it.
func ClientName(ss *mcp.ServerSession) string {
	if ss == nil {
		return ""
	}
	p := ss.InitializeParams()
	if p == nil || p.ClientInfo == nil {
		return ""
	}
	return bounded(strings.TrimSpace(p.ClientInfo.Name + " " + p.ClientInfo.Version))
}

// MaxClientName bounds a name the client chooses (its own, a tool's it
// calls) as an mcp.call event keeps it.
const MaxClientName = 256

// bounded is s cut at MaxClientName bytes (on a rune boundary), with its
// length when cut.
func bounded(s string) string {
	if len(s) <= MaxClientName {
		return s
	}
	cut := s[:MaxClientName]
	for len(cut) > 0 && !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	return fmt.Sprintf("%s… (%d bytes)", cut, len(s))
}

func toolError(msg string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}
}

// MaxRecordedArguments bounds the arguments an mcp.call event keeps: a
// call writing a large file must not bloat the audit chain with it.
const MaxRecordedArguments = 16 << 10

// RecordedArguments is a call's arguments as its audit event keeps them:
// redacted, and past MaxRecordedArguments cut, with the size and SHA-256
// of the whole.
func RecordedArguments(raw []byte, redact func(string) string) string {
	if len(raw) == 0 {
		return "{}"
	}
	s := redact(string(raw))
	if len(s) <= MaxRecordedArguments {
		return s
	}
	cut := s[:MaxRecordedArguments]
	for len(cut) > 0 && !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	return fmt.Sprintf("%s… (%d bytes, %s)", cut, len(raw), canonjson.Sum(raw))
}
