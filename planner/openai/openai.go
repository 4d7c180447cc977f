// Package openai is the LLM planner: it asks any OpenAI-compatible endpoint
// (OpenAI, Azure, Ollama, vLLM, llama.cpp server) for an Intent and then for a
// Plan, each with Structured Outputs (response_format json_schema, strict),
// using the schemas of package schema, and checks every answer again on
// receipt. An answer that breaks the schema or the plan rules is sent back to
// the model with the exact error a bounded number of times; after that the
// error carries the model's last answer. Nothing it returns has been executed.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/budget"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/planner"
	"github.com/agentos/agentos/schema"
	"github.com/agentos/agentos/telemetry"
	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// Planner asks one model at one endpoint.
type Planner struct {
	client    oai.Client
	model     string
	baseURL   string
	host      string
	keyEnv    string
	repairs   int
	maxTokens int64
	// ContextBytes is the repository-context budget the coordinator should use.
	ContextBytes int
	// Now is the clock for latencies (injectable for tests).
	Now func() time.Time
}

// Usage is one model call: token counts and latency, for the audit log and
// the ReviewPack. No prompt or key is in it.
type Usage = agentos.PlannerCall

// AnswerError is returned (inside an *agentos.Error) when the model's
// answers stayed unusable: LastAnswer is its last answer verbatim, for the
// ReviewPack.
type AnswerError struct {
	Call       string
	Attempts   int
	LastAnswer string
	Err        error
}

func (e *AnswerError) Error() string {
	return fmt.Sprintf("%s: %d answers refused, last: %v", e.Call, e.Attempts, e.Err)
}

func (e *AnswerError) Unwrap() error { return e.Err }

// LastAnswer returns the model's last answer carried by err, if any.
func LastAnswer(err error) string {
	if e, ok := errors.AsType[*AnswerError](err); ok {
		return e.LastAnswer
	}
	return ""
}

// New builds a planner from the policy's planner.openai section; getenv
// looks up the API key by the configured variable name (os.Getenv in
// production). The key is held only by the HTTP client.
func New(c config.OpenAIPlanner, getenv func(string) string, opts ...option.RequestOption) (*Planner, error) {
	if c.Model == "" {
		return nil, agentos.Errorf(agentos.EINVALID, "planner.openai.model is not set in %s: %s", config.FileName, HowToConfigure)
	}
	key := ""
	if c.APIKeyEnv != "" {
		key = getenv(c.APIKeyEnv)
		if key == "" {
			return nil, agentos.Errorf(agentos.EINVALID, "the API key variable %s named by planner.openai.api_key_env is empty or unset: export %s=… (the key is never written to %s)", c.APIKeyEnv, c.APIKeyEnv, config.FileName)
		}
	}
	base := strings.TrimRight(c.URL(), "/") + "/"
	all := []option.RequestOption{
		// Everything explicit: nothing is inherited from OPENAI_* variables,
		// so a key meant for one endpoint never reaches another.
		option.WithBaseURL(base),
		option.WithAPIKey(key),
		option.WithAdminAPIKey(""),
		option.WithHeaderDel("OpenAI-Organization"),
		option.WithHeaderDel("OpenAI-Project"),
		option.WithMaxRetries(c.Retries()),
		option.WithRequestTimeout(c.RequestTimeout()),
		option.WithMiddleware(requireJSON),
		option.WithMiddleware(traceparent),
	}
	all = append(all, opts...)
	p := &Planner{
		client:       oai.NewClient(all...),
		model:        c.Model,
		baseURL:      base,
		host:         hostOf(base),
		keyEnv:       c.APIKeyEnv,
		repairs:      c.Repairs(),
		maxTokens:    c.MaxOutputTokens,
		ContextBytes: c.ContextBytes,
		Now:          time.Now,
	}
	if p.maxTokens == 0 {
		p.maxTokens = config.DefaultMaxOutputTokens
	}
	if p.ContextBytes == 0 {
		p.ContextBytes = config.DefaultContextBytes
	}
	return p, nil
}

// HowToConfigure says, in one line, how to configure a model.
const HowToConfigure = config.HowToConfigureOpenAI

// ContextBudget is how many bytes of repository context Plan may send.
func (p *Planner) ContextBudget() int { return p.ContextBytes }

// LastAnswer returns the model's last unusable answer carried by err.
func (p *Planner) LastAnswer(err error) string { return LastAnswer(err) }

// Source is the provenance stamped into what this planner produces.
func (p *Planner) Source() agentos.Source {
	return agentos.Source{Planner: "openai", Model: p.model}
}

