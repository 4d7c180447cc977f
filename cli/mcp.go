package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
	"github.com/agentos/agentos/cli/sandboxrun"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/httpapi"
	"github.com/agentos/agentos/mcpgateway"
	"github.com/agentos/agentos/mcpserver"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/redact"
	"github.com/agentos/agentos/sandbox"
	"github.com/agentos/agentos/signers"
	"github.com/agentos/agentos/tokens"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

// defaultMCPActor is who acts through `agentos mcp` unless --actor says.
const defaultMCPActor = "mcp"

// newCmdMCP builds `agentos mcp` (the MCP server on stdio) and its
// gateway verbs, proxy and pin. The packages mcpserver and mcpgateway do
// the work; this file wires them to the pipeline.
func newCmdMCP(f *Factory) *cobra.Command {
	var actor string
	cmd := &cobra.Command{
		Use:   "mcp [--actor NAME]",
		Short: "Serve AgentOS to an MCP client on stdio (and govern third-party MCP servers: proxy, pin)",
		Long: "Serves AgentOS as an MCP server on stdin/stdout: submit_plan, submit_request, get_task, get_questions, get_review, " +
			"search_memory and run_command, each call recorded as an mcp.call audit event. Whoever connects acts as the agent " +
			"agent:NAME (--actor, default agent:mcp), never as a person: its plans pass the same gates and approvals as any " +
			"other, and answering and approving are not offered. The client's name from initialize is recorded, not trusted.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := newMCPBackend(cmd.Context(), f, actor)
			if err != nil {
				return err
			}
			srv := mcpserver.New(b, mcpserver.Options{Version: agentos.Version, Transport: "stdio"})
			return mcpRun(cmd.Context(), srv, f)
		},
	}
	cmd.Flags().StringVar(&actor, "actor", defaultMCPActor, "the agent `name` calls act as (recorded as agent:NAME)")
	cmd.AddCommand(newCmdMCPProxy(f), newCmdMCPPin(f))
	return cmd
}

// mcpRun serves srv on the factory's stdin and stdout until the client
// closes them or ctx ends.
func mcpRun(ctx context.Context, srv *mcp.Server, f *Factory) error {
	t := &mcp.IOTransport{Reader: io.NopCloser(f.IO.In), Writer: nopWriteCloser{f.IO.Out}}
	err := srv.Run(ctx, t)
	// The client closing stdin ends the session: that is the normal end.
	if err == nil || ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) {
		return nil
	}
	return agentos.WrapError(agentos.EFAILED, err, "mcp: %v", err)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// mcpActor is the agent actor of --actor NAME: a person's name or "system"
// is refused, so the MCP client can never act as a person.
func mcpActor(name string) (agentos.Actor, error) {
	name = strings.TrimPrefix(strings.TrimSpace(name), "agent:")
	if len(name) > agentos.MaxNameBytes {
		return "", usageErr("--actor is %d bytes, more than the %d bytes limit: give a short agent name such as mcp or claude (the limit is fixed)", len(name), agentos.MaxNameBytes)
	}
	if name == "" || strings.ContainsAny(name, ": \t\n") || strings.HasPrefix(name, "human") || name == "system" {
		return "", usageErr("--actor %q: give an agent name such as mcp or claude (recorded as agent:NAME)", name)
	}
	return agentos.Agent(name), nil
}

// mcpBackend runs each tool call through a fresh Factory (a command's
// worth of state) with buffers for streams and the agent as actor: the
// same code as the CLI's verbs.
type mcpBackend struct {
	dir    string
	actor  agentos.Actor
	now    func() time.Time
	redact func(string) string
	// root is the command's context: a signal to `agentos mcp` (or to
	// serve, for /mcp) ends it. The SDK does not cancel a call's context
	// when the server stops, and waits for calls in flight, so a run a
	// call started is bound to root too (see scope).
	root context.Context
	// calls counts the calls in flight, for wait; closing refuses new
	// ones once wait began.
	mu      sync.Mutex
	closing bool
	calls   sync.WaitGroup
}

