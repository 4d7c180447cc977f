package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/planner"
	"github.com/agentos/agentos/schema"
)

// reply is one scripted answer of the fake server.
type reply struct {
	status  int
	header  map[string]string
	content string // the assistant message content (JSON text)
	refusal string
	finish  string
	delay   time.Duration
	raw     string // a raw body instead of a completion
}

// fakeServer is an OpenAI-compatible Chat Completions endpoint that checks the
// shape of every request and answers from a script.
type fakeServer struct {
	t       *testing.T
	model   string
	mu      sync.Mutex
	script  []reply
	reqs    []map[string]any
	headers []http.Header
	*httptest.Server
}

func newFake(t *testing.T, script ...reply) *fakeServer {
	f := &fakeServer{t: t, model: "test-model", script: script}
	f.Server = httptest.NewServer(http.HandlerFunc(f.handle))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		f.t.Errorf("request %s %s, want POST /v1/chat/completions", r.Method, r.URL.Path)
		http.Error(w, "not found", 404)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("request body is not JSON: %v", err)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.headers = append(f.headers, r.Header.Clone())
	if len(f.script) == 0 {
		f.mu.Unlock()
		f.t.Errorf("unexpected request %d: the script is exhausted", len(f.reqs))
		http.Error(w, `{"error":{"message":"script exhausted"}}`, 500)
		return
	}
	rep := f.script[0]
	f.script = f.script[1:]
	f.mu.Unlock()
	f.checkShape(req)
	if rep.delay > 0 {
		select {
		case <-time.After(rep.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.status != 0 && rep.status != 200 {
		w.WriteHeader(rep.status)
		fmt.Fprintf(w, `{"error":{"message":"scripted status %d","type":"test","code":"x"}}`, rep.status)
		return
	}
	if rep.raw != "" {
		io.WriteString(w, rep.raw)
		return
	}
	finish := rep.finish
	if finish == "" {
		finish = "stop"
	}
	msg := map[string]any{"role": "assistant", "content": rep.content, "refusal": nil}
	if rep.refusal != "" {
		msg["content"], msg["refusal"] = nil, rep.refusal
	}
	json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": f.model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   map[string]any{"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
	})
}

// checkShape: model, messages, and a strict json_schema response format
// carrying exactly the schema of package schema.
func (f *fakeServer) checkShape(req map[string]any) {
	t := f.t
	if req["model"] != f.model {
		t.Errorf("model = %v, want %s", req["model"], f.model)
	}
	msgs, _ := req["messages"].([]any)
	if len(msgs) < 2 {
		t.Errorf("messages = %v, want system and user messages", msgs)
	} else if m0, _ := msgs[0].(map[string]any); m0["role"] != "system" {
		t.Errorf("messages[0].role = %v, want system", m0["role"])
	}
	rf, _ := req["response_format"].(map[string]any)
	if rf["type"] != "json_schema" {
		t.Errorf("response_format.type = %v, want json_schema", rf["type"])
		return
	}
	js, _ := rf["json_schema"].(map[string]any)
	if js["strict"] != true {
		t.Errorf("response_format.json_schema.strict = %v, want true", js["strict"])
	}
	name, _ := js["name"].(string)
	want, err := schema.Map(strings.TrimPrefix(name, "agentos_"))
	if err != nil {
		t.Errorf("response_format.json_schema.name = %q: %v", name, err)
		return
	}
	if !reflect.DeepEqual(js["schema"], want) {
		t.Errorf("response_format.json_schema.schema differs from schema %s", name)
	}
}

func (f *fakeServer) requests() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs
}

// lastUserMessage returns the content of the last message of request i.
func (f *fakeServer) lastMessage(i int) string {
	msgs := f.requests()[i]["messages"].([]any)
	m := msgs[len(msgs)-1].(map[string]any)
	s, _ := m["content"].(string)
	return s
}

