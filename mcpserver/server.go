// Package mcpserver is AgentOS as an MCP server (`agentos mcp`, over stdio,
// and streamable HTTP under `agentos serve`): an MCP client — Claude Code,
// Codex, OpenCode, an IDE — submits plans and requests, reads a task's
// state, QuestionPack and ReviewPack, searches memory, and runs a command in
// the AgentOS sandbox under the command rules. Every call goes through the
// same pipeline as the CLI (the Backend, wired by package cli) and is
// recorded as an mcp.call audit event. Answering questions and approving
// plans are for people and are not tools here.
package mcpserver

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/mcpgateway"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Backend is what the tools do, through the same code as the CLI's verbs.
// The acting identity is fixed when the Backend is built (an agent actor),
// never taken from the client.
type Backend interface {
	// SubmitPlan plans a task from plan YAML and, unless args.Queue, runs
	// it (gates, approval, apply, verify, commit) as `agentos run --plan`;
	// with Queue it is submitted for `agentos worker` as `agentos submit`.
	SubmitPlan(ctx context.Context, args SubmitPlanArgs) (any, error)
	// SubmitRequest runs a natural-language request through the configured
	// planner (`agentos run "REQUEST"`).
	SubmitRequest(ctx context.Context, args SubmitRequestArgs) (any, error)
	Task(ctx context.Context, id string) (any, error)
	Questions(ctx context.Context, id string) (any, error)
	Review(ctx context.Context, id string) (any, error)
	SearchMemory(ctx context.Context, args SearchMemoryArgs) (any, error)
	// RunCommand decides argv with the command rules and runs it in the
	// sandbox (`agentos sandbox run`); record is called with the decision
	// before anything runs, and an error from it stops the run.
	RunCommand(ctx context.Context, args RunCommandArgs, record func(CommandDecision) error) (RunCommandResult, error)
	// Record appends an mcp.call event to the audit chain.
	Record(ctx context.Context, ev agentos.MCPCallEvent) error
	// Redact hides secrets in text that is recorded.
	Redact(s string) string
}

// SubmitPlanArgs are the submit_plan tool's arguments.
type SubmitPlanArgs struct {
	Plan   string            `json:"plan" jsonschema:"the plan file's YAML text (docs/planfile.md): goal, steps, verify"`
	Mode   string            `json:"mode,omitempty" jsonschema:"autonomy mode: interactive, semi_auto or full_auto (default: the policy's)"`
	Set    map[string]string `json:"set,omitempty" jsonschema:"param answers given up front, ID to value"`
	Labels []string          `json:"labels,omitempty" jsonschema:"labels for the task"`
	Queue  bool              `json:"queue,omitempty" jsonschema:"queue the task for agentos worker instead of running it now"`
}

// SubmitRequestArgs are the submit_request tool's arguments.
type SubmitRequestArgs struct {
	Request string            `json:"request" jsonschema:"what to change, in natural language"`
	Mode    string            `json:"mode,omitempty" jsonschema:"autonomy mode: interactive, semi_auto or full_auto"`
	Set     map[string]string `json:"set,omitempty" jsonschema:"param answers given up front"`
	Labels  []string          `json:"labels,omitempty" jsonschema:"labels for the task"`
}

// TaskArgs name a task.
type TaskArgs struct {
	Task string `json:"task" jsonschema:"the task id (or a unique prefix)"`
}

// SearchMemoryArgs are the search_memory tool's arguments.
type SearchMemoryArgs struct {
	Query string   `json:"query" jsonschema:"words to search for"`
	Scope []string `json:"scope,omitempty" jsonschema:"paths the work touches: items scoped there rank first"`
	Limit int      `json:"limit,omitempty" jsonschema:"at most this many hits (default 10)"`
}

// RunCommandArgs are the run_command tool's arguments.
type RunCommandArgs struct {
	Argv    []string `json:"argv" jsonschema:"the command and its arguments (no shell unless you name one; the command rules decide what a shell script runs)"`
	Timeout string   `json:"timeout,omitempty" jsonschema:"kill it after this long, e.g. 2m (default: exec.default_timeout)"`
}

// CommandDecision is the command rules' decision on a run_command call.
type CommandDecision struct {
	Effect string // allow, approve, deny
	Rule   string
	Reason string
}