// scope is ctx, also ended (with its cause: "interrupted by SIGTERM") when
// the server's root context ends, so a run a call started ends cancelled
// with its ReviewPack instead of holding the server open forever.
func (b *mcpBackend) scope(ctx context.Context) (context.Context, func()) {
	if b.root == nil {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		cancel(context.Cause(b.root))
		return ctx, func() {}
	}
	b.calls.Add(1)
	stop := context.AfterFunc(b.root, func() { cancel(context.Cause(b.root)) })
	return ctx, func() { stop(); cancel(nil); b.calls.Done() }
}

// wait waits for the calls in flight to end (their runs are cancelled
// when root ends): over HTTP the SDK runs a call apart from the request
// that carried it, so serve waits here before it exits.
func (b *mcpBackend) wait() {
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
	b.calls.Wait()
}

var _ mcpserver.Backend = (*mcpBackend)(nil)

func newMCPBackend(ctx context.Context, f *Factory, actor string) (*mcpBackend, error) {
	a, err := mcpActor(actor)
	if err != nil {
		return nil, err
	}
	repo, err := f.Repo(ctx)
	if err != nil {
		return nil, err
	}
	// The store must open now: a server that cannot record would refuse
	// every call later.
	if _, err := f.DB(ctx); err != nil {
		return nil, err
	}
	return &mcpBackend{dir: repo.Root, actor: a, now: f.Now, redact: f.redactText, root: ctx}, nil
}

// factory is one call's Factory; the caller closes it.
func (b *mcpBackend) factory() (*Factory, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	nf := NewFactory(strings.NewReader(""), &out, &errOut)
	nf.Dir, nf.agent, nf.Now = b.dir, b.actor, b.now
	return nf, &out, &errOut
}

func (b *mcpBackend) Redact(s string) string { return b.redact(s) }

func (b *mcpBackend) Record(ctx context.Context, ev agentos.MCPCallEvent) error {
	f, _, _ := b.factory()
	defer f.Close()
	db, err := f.DB(ctx)
	if err != nil {
		return err
	}
	_, err = db.Append(ctx, agentos.EventInput{Actor: b.actor, Kind: agentos.EventMCPCall, Data: ev})
	return err
}