const intentSystem = `You are the intent analyst of AgentOS, a governance layer for AI changes to a git repository.
Turn the user's request into a structured Intent. Be precise and conservative:
- scope: the repository paths or globs the change may touch (slash-separated, relative to the root); as narrow as the request allows.
- acceptance: observable checks in words (tests pass, a command prints X).
- open_questions: only information that is truly missing. Mark blocker true only when there is no safe default; otherwise give the default you would assume.
- Never invent requirements the request does not state.
Answer only with the JSON object the schema describes.`

const planSystem = `You are the planner of AgentOS, a governance layer for AI changes to a git repository.
Write a dry-run plan that achieves the Intent. Nothing you write is executed until AgentOS has checked and approved it.
Rules (a plan breaking one is sent back to you):
- Reference only files that exist in the repository tree you are given, or that an earlier step creates.
- Paths are relative to the repository root, slash-separated, never absolute, never containing "..". Never touch .git/, .agentos/ or agentos.yaml.
- Prefer "write" steps with the complete new file content; use "patch" only with an exact unified diff against the files shown.
- "exec" steps and verify checks run a program directly (argv, no shell): only programs from the allowed list.
- verify: commands whose exit code 0 shows the acceptance checks hold.
- Fields a step's kind does not use are empty strings, empty arrays or 0.
- open_questions: information still missing (same rules as for the intent); empty when the plan is complete.
Answer only with the JSON object the schema describes.`

// Intent asks the model to structure request. The Intent returned has no ID
// or Task (the caller's) and is not yet hashed for them: call
// ComputeHash after setting them. Its open questions are in OpenQuestions.
func (p *Planner) Intent(ctx context.Context, request string) (agentos.Intent, []Usage, error) {
	msgs := []oai.ChatCompletionMessageParamUnion{
		oai.SystemMessage(intentSystem),
		oai.UserMessage("Request:\n" + request),
	}
	var prop planner.IntentProposal
	usage, err := p.converse(ctx, "intent", msgs, func(raw []byte) error {
		var err error
		prop, err = planner.DecodeIntent(raw)
		return err
	})
	if err != nil {
		return agentos.Intent{}, usage, err
	}
	return prop.Intent("", "", request, p.Source()), usage, nil
}