func newPlanner(t *testing.T, f *fakeServer, mod func(*config.OpenAIPlanner)) *Planner {
	t.Helper()
	zero := 0
	c := config.OpenAIPlanner{BaseURL: f.URL + "/v1", Model: f.model, APIKeyEnv: "TEST_MODEL_KEY", MaxRetries: &zero, Timeout: "5s"}
	if mod != nil {
		mod(&c)
	}
	p, err := New(c, func(name string) string {
		if name == "TEST_MODEL_KEY" {
			return "sk-test-secret"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const intentJSON = `{"goal":"add a --verbose flag to serve","kind":"feature","scope":["cmd/serve.go"],"constraints":["keep flags stable"],"acceptance":["go test ./... passes"],"assumptions":[],"risk":"low","open_questions":[]}`

func TestIntent(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newFake(t, reply{content: intentJSON})
		p := newPlanner(t, f, nil)
		in, usage, err := p.Intent(t.Context(), "add a --verbose flag to the serve command")
		if err != nil {
			t.Fatal(err)
		}
		if in.Goal != "add a --verbose flag to serve" || in.Kind != "feature" || len(in.Scope) != 1 || in.Risk != "low" {
			t.Errorf("Intent = %+v", in)
		}
		if in.Request != "add a --verbose flag to the serve command" || in.Source.Planner != "openai" || in.Source.Model != "test-model" {
			t.Errorf("Intent request/source = %q %+v", in.Request, in.Source)
		}
		if len(usage) != 1 || usage[0].TotalTokens != 120 || usage[0].PromptTokens != 100 || usage[0].Outcome != "ok" || usage[0].Call != "intent" {
			t.Errorf("usage = %+v, want one ok call with 120 tokens", usage)
		}
		if got := f.headers[0].Get("Authorization"); got != "Bearer sk-test-secret" {
			t.Errorf("Authorization = %q, want the key from the configured variable", got)
		}
		if m := f.lastMessage(0); !strings.Contains(m, "--verbose") {
			t.Errorf("user message %q does not carry the request", m)
		}
	})
	t.Run("Questions", func(t *testing.T) {
		q := strings.Replace(intentJSON, `"open_questions":[]`, `"open_questions":[{"id":"q1","text":"Also -v?","why":"short flags may clash","kind":"bool","options":[],"default":"false","blocker":false},{"id":"q1","text":"Which log level?","why":"","kind":"choice","options":["debug","info"],"default":"","blocker":true}]`, 1)
		f := newFake(t, reply{content: q})
		in, _, err := newPlanner(t, f, nil).Intent(t.Context(), "add verbose")
		if err != nil {
			t.Fatal(err)
		}
		if len(in.OpenQuestions) != 2 || in.OpenQuestions[0].ID == in.OpenQuestions[1].ID || !in.OpenQuestions[1].Blocker || in.OpenQuestions[1].Kind != agentos.KindChoice {
			t.Errorf("OpenQuestions = %+v, want two questions with distinct ids, the second a blocker choice", in.OpenQuestions)
		}
	})
	t.Run("SchemaBreakingThenGood", func(t *testing.T) {
		bad := strings.Replace(intentJSON, `"risk":"low",`, `"risk":"tiny","extra":true,`, 1)
		f := newFake(t, reply{content: bad}, reply{content: "not json at all"}, reply{content: intentJSON})
		in, usage, err := newPlanner(t, f, nil).Intent(t.Context(), "add verbose")
		if err != nil {
			t.Fatal(err)
		}
		if in.Risk != "low" || len(usage) != 3 || usage[0].Outcome != "invalid" || usage[2].Outcome != "ok" || usage[2].Attempt != 3 {
			t.Errorf("risk %q, usage %+v; want the third answer accepted", in.Risk, usage)
		}
		fb := f.lastMessage(1)
		if !strings.Contains(fb, `/risk: "tiny" is not one of`) || !strings.Contains(fb, `unknown property "extra"`) {
			t.Errorf("feedback %q does not carry the exact validation errors", fb)
		}
		msgs := f.requests()[1]["messages"].([]any)
		if a := msgs[len(msgs)-2].(map[string]any); a["role"] != "assistant" || a["content"] != bad {
			t.Errorf("the model's refused answer is not sent back: %v", a)
		}
		if fb := f.lastMessage(2); !strings.Contains(fb, "not valid JSON") {
			t.Errorf("feedback %q does not say the answer was not JSON", fb)
		}
	})
	t.Run("ErrRefusal", func(t *testing.T) {
		f := newFake(t, reply{refusal: "I can't help with that."})
		_, usage, err := newPlanner(t, f, nil).Intent(t.Context(), "do harm")
		if agentos.ErrorCode(err) != agentos.EFAILED || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "I can't help") {
			t.Fatalf("err = %v, want a failed refusal naming the model's words", err)
		}
		if len(f.requests()) != 1 || usage[0].Outcome != "refused" || LastAnswer(err) != "I can't help with that." {
			t.Errorf("refusal retried (%d requests) or not recorded: %+v", len(f.requests()), usage)
		}
	})
	t.Run("TruncatedThenGood", func(t *testing.T) {
		f := newFake(t, reply{content: `{"goal":"add a`, finish: "length"}, reply{content: intentJSON})
		_, usage, err := newPlanner(t, f, nil).Intent(t.Context(), "x")
		if err != nil {
			t.Fatal(err)
		}
		if usage[0].Outcome != "truncated" || !strings.Contains(f.lastMessage(1), "cut off") {
			t.Errorf("usage %+v / feedback %q, want a truncation sent back", usage, f.lastMessage(1))
		}
	})
	t.Run("ErrStaysBroken", func(t *testing.T) {
		f := newFake(t, reply{content: "{}"}, reply{content: "{}"}, reply{content: `{"goal":1}`})
		_, usage, err := newPlanner(t, f, nil).Intent(t.Context(), "x")
		if agentos.ErrorCode(err) != agentos.EFAILED || !strings.Contains(err.Error(), "3 answers") {
			t.Fatalf("err = %v, want failed after 3 answers", err)
		}
		if LastAnswer(err) != `{"goal":1}` || len(usage) != 3 {
			t.Errorf("LastAnswer = %q, usage %d; want the last answer and 3 usages", LastAnswer(err), len(usage))
		}
	})
}

func TestTransportErrors(t *testing.T) {
	t.Run("RateLimitRetried", func(t *testing.T) {
		f := newFake(t, reply{status: 429, header: map[string]string{"Retry-After": "0"}}, reply{content: intentJSON})
		one := 1
		_, _, err := newPlanner(t, f, func(c *config.OpenAIPlanner) { c.MaxRetries = &one }).Intent(t.Context(), "x")
		if err != nil || len(f.requests()) != 2 {
			t.Fatalf("err = %v after %d requests, want success on the retry", err, len(f.requests()))
		}
	})
	cases := []struct {
		name    string
		replies []reply
		mod     func(*config.OpenAIPlanner)
		want    string
	}{
		{"ErrRateLimit", []reply{{status: 429, header: map[string]string{"Retry-After": "0"}}, {status: 429, header: map[string]string{"Retry-After": "0"}}}, func(c *config.OpenAIPlanner) { one := 1; c.MaxRetries = &one }, "rate limiting"},
		{"ErrUnauthorized", []reply{{status: 401}}, nil, "check the key in $TEST_MODEL_KEY"},
		{"ErrNotFound", []reply{{status: 404}}, nil, "check planner.openai.base_url"},
		{"ErrBadRequest", []reply{{status: 400}}, nil, "may not support Structured Outputs"},
		{"ErrServer", []reply{{status: 503}}, nil, "try again later"},
		{"ErrTimeout", []reply{{delay: 2 * time.Second, content: intentJSON}}, func(c *config.OpenAIPlanner) { c.Timeout = "200ms" }, "timed out"},
		{"ErrNotJSON", []reply{{raw: "<html>hello</html>", header: map[string]string{"Content-Type": "text/html"}}}, nil, "did not answer JSON"},
		{"ErrNoChoices", []reply{{raw: `{"id":"x","object":"chat.completion","choices":[],"usage":{}}`}}, nil, "no choices"},
	}
	t.Run("ErrNotJSONTyped", func(t *testing.T) {
		// A web page where the API should be is a deterministic answer:
		// typed, and not retried.
		f := newFake(t, reply{raw: "<html>login</html>", header: map[string]string{"Content-Type": "text/html; charset=utf-8"}})
		_, _, err := newPlanner(t, f, nil).Intent(t.Context(), "x")
		if _, ok := errors.AsType[*NotJSONError](err); !ok || len(f.requests()) != 1 {
			t.Fatalf("err = %v after %d requests, want a *NotJSONError after 1", err, len(f.requests()))
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.replies...)
			_, usage, err := newPlanner(t, f, tc.mod).Intent(t.Context(), "x")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if agentos.ErrorCode(err) != agentos.EFAILED || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "sk-test-secret") {
				t.Errorf("err = %q: want one line, code failed, no key", err)
			}
			if len(usage) != 1 || usage[0].Outcome != "error" {
				t.Errorf("usage = %+v, want one error call", usage)
			}
		})
	}
	t.Run("ErrUnreachable", func(t *testing.T) {
		f := newFake(t)
		f.Close()
		_, _, err := newPlanner(t, f, nil).Intent(t.Context(), "x")
		if err == nil || !strings.Contains(err.Error(), "cannot reach the model endpoint") {
			t.Fatalf("err = %v, want cannot reach", err)
		}
	})
}