func setsOf(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

func (b *mcpBackend) SubmitPlan(ctx context.Context, in mcpserver.SubmitPlanArgs) (any, error) {
	ctx, done := b.scope(ctx)
	defer done()
	if strings.TrimSpace(in.Plan) == "" {
		return nil, usageErr("plan: give the plan file's YAML text")
	}
	f, _, _ := b.factory()
	defer f.Close()
	// The plan's text, as the API takes it: "mcp:plan.yaml" names it in
	// messages and the task (before, a temporary file's path did).
	p := planFlags{file: "mcp:plan.yaml", mode: in.Mode, set: setsOf(in.Set), labels: in.Labels}
	req, err := p.request(ctx, f, !in.Queue)
	if err != nil {
		return nil, err
	}
	req.Source = &in.Plan
	c, err := f.Coordinator(ctx)
	if err != nil {
		return nil, err
	}
	var t *agentos.Task
	if in.Queue {
		req.AutoQueue = true
		t, err = c.PlanFile(ctx, req)
		if err == nil && t != nil && t.State == agentos.StatePlanned {
			err = c.Gate(ctx, t, req.Actor)
		}
	} else {
		t, err = c.Run(ctx, req)
	}
	if t == nil {
		return nil, err
	}
	return taskView(ctx, f, t), err
}

func (b *mcpBackend) SubmitRequest(ctx context.Context, in mcpserver.SubmitRequestArgs) (any, error) {
	ctx, done := b.scope(ctx)
	defer done()
	if strings.TrimSpace(in.Request) == "" {
		return nil, usageErr("request: say what to change")
	}
	f, _, _ := b.factory()
	defer f.Close()
	mode := agentos.Mode("")
	if in.Mode != "" {
		m, err := agentos.ParseMode(in.Mode)
		if err != nil {
			return nil, err
		}
		mode = m
	}
	values, err := parseSets(setsOf(in.Set))
	if err != nil {
		return nil, err
	}
	c, err := f.Coordinator(ctx)
	if err != nil {
		return nil, err
	}
	t, err := c.RunRequest(ctx, coordinator.NLRequest{Text: in.Request, Mode: mode, Values: values, Actor: b.actor, Labels: in.Labels})
	if t == nil {
		return nil, err
	}
	return taskView(ctx, f, t), err
}

func (b *mcpBackend) Task(ctx context.Context, id string) (any, error) {
	f, _, _ := b.factory()
	defer f.Close()
	_, t, err := f.Task(ctx, id)
	if err != nil {
		return nil, err
	}
	return taskView(ctx, f, t), nil
}

func (b *mcpBackend) Questions(ctx context.Context, id string) (any, error) {
	f, _, _ := b.factory()
	defer f.Close()
	db, t, err := f.Task(ctx, id)
	if err != nil {
		return nil, err
	}
	return db.LatestQuestionPack(ctx, t.ID)
}

func (b *mcpBackend) Review(ctx context.Context, id string) (any, error) {
	f, _, _ := b.factory()
	defer f.Close()
	db, t, err := f.Task(ctx, id)
	if err != nil {
		return nil, err
	}
	rp, _, err := db.Review(ctx, t.ID)
	return rp, err
}

func (b *mcpBackend) SearchMemory(ctx context.Context, in mcpserver.SearchMemoryArgs) (any, error) {
	f, _, _ := b.factory()
	defer f.Close()
	if in.Limit == 0 {
		in.Limit = 10
	}
	if in.Limit < 1 || in.Limit > memory.MaxLimit {
		return nil, usageErr("limit %d: must be between 1 and %d", in.Limit, memory.MaxLimit)
	}
	// memoryReader is memory.Redacted: what leaves is redacted.
	svc, err := f.memoryReader(ctx)
	if err != nil {
		return nil, err
	}
	q := memory.Query{Text: in.Query, Paths: in.Scope, Limit: in.Limit}
	hits, err := svc.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	if hits == nil {
		hits = []memory.Hit{}
	}
	q.Text = b.redact(q.Text) // echoed as every text from outside is: redacted
	return MemorySearchDoc{Version: 1, Query: q, Hits: hits}, nil
}

// mcpOutputLimit bounds what a command's stdout and stderr return to the
// client (the tail is kept).
const mcpOutputLimit = 64 << 10

func (b *mcpBackend) RunCommand(ctx context.Context, in mcpserver.RunCommandArgs, record func(mcpserver.CommandDecision) error) (mcpserver.RunCommandResult, error) {
	ctx, done := b.scope(ctx)
	defer done()
	var res mcpserver.RunCommandResult
	if len(in.Argv) == 0 {
		return res, usageErr("argv: give the command and its arguments")
	}
	var timeout time.Duration
	if in.Timeout != "" {
		d, err := time.ParseDuration(in.Timeout)
		if err != nil || d <= 0 {
			return res, usageErr("timeout %q: give a positive duration such as 2m", in.Timeout)
		}
		timeout = d
	}
	f, _, _ := b.factory()
	defer f.Close()
	stdout, stderr := sandbox.NewOutputTail(mcpOutputLimit), sandbox.NewOutputTail(mcpOutputLimit)
	err := sandboxrun.Run(ctx, f, in.Argv, sandboxrun.Opts{Timeout: timeout, Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr, Exit: &res.ExitCode,
		Decided: func(d cmdrule.Decision) error {
			res.Rule = d.RuleID
			return record(mcpserver.CommandDecision{Effect: string(d.Effect), Rule: d.RuleID, Reason: d.Reason})
		}})
	res.Stdout, res.Stderr = b.redact(stdout.String()), b.redact(stderr.String())
	return res, err
}

// upstreamFlags name the third-party MCP server of proxy and pin.
type upstreamFlags struct {
	name string
	url  string
}

func (u *upstreamFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&u.url, "url", "", "a remote MCP server's streamable-HTTP `url` (instead of a command after --)")
}