// Plan asks the model for the steps and verify checks that achieve intent,
// shown the MemoryPack, the repository context and the allowed commands.
// Every answer is checked against the plan schema, planner.CheckPlan (paths
// must exist in repo or be created by an earlier step) and then validate
// (the caller's workspace and allowlist check); a failing answer is sent
// back with the exact error. The model's open questions are returned
// beside the plan.
func (p *Planner) Plan(ctx context.Context, intent agentos.Intent, pack agentos.MemoryPack, repo planner.RepoContext, allowed []string, validate func(agentos.Plan) error) (agentos.Plan, []agentos.Question, []Usage, error) {
	in, _ := json.MarshalIndent(struct {
		Goal        string   `json:"goal"`
		Kind        string   `json:"kind"`
		Scope       []string `json:"scope"`
		Constraints []string `json:"constraints"`
		Acceptance  []string `json:"acceptance"`
		Assumptions []string `json:"assumptions"`
		Risk        string   `json:"risk"`
		Request     string   `json:"request"`
	}{intent.Goal, intent.Kind, intent.Scope, intent.Constraints, intent.Acceptance, intent.Assumptions, intent.Risk, intent.Request}, "", "  ")
	var b strings.Builder
	fmt.Fprintf(&b, "Intent:\n%s\n\n", in)
	if len(pack.Items) > 0 {
		b.WriteString("Memory (what AgentOS knows about this repository; follow conventions and decisions):\n")
		for _, it := range pack.Items {
			fmt.Fprintf(&b, "- [%s %s] %s\n", it.Kind, it.ID, it.Text)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Allowed programs for exec steps and verify checks: %s\n\n", strings.Join(allowed, ", "))
	fmt.Fprintf(&b, "Repository tree at %s (%d files", repo.Commit, len(repo.Tree))
	if repo.TreeOmitted > 0 {
		fmt.Fprintf(&b, ", %d more not shown", repo.TreeOmitted)
	}
	b.WriteString("):\n")
	for _, t := range repo.Tree {
		b.WriteString(t + "\n")
	}
	for _, f := range repo.Files {
		fmt.Fprintf(&b, "\n=== %s", f.Path)
		if f.Truncated {
			b.WriteString(" (truncated)")
		}
		fmt.Fprintf(&b, " ===\n%s\n", f.Content)
	}
	if len(repo.Omitted) > 0 {
		fmt.Fprintf(&b, "\nIn scope but not shown (budget or binary): %s\n", strings.Join(repo.Omitted, ", "))
	}
	msgs := []oai.ChatCompletionMessageParamUnion{oai.SystemMessage(planSystem), oai.UserMessage(b.String())}
	var plan agentos.Plan
	var qs []agentos.Question
	usage, err := p.converse(ctx, "plan", msgs, func(raw []byte) error {
		prop, err := planner.DecodePlan(raw)
		if err != nil {
			return err
		}
		pl := prop.Plan(intent, "openai:"+p.model)
		if err := planner.CheckPlan(pl, repo.Exists); err != nil {
			return err
		}
		if validate != nil {
			if err := validate(pl); err != nil {
				return err
			}
		}
		plan, qs = pl, planner.Questions(prop.OpenQuestions)
		return nil
	})
	if err != nil {
		return agentos.Plan{}, nil, usage, err
	}
	return plan, qs, usage, nil
}

// converse makes one structured call and, while accept refuses the answer,
// sends it back with the exact error, at most p.repairs times.
func (p *Planner) converse(ctx context.Context, call string, msgs []oai.ChatCompletionMessageParamUnion, accept func([]byte) error) ([]Usage, error) {
	sch, err := schema.Map(call)
	if err != nil {
		return nil, err
	}
	var usage []Usage
	var last string
	var lastErr error
	for attempt := 1; attempt <= p.repairs+1; attempt++ {
		params := oai.ChatCompletionNewParams{
			Model:               p.model,
			Messages:            msgs,
			MaxCompletionTokens: oai.Int(p.maxTokens),
			ResponseFormat: oai.ChatCompletionNewParamsResponseFormatUnion{
				OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
					JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
						Name:   "agentos_" + call,
						Strict: oai.Bool(true),
						Schema: sch,
					},
				},
			},
		}
		// A budget is checked before every call: a limit reached by the
		// calls before (this planner's or another task's today) stops here.
		meter := budget.FromContext(ctx)
		if err := meter.Check(ctx); err != nil {
			return usage, err
		}
		start := p.Now()
		cctx, span := telemetry.ModelCall(ctx, "openai", p.host, p.model)
		resp, err := p.client.Chat.Completions.New(cctx, params)
		u := Usage{Call: call, Attempt: attempt, Model: p.model, LatencyMS: p.Now().Sub(start).Milliseconds()}
		if err != nil {
			u.Outcome = "error"
			usage = append(usage, u)
			err = p.transportError(ctx, call, err)
			span.End(0, 0, "", err)
			return usage, err
		}
		finish := ""
		if len(resp.Choices) > 0 {
			finish = string(resp.Choices[0].FinishReason)
		}
		span.End(resp.Usage.PromptTokens, resp.Usage.CompletionTokens, finish, nil)
		u.PromptTokens, u.CompletionTokens, u.TotalTokens = resp.Usage.PromptTokens, resp.Usage.CompletionTokens, resp.Usage.TotalTokens
		cached := resp.Usage.PromptTokensDetails.CachedTokens
		if _, err := meter.Record(ctx, agentos.ModelUsage{Source: "openai", Model: p.model, InputTokens: max(0, resp.Usage.PromptTokens-cached),
			CacheReadTokens: cached, OutputTokens: resp.Usage.CompletionTokens}); err != nil {
			usage = append(usage, u)
			return usage, err
		}
		if len(resp.Choices) == 0 {
			u.Outcome = "error"
			usage = append(usage, u)
			return usage, agentos.Errorf(agentos.EFAILED, "the model %s at %s returned no choices for the %s: check that the endpoint is OpenAI-compatible", p.model, p.baseURL, call)
		}
		ch := resp.Choices[0]
		if ch.Message.Refusal != "" {
			u.Outcome = "refused"
			usage = append(usage, u)
			return usage, agentos.WrapError(agentos.EFAILED, &AnswerError{Call: call, Attempts: attempt, LastAnswer: ch.Message.Refusal, Err: errors.New("refused")},
				"the model %s refused to produce the %s: %q; rephrase the request or plan it by hand (agentos run --plan FILE)", p.model, call, oneLine(ch.Message.Refusal))
		}
		last = ch.Message.Content
		var problem string
		switch {
		case ch.FinishReason == "length":
			u.Outcome = "truncated"
			lastErr = fmt.Errorf("the answer was cut off at the output token limit (%d)", p.maxTokens)
			problem = "Your answer was cut off at the output token limit. Answer again with the complete JSON object, more concisely (shorter rationales; patch steps instead of whole files where possible)."
		default:
			if err := accept([]byte(strings.TrimSpace(last))); err != nil {
				u.Outcome = "invalid"
				lastErr = err
				problem = "AgentOS refused your answer: " + agentos.ErrorMessage(err) + "\nAnswer again with the complete corrected JSON object."
			} else {
				u.Outcome = "ok"
				usage = append(usage, u)
				return usage, nil
			}
		}
		usage = append(usage, u)
		msgs = append(msgs, oai.AssistantMessage(last), oai.UserMessage(problem))
	}
	ae := &AnswerError{Call: call, Attempts: p.repairs + 1, LastAnswer: last, Err: lastErr}
	return usage, agentos.WrapError(agentos.EFAILED, ae,
		"the model %s gave no acceptable %s in %d answers; last problem: %s (its last answer is kept with the task; refine the request, raise planner.openai.max_repairs, or use a stronger model)",
		p.model, call, p.repairs+1, oneLine(agentos.ErrorMessage(lastErr)))
}