func TestNoAmbientKey(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-ambient-must-not-leak")
	t.Setenv("OPENAI_ORG_ID", "org-ambient")
	f := newFake(t, reply{content: intentJSON})
	p, err := New(config.OpenAIPlanner{BaseURL: f.URL + "/v1", Model: f.model}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Intent(t.Context(), "x"); err != nil {
		t.Fatal(err)
	}
	h := f.headers[0]
	if strings.Contains(h.Get("Authorization"), "ambient") || h.Get("OpenAI-Organization") != "" {
		t.Errorf("ambient OPENAI_* settings reached a server they were not configured for: %v", h)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(config.OpenAIPlanner{}, nil); agentos.ErrorCode(err) != agentos.EINVALID || !strings.Contains(err.Error(), "Ollama") {
		t.Errorf("New without model: %v, want invalid with how to configure", err)
	}
	_, err := New(config.OpenAIPlanner{Model: "m", APIKeyEnv: "UNSET_KEY_VAR"}, func(string) string { return "" })
	if agentos.ErrorCode(err) != agentos.EINVALID || !strings.Contains(err.Error(), "export UNSET_KEY_VAR") {
		t.Errorf("New with unset key variable: %v, want invalid naming the variable", err)
	}
}

func testRepo() planner.RepoContext {
	return planner.RepoContext{
		Commit: "abc123",
		Tree:   []string{"cmd/serve.go", "go.mod", "README.md"},
		Files:  []planner.FileText{{Path: "cmd/serve.go", Content: "package cmd\n"}},
	}
}

func testIntent() agentos.Intent {
	return agentos.Intent{ID: "int-1", Task: "task-1", Goal: "add verbose", Kind: "feature", Scope: []string{"cmd/serve.go"}, Risk: "low", Request: "add a --verbose flag"}
}

func step(kind, path, content string, argv ...string) string {
	if argv == nil {
		argv = []string{}
	}
	b, _ := json.Marshal(planner.StepProposal{Kind: kind, Path: path, Content: content, Paths: []string{}, Argv: argv, Rationale: "because", Risk: "low"})
	return string(b)
}

func planJSON(steps ...string) string {
	return `{"goal":"add verbose","steps":[` + strings.Join(steps, ",") + `],"verify":[{"name":"tests","argv":["go","test","./..."],"timeout_ms":600000}],"open_questions":[]}`
}

func TestPlan(t *testing.T) {
	pack := agentos.MemoryPack{Hash: "sha256:m", Items: []agentos.PackedItem{{ID: "m1", Kind: agentos.MemoryConvention, Text: "flags use kebab-case"}}}
	allow := []string{"go", "gofmt"}
	allowOnly := func(pl agentos.Plan) error {
		for i, s := range pl.Steps {
			if s.Kind == agentos.StepExec && s.Argv[0] != "go" && s.Argv[0] != "gofmt" {
				return agentos.Errorf(agentos.EDENIED, "step %d: %s is not an allowed command (allowed: go, gofmt)", i+1, s.Argv[0])
			}
		}
		return nil
	}
	good := planJSON(step("write", "cmd/serve.go", "package cmd\n// verbose\n"), step("exec", "", "", "gofmt", "-l", "."))
	t.Run("OK", func(t *testing.T) {
		f := newFake(t, reply{content: good})
		pl, qs, usage, err := newPlanner(t, f, nil).Plan(t.Context(), testIntent(), pack, testRepo(), allow, allowOnly)
		if err != nil {
			t.Fatal(err)
		}
		if len(pl.Steps) != 2 || pl.Steps[0].Kind != agentos.StepWrite || pl.Steps[0].IntentID != "int-1" || pl.Steps[1].Argv[0] != "gofmt" || len(pl.Verify) != 1 || pl.Verify[0].TimeoutMS != 600000 {
			t.Errorf("plan = %+v", pl)
		}
		if pl.IntentID != "int-1" || pl.Task != "task-1" || pl.Source != "openai:test-model" || len(qs) != 0 || len(usage) != 1 {
			t.Errorf("plan ids/source %q %q %q, questions %v, usage %v", pl.IntentID, pl.Task, pl.Source, qs, usage)
		}
		user := f.lastMessage(0)
		for _, want := range []string{"flags use kebab-case", "cmd/serve.go", "package cmd", "go, gofmt", "add verbose"} {
			if !strings.Contains(user, want) {
				t.Errorf("plan request lacks %q", want)
			}
		}
	})
	t.Run("FabricatedPathSentBack", func(t *testing.T) {
		fab := planJSON(step("delete", "cmd/imaginary.go", ""))
		f := newFake(t, reply{content: fab}, reply{content: good})
		pl, _, usage, err := newPlanner(t, f, nil).Plan(t.Context(), testIntent(), pack, testRepo(), allow, allowOnly)
		if err != nil {
			t.Fatal(err)
		}
		if len(pl.Steps) != 2 || len(usage) != 2 || usage[0].Outcome != "invalid" {
			t.Errorf("plan %+v usage %+v", pl.Steps, usage)
		}
		if fb := f.lastMessage(1); !strings.Contains(fb, `step 1: deletes "cmd/imaginary.go", which does not exist`) {
			t.Errorf("feedback %q lacks the exact validation error", fb)
		}
	})
	t.Run("DeniedCommandSentBack", func(t *testing.T) {
		bad := planJSON(step("exec", "", "", "curl", "http://example.com"))
		f := newFake(t, reply{content: bad}, reply{content: good})
		if _, _, _, err := newPlanner(t, f, nil).Plan(t.Context(), testIntent(), pack, testRepo(), allow, allowOnly); err != nil {
			t.Fatal(err)
		}
		if fb := f.lastMessage(1); !strings.Contains(fb, "curl is not an allowed command") {
			t.Errorf("feedback %q lacks the caller's validation error", fb)
		}
	})
	t.Run("ErrFabricatedEveryTime", func(t *testing.T) {
		escape := planJSON(step("write", "../outside.txt", "x"))
		abs := planJSON(step("write", "/etc/passwd", "x"))
		prot := planJSON(step("write", ".git/config", "x"))
		f := newFake(t, reply{content: escape}, reply{content: abs}, reply{content: prot})
		_, _, usage, err := newPlanner(t, f, nil).Plan(t.Context(), testIntent(), pack, testRepo(), allow, allowOnly)
		if agentos.ErrorCode(err) != agentos.EFAILED || LastAnswer(err) != prot || len(usage) != 3 {
			t.Fatalf("err %v, last answer %q, usage %d; want failed with the last answer", err, LastAnswer(err), len(usage))
		}
		if !strings.Contains(err.Error(), "is protected") {
			t.Errorf("err %q does not say what was wrong with the last answer", err)
		}
		if fb := f.lastMessage(1); !strings.Contains(fb, "leaves the repository") {
			t.Errorf("feedback %q", fb)
		}
		if fb := f.lastMessage(2); !strings.Contains(fb, "is absolute") {
			t.Errorf("feedback %q", fb)
		}
	})
	t.Run("CreatedByEarlierStep", func(t *testing.T) {
		ok := planJSON(step("write", "internal/log/log.go", "package log\n"), `{"kind":"patch","path":"","content":"","diff":"--- a/internal/log/log.go\n+++ b/internal/log/log.go\n@@ -1 +1,2 @@\n package log\n+// x\n","paths":["internal/log/log.go"],"from":"","to":"","argv":[],"timeout_ms":0,"rationale":"r","risk":"low"}`)
		f := newFake(t, reply{content: ok})
		pl, _, _, err := newPlanner(t, f, nil).Plan(t.Context(), testIntent(), pack, testRepo(), allow, allowOnly)
		if err != nil {
			t.Fatal(err)
		}
		if pl.Steps[1].DiffHash == "" || !strings.HasPrefix(pl.Steps[1].DiffHash, "sha256:") {
			t.Errorf("patch DiffHash = %q, want the sha256 of the diff", pl.Steps[1].DiffHash)
		}
	})
	t.Run("Questions", func(t *testing.T) {
		q := strings.Replace(good, `"open_questions":[]`, `"open_questions":[{"id":"","text":"Which port?","why":"","kind":"text","options":[],"default":"8080","blocker":false}]`, 1)
		f := newFake(t, reply{content: q})
		_, qs, _, err := newPlanner(t, f, nil).Plan(t.Context(), testIntent(), pack, testRepo(), allow, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(qs) != 1 || qs[0].ID != "q1" || qs[0].Default != "8080" || qs[0].Options == nil {
			t.Errorf("questions = %+v", qs)
		}
	})
}

func TestPlanHonoursContext(t *testing.T) {
	f := newFake(t, reply{delay: 3 * time.Second, content: intentJSON})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, _, err := newPlanner(t, f, nil).Intent(ctx, "x")
	if err == nil || agentos.ErrorCode(err) != agentos.EFAILED {
		t.Fatalf("err = %v, want a failed timeout", err)
	}
}