// transport is the connection to the upstream server: its command (the
// arguments after --) started as a child, or its URL.
func (u *upstreamFlags) transport(cmd *cobra.Command, args []string) (mcp.Transport, string, error) {
	switch {
	case u.url != "" && len(args) > 0:
		return nil, "", usageErr("give either --url URL or a server command after --, not both")
	case u.url != "":
		return &mcp.StreamableClientTransport{Endpoint: u.url}, "--url " + u.url, nil
	case len(args) == 0:
		return nil, "", usageErr("usage: %s -- SERVER-COMMAND [ARGS...] (or --url URL)", cmd.CommandPath())
	}
	c := exec.Command(args[0], args[1:]...)
	c.Stderr = os.Stderr
	return &mcp.CommandTransport{Command: c}, "-- " + strings.Join(args, " "), nil
}

func validServerName(name string) error {
	if name == "" {
		return usageErr("--name: name the MCP server (rules see it as server; its pin is kept under it)")
	}
	for _, r := range name {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return usageErr("--name %q: use letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}

func newCmdMCPProxy(f *Factory) *cobra.Command {
	var u upstreamFlags
	cmd := &cobra.Command{
		Use:   "proxy --name NAME (-- SERVER-COMMAND [ARGS...] | --url URL)",
		Short: "Govern a third-party MCP server: offer its pinned tools on stdio, decide and audit every call",
		Long: "Sits between an agent (on stdin/stdout) and a third-party MCP server (started from the command after --, or " +
			"reached at --url). The agent sees only the server's tools a person pinned (`agentos mcp pin NAME`), with the " +
			"descriptions and schemas pinned; a tool whose description, schema or annotations changed since is refused until a " +
			"person pins it again. Every tools/call is decided by mcp.rules in the committed agentos.yaml (allow, ask, deny) " +
			"and recorded as an mcp.call audit event with its rule and its arguments redacted. The server itself runs with " +
			"your rights, outside the AgentOS sandbox.",
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := validServerName(u.name); err != nil {
				return err
			}
			up, hint, err := u.transport(cmd, args)
			if err != nil {
				return err
			}
			cfg, err := f.ConfigUnchecked(ctx)
			if err != nil {
				return err
			}
			rules, err := mcpgateway.Compile(cfg.MCP)
			if err != nil {
				return err
			}
			r, err := redact.New(cfg.Redact.Patterns)
			if err != nil {
				return err
			}
			db, err := f.DB(ctx)
			if err != nil {
				return err
			}
			pin, err := latestPin(ctx, f, db, u.name)
			if err != nil {
				return err
			}
			// Only this goroutine's handlers append through db; the store
			// serialises appends itself.
			g, err := mcpgateway.New(ctx, up, mcpgateway.Options{
				Name: u.name, Rules: rules, Pinned: mcpgateway.PinnedFrom(pin), Redact: r.String,
				Record: func(ctx context.Context, ev agentos.MCPCallEvent) error {
					_, err := db.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: agentos.EventMCPCall, Data: ev})
					return err
				},
				PinHint: "agentos mcp pin " + u.name + " " + hint, Transport: "stdio", Version: agentos.Version,
			})
			if err != nil {
				return err
			}
			defer g.Close()
			for _, c := range g.Changes() {
				fmt.Fprintf(f.IO.ErrOut, "agentos mcp proxy: tool %s of %s is %s since its pin: not offered (a person pins it with `agentos mcp pin %s %s`)\n", c.Name, u.name, map[string]string{"new": "not pinned", "changed": "CHANGED", "gone": "gone"}[c.Kind], u.name, hint)
			}
			return mcpRun(ctx, g.Server(), f)
		},
	}
	cmd.Flags().StringVar(&u.name, "name", "", "the server's `name` (what mcp.rules see as server; its pin is kept under it)")
	u.add(cmd)
	return cmd
}