// transportError turns an SDK or network error into one line that says what
// to do. The SDK has already retried what is worth retrying (408, 409, 429,
// 5xx, connection errors), honouring Retry-After.
func (p *Planner) transportError(ctx context.Context, call string, err error) error {
	where := fmt.Sprintf("%s at %s", p.model, p.baseURL)
	if ae, ok := errors.AsType[*oai.Error](err); ok {
		msg := oneLine(ae.Message)
		if msg == "" {
			msg = http.StatusText(ae.StatusCode)
		}
		switch {
		case ae.StatusCode == http.StatusTooManyRequests:
			return agentos.WrapError(agentos.EFAILED, err, "the model endpoint %s is rate limiting the %s request (429: %s), still after retries: wait and run again, or lower planner.openai concurrency/usage", where, call, msg)
		case ae.StatusCode == http.StatusUnauthorized || ae.StatusCode == http.StatusForbidden:
			hint := "set planner.openai.api_key_env to the name of the variable holding a valid key"
			if p.keyEnv != "" {
				hint = fmt.Sprintf("check the key in $%s", p.keyEnv)
			}
			return agentos.WrapError(agentos.EFAILED, err, "the model endpoint %s refused the credentials (%d: %s): %s", where, ae.StatusCode, msg, hint)
		case ae.StatusCode == http.StatusNotFound:
			return agentos.WrapError(agentos.EFAILED, err, "the model endpoint %s answered 404 (%s): check planner.openai.base_url (it ends in /v1) and planner.openai.model", where, msg)
		case ae.StatusCode == http.StatusBadRequest:
			return agentos.WrapError(agentos.EFAILED, err, "the model endpoint %s rejected the %s request (400: %s): the model or server may not support Structured Outputs (response_format json_schema, strict)", where, call, msg)
		case ae.StatusCode >= 500:
			return agentos.WrapError(agentos.EFAILED, err, "the model endpoint %s failed (%d: %s), still after retries: try again later", where, ae.StatusCode, msg)
		}
		return agentos.WrapError(agentos.EFAILED, err, "the model endpoint %s answered %d to the %s request: %s", where, ae.StatusCode, call, msg)
	}
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return agentos.WrapError(agentos.EFAILED, err, "the %s request to %s was cancelled", call, where)
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return agentos.WrapError(agentos.EFAILED, err, "the %s request to %s timed out, still after retries: raise planner.openai.timeout or use a faster model", call, where)
	}
	if _, ok := errors.AsType[*NotJSONError](err); ok {
		return agentos.WrapError(agentos.EFAILED, err, "the model endpoint %s did not answer JSON: check that planner.openai.base_url is an OpenAI-compatible API (it usually ends in /v1)", where)
	}
	return agentos.WrapError(agentos.EFAILED, err, "cannot reach the model endpoint %s: %v; is the server running and planner.openai.base_url right?", where, oneLine(err.Error()))
}

// NotJSONError says a successful answer was not JSON (a web page, a proxy's
// login form): base_url points at something that is not an OpenAI-compatible
// API. The SDK reports this case only as message text, so requireJSON
// detects it first and transportError branches on the type.
type NotJSONError struct{ ContentType string }

func (e *NotJSONError) Error() string {
	return fmt.Sprintf("the answer's content type is %q, not JSON", e.ContentType)
}

// requireJSON is a client middleware that turns a successful answer that
// is not JSON into a *NotJSONError (the SDK's own test: application/json or
// a +json type). Error answers (status >= 400) are left to the SDK. The
// response is returned with the error so the SDK does not retry: it
// retries only when there is no response or its status is retryable, and
// the same endpoint will answer the same page again.
func requireJSON(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if err != nil || res == nil || res.StatusCode >= 400 {
		return res, err
	}
	ct := res.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if strings.Contains(mt, "application/json") || strings.HasSuffix(mt, "+json") {
		return res, nil
	}
	res.Body.Close()
	return res, &NotJSONError{ContentType: ct}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}

// traceparent is a client middleware that sends the model call's trace
// context (W3C traceparent) with the request, so a model gateway's own
// telemetry joins the task's trace (nothing when telemetry is off).
func traceparent(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	telemetry.Inject(req)
	return next(req)
}

func hostOf(base string) string {
	if u, err := url.Parse(base); err == nil {
		return u.Hostname()
	}
	return ""
}