// RunCommandResult is what a sandboxed command did.
type RunCommandResult struct {
	ExitCode int    `json:"exit_code"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	Rule     string `json:"rule"`
}

// Options configure a server.
type Options struct {
	Version   string
	Transport string // stdio or http
}

// Tool names.
const (
	ToolSubmitPlan    = "submit_plan"
	ToolSubmitRequest = "submit_request"
	ToolTask          = "get_task"
	ToolQuestions     = "get_questions"
	ToolReview        = "get_review"
	ToolSearchMemory  = "search_memory"
	ToolRunCommand    = "run_command"
)

func ptr[T any](v T) *T { return &v }

// New builds the MCP server over b.
func New(b Backend, opts Options) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "agentos", Title: "AgentOS", Version: opts.Version}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}},
		Instructions: "AgentOS governs changes to this git repository. Propose a change as a plan (submit_plan) or a request " +
			"(submit_request); AgentOS gates it, may ask a person to approve it or to answer questions, applies it in a sandbox, " +
			"verifies and commits it. Read the outcome with get_task, get_questions and get_review. Answering and approving are " +
			"for people, not for you. run_command runs one command in the AgentOS sandbox under the repository's command rules.",
	})
	h := &handlers{b: b, opts: opts}
	// Honest annotations: what each tool can do to the world. Submitting
	// can change the target branch (gated, reverted by a rollback, but a
	// plan may delete files), so it is destructive; a request asks a
	// model, so it is open-world; the reads change nothing.
	read := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: ptr(false)}
	mcp.AddTool(s, &mcp.Tool{Name: ToolSubmitPlan, Title: "Submit a plan",
		Description: "Submit a plan (the YAML of an AgentOS plan file) as the agent actor. It goes through the normal pipeline: validation against the base commit, gates, a person's approval where the policy asks for one, the sandboxed apply, verify and commit. Returns the task with its state: committed, blocked (questions for a person), awaiting_approval (a person must approve), queued, or failed.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(true), OpenWorldHint: ptr(false)}}, h.submitPlan)
	mcp.AddTool(s, &mcp.Tool{Name: ToolSubmitRequest, Title: "Submit a request",
		Description: "Submit a natural-language request; the repository's configured planner (a model) turns it into a plan, which then goes through the same pipeline as submit_plan.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(true), OpenWorldHint: ptr(true)}}, h.submitRequest)
	mcp.AddTool(s, &mcp.Tool{Name: ToolTask, Title: "Read a task", Description: "A task's state, plan hash, runs and commits.", Annotations: read}, h.task)
	mcp.AddTool(s, &mcp.Tool{Name: ToolQuestions, Title: "Read a task's questions", Description: "The QuestionPack a blocked task waits on. Only a person answers it.", Annotations: read}, h.questions)
	mcp.AddTool(s, &mcp.Tool{Name: ToolReview, Title: "Read a task's ReviewPack", Description: "The ReviewPack of a task's latest run: intent, plan, gate decisions, steps, patches, commits, rollback guide.", Annotations: read}, h.review)
	mcp.AddTool(s, &mcp.Tool{Name: ToolSearchMemory, Title: "Search memory", Description: "Full-text search of what AgentOS knows about this repository (conventions, lessons, observations), secrets redacted.", Annotations: read}, h.searchMemory)
	mcp.AddTool(s, &mcp.Tool{Name: ToolRunCommand, Title: "Run a command in the sandbox",
		Description: "Run one command in the AgentOS sandbox with the repository as its writable root (.git, .agentos and the policy stay read-only), no network, the policy's environment allowlist; the repository's command rules decide first and a refused command does not run.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(true), OpenWorldHint: ptr(false)}}, h.runCommand)
	return s
}

// PrincipalHeader carries, from HTTPHandler to the tools, who the HTTP
// server authenticated; HTTPHandler always overwrites what a client sent.
const PrincipalHeader = "Agentos-Mcp-Principal"

// HTTPHandler serves s over streamable HTTP. Mount it behind the server's
// token authentication; principal names who that authenticated (an HTTP
// token's name), recorded with every call (nil: nobody is recorded).
func HTTPHandler(s *mcp.Server, principal func(*http.Request) string) http.Handler {
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del(PrincipalHeader)
		if principal != nil {
			if p := principal(r); p != "" {
				r.Header.Set(PrincipalHeader, p)
			}
		}
		h.ServeHTTP(w, r)
	})
}

type handlers struct {
	b    Backend
	opts Options
}

// event is the audit record of one call before its outcome.
func (h *handlers) event(req *mcp.CallToolRequest) agentos.MCPCallEvent {
	ev := agentos.MCPCallEvent{Front: "server", Transport: h.opts.Transport, Tool: req.Params.Name,
		Arguments: mcpgateway.RecordedArguments(req.Params.Arguments, h.b.Redact), Decision: "allow", Client: mcpgateway.ClientName(req.Session)}
	if req.Extra != nil && req.Extra.Header != nil {
		ev.Principal = req.Extra.Header.Get(PrincipalHeader)
	}
	return ev
}

// done records a call that went through the pipeline (which audits its own
// steps) with its outcome, and returns its result.
func (h *handlers) done(ctx context.Context, req *mcp.CallToolRequest, task string, out any, err error) (*mcp.CallToolResult, any, error) {
	ev := h.event(req)
	ev.Outcome = "ok"
	if err != nil {
		ev.Outcome = string(agentos.ErrorCode(err))
	}
	ev.Task = task
	if rerr := h.b.Record(ctx, ev); rerr != nil && err == nil {
		err = agentos.WrapError(agentos.EINTERNAL, rerr, "the call ran but AgentOS could not record it in its audit: %s", agentos.ErrorMessage(rerr))
	}
	if err != nil {
		// The task, when there is one, still tells the client where it stands.
		res := &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: h.errorText(err)}}}
		if out != nil {
			if b, jerr := json.Marshal(out); jerr == nil {
				res.Content = append(res.Content, &mcp.TextContent{Text: string(b)})
				res.StructuredContent = json.RawMessage(b)
			}
		}
		return res, nil, nil
	}
	return nil, out, nil
}

// errorText is an error as the client reads it, redacted as the CLI
// redacts what it prints: a message can quote outside text (a failing
// check's last line, what the client itself sent).
func (h *handlers) errorText(err error) string {
	return string(agentos.ErrorCode(err)) + ": " + h.b.Redact(agentos.ErrorMessage(err))
}

// taskID is the id of the task a submission created (its result is the
// task's view, which has the task's fields at the top).
func taskID(out any) string {
	if out == nil {
		return ""
	}
	b, err := json.Marshal(out)
	if err != nil {
		return ""
	}
	var t struct {
		ID string `json:"id"`
	}
	json.Unmarshal(b, &t)
	return t.ID
}

func (h *handlers) submitPlan(ctx context.Context, req *mcp.CallToolRequest, in SubmitPlanArgs) (*mcp.CallToolResult, any, error) {
	out, err := h.b.SubmitPlan(ctx, in)
	return h.done(ctx, req, taskID(out), out, err)
}

func (h *handlers) submitRequest(ctx context.Context, req *mcp.CallToolRequest, in SubmitRequestArgs) (*mcp.CallToolResult, any, error) {
	out, err := h.b.SubmitRequest(ctx, in)
	return h.done(ctx, req, taskID(out), out, err)
}

func (h *handlers) task(ctx context.Context, req *mcp.CallToolRequest, in TaskArgs) (*mcp.CallToolResult, any, error) {
	out, err := h.b.Task(ctx, in.Task)
	return h.done(ctx, req, in.Task, out, err)
}

func (h *handlers) questions(ctx context.Context, req *mcp.CallToolRequest, in TaskArgs) (*mcp.CallToolResult, any, error) {
	out, err := h.b.Questions(ctx, in.Task)
	return h.done(ctx, req, in.Task, out, err)
}

func (h *handlers) review(ctx context.Context, req *mcp.CallToolRequest, in TaskArgs) (*mcp.CallToolResult, any, error) {
	out, err := h.b.Review(ctx, in.Task)
	return h.done(ctx, req, in.Task, out, err)
}

func (h *handlers) searchMemory(ctx context.Context, req *mcp.CallToolRequest, in SearchMemoryArgs) (*mcp.CallToolResult, any, error) {
	out, err := h.b.SearchMemory(ctx, in)
	return h.done(ctx, req, "", out, err)
}

// runCommand records the command rules' decision before the command runs
// (a decision that cannot be recorded runs nothing), as the hook does.
func (h *handlers) runCommand(ctx context.Context, req *mcp.CallToolRequest, in RunCommandArgs) (*mcp.CallToolResult, any, error) {
	recorded := false
	res, err := h.b.RunCommand(ctx, in, func(d CommandDecision) error {
		ev := h.event(req)
		ev.Decision, ev.Rule, ev.Reason = d.Effect, d.Rule, d.Reason
		if d.Effect != "allow" {
			ev.Outcome = string(agentos.EDENIED)
		}
		recorded = true
		return h.b.Record(ctx, ev)
	})
	if err != nil && !recorded {
		// Refused before the rules decided (no such program, bad input).
		ev := h.event(req)
		ev.Decision, ev.Outcome = "deny", string(agentos.ErrorCode(err))
		ev.Reason = agentos.ErrorMessage(err)
		h.b.Record(ctx, ev)
	}
	if err != nil {
		r := &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: h.errorText(err)}}}
		if res.Rule != "" {
			b, _ := json.Marshal(res)
			r.Content = append(r.Content, &mcp.TextContent{Text: string(b)})
			r.StructuredContent = json.RawMessage(b)
		}
		return r, nil, nil
	}
	return nil, res, nil
}