// pinStatement is what a person signs when they pin a tool list.
func pinStatement(server, hash string) []byte {
	b, _ := canonjson.Marshal(map[string]string{"type": "agentos.mcp.pin", "server": server, "hash": hash})
	return b
}

// latestPin is the last tool list a person pinned for server, from the
// audit chain (nil: none). With signers listed, a pin counts only with a
// signature that verifies against them by someone with the approve role;
// in solo use it must be a person's.
func latestPin(ctx context.Context, f *Factory, db agentos.Store, server string) (*agentos.MCPPinEvent, error) {
	evs, err := db.Events(ctx, agentos.EventFilter{Kind: agentos.EventMCPPin})
	if err != nil {
		return nil, err
	}
	cfg, err := f.ConfigUnchecked(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := cfg.Keyring()
	if err != nil {
		return nil, err
	}
	for i := len(evs) - 1; i >= 0; i-- {
		var p agentos.MCPPinEvent
		if json.Unmarshal(evs[i].Data, &p) != nil || p.Server != server {
			continue
		}
		if !evs[i].Actor.IsHuman() || mcpgateway.PinHash(p.Tools) != p.Hash {
			continue
		}
		if keys.Len() > 0 {
			if p.Signed == nil || p.Signed.Statement != string(pinStatement(server, p.Hash)) {
				continue
			}
			who, _, err := keys.Verify([]byte(p.Signed.Statement), p.Signed.Signature)
			if err != nil || who.Actor() != evs[i].Actor || !who.Can(signers.RoleApprove) {
				continue
			}
		}
		return &p, nil
	}
	return nil, nil
}

func newCmdMCPPin(f *Factory) *cobra.Command {
	var u upstreamFlags
	var hash string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "pin NAME (-- SERVER-COMMAND [ARGS...] | --url URL) [--hash sha256:…]",
		Short: "Review a third-party MCP server's tools and pin them (a person's approval, audited)",
		Long: "Lists the server's tools with their descriptions and what changed since the last pin, and the hash of the " +
			"list. Run it again with --hash HASH to pin exactly that list: the gateway (`agentos mcp proxy --name NAME`) then " +
			"offers those tools, and refuses any whose description, schema or annotations change later until a person pins " +
			"them again. Pinning is a person's decision: recorded as an mcp.pin audit event, signed with your key when the " +
			"policy lists signers (role approve).",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("usage: %s NAME -- SERVER-COMMAND [ARGS...] (or --url URL)", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			u.name = args[0]
			if err := validServerName(u.name); err != nil {
				return err
			}
			up, _, err := u.transport(cmd, args[1:])
			if err != nil {
				return err
			}
			db, err := f.DB(ctx)
			if err != nil {
				return err
			}
			prev, err := latestPin(ctx, f, db, u.name)
			if err != nil {
				return err
			}
			client := mcp.NewClient(&mcp.Implementation{Name: "agentos-mcp-pin", Version: agentos.Version}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
			cs, err := client.Connect(ctx, up, nil)
			if err != nil {
				return agentos.WrapError(agentos.EFAILED, err, "MCP server %s: cannot connect: %v", u.name, err)
			}
			tools, err := mcpgateway.ListTools(ctx, cs)
			cs.Close()
			if err != nil {
				return agentos.WrapError(agentos.EFAILED, err, "MCP server %s: cannot list its tools: %v", u.name, err)
			}
			now, err := mcpgateway.NewPin(u.name, tools)
			if err != nil {
				return err
			}
			changes := mcpgateway.Diff(mcpgateway.PinnedFrom(prev), now)
			if hash == "" {
				if asJSON {
					return printJSON(f, struct {
						agentos.MCPPinEvent
						Changes []mcpgateway.ToolChange `json:"changes"`
					}{now, changes})
				}
				kind := map[string]string{}
				for _, c := range changes {
					kind[c.Name] = c.Kind
				}
				fmt.Fprintf(f.IO.Out, "MCP server %s: %d tool(s), list %s\n", u.name, len(now.Tools), now.Hash)
				for _, t := range now.Tools {
					mark := "pinned"
					if k := kind[t.Name]; k != "" {
						mark = k
					}
					fmt.Fprintf(f.IO.Out, "\n%s (%s) %s\n  %s\n", t.Name, mark, t.Hash, strings.ReplaceAll(strings.TrimSpace(t.Description), "\n", "\n  "))
				}
				for _, c := range changes {
					if c.Kind == "gone" {
						fmt.Fprintf(f.IO.Out, "\n%s (gone: no longer listed)\n", c.Name)
					}
				}
				if prev != nil && len(changes) == 0 {
					fmt.Fprintf(f.IO.Out, "\nunchanged since pinned\n")
					return nil
				}
				fmt.Fprintf(f.IO.Out, "\nreview the descriptions above; to pin exactly this list: agentos mcp pin %s --hash %s %s\n", u.name, now.Hash, strings.Join(append([]string{"--"}, args[1:]...), " "))
				return nil
			}
			if hash != now.Hash {
				return agentos.Errorf(agentos.ECONFLICT, "the tool list of %s is now %s, not %s: it changed since you reviewed it; review it again with `agentos mcp pin %s …`", u.name, now.Hash, hash, u.name)
			}
			id, err := f.Decider(ctx, signers.RoleApprove)
			if err != nil {
				return err
			}
			if prev != nil {
				now.Previous = prev.Hash
			}
			now.OSUser = id.OSUser
			if id.Sign != nil {
				if now.Signed, err = id.Sign(pinStatement(u.name, now.Hash)); err != nil {
					return err
				}
			}
			if _, err := db.Append(ctx, agentos.EventInput{Actor: id.Actor, Kind: agentos.EventMCPPin, Data: now}); err != nil {
				return err
			}
			if asJSON {
				return printJSON(f, now)
			}
			fmt.Fprintf(f.IO.Out, "pinned %d tool(s) of %s (%s) by %s\n", len(now.Tools), u.name, now.Hash, id.Actor)
			return nil
		},
	}
	cmd.Flags().StringVar(&hash, "hash", "", "pin the list only if it still hashes to this (as printed by the review)")
	u.add(cmd)
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

// withMCPEndpoint adds the MCP server's streamable HTTP endpoint at /mcp to
// the handlers `agentos serve` mounts behind its bearer tokens. Calls act
// as agent:mcp whoever holds the token (a person's token included: MCP is
// an agent's door), the token's name is recorded with each call, and a
// token below the submitter role is refused (the tools submit and run).
func withMCPEndpoint(ctx context.Context, f *Factory, extra map[string]http.Handler) (map[string]http.Handler, func(), error) {
	b, err := newMCPBackend(ctx, f, defaultMCPActor)
	if err != nil {
		return nil, nil, err
	}
	srv := mcpserver.New(b, mcpserver.Options{Version: agentos.Version, Transport: "http"})
	h := mcpserver.HTTPHandler(srv, func(r *http.Request) string {
		id, _ := httpapi.IdentityFrom(r.Context())
		return id.Name
	})
	out := map[string]http.Handler{}
	maps.Copy(out, extra)
	out["/mcp"] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := httpapi.IdentityFrom(r.Context())
		if !ok || !tokens.Role(id.Role).AtLeast(tokens.Submitter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"error":{"code":"denied","message":"the MCP endpoint needs a token with the submitter role or above"}}`+"\n")
			return
		}
		// A tool call answers when its run ends (a submitted plan applies,
		// verifies and commits first), and the SSE stream stays open: the
		// API's write timeout would cut both.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		h.ServeHTTP(w, r)
	})
	return out, b.wait, nil
}
