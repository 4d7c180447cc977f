package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/contractor/contractortest"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/sandbox"
	"github.com/agentos/agentos/sqlite"
)

// TestMain lets the test binary play the parts agentos plays for itself:
// the sandbox helper, the contractor hook (`agentos hook claude`), and a
// fake custom contractor.
func TestMain(m *testing.M) {
	if sandbox.IsHelper() {
		os.Exit(sandbox.HelperMain())
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "hook", "session":
			os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		case "__contractor":
			os.Exit(fakeCustomContractor())
		case "__contractor_traceparent": // telemetry_test.go
			os.WriteFile(filepath.Join(os.Getenv("AGENTOS_WORKTREE"), "TRACE.txt"), []byte(os.Getenv("TRACEPARENT")+"\n"), 0o644)
			os.Exit(0)
		}
	}
	// Audit keys the commands make (the first commit of a store makes one)
	// go to a directory of this run, not the user's ~/.config.
	cfgDir, err := os.MkdirTemp("", "agentos-cli-config-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CONFIG_HOME", cfgDir)
	code := m.Run()
	os.RemoveAll(cfgDir)
	os.Exit(code)
}

// fakeCustomContractor follows the custom contract: it asks $AGENTOS_HOOK
// before each write and does only what was allowed.
func fakeCustomContractor() int {
	wt := os.Getenv("AGENTOS_WORKTREE")
	for _, w := range []struct{ path, content string }{
		{filepath.Join(wt, "NOTES.md"), "notes by the contractor\n"},
		{filepath.Join(wt, "..", "escape.txt"), "escaped\n"},
	} {
		ti, _ := json.Marshal(map[string]string{"file_path": w.path, "content": w.content})
		in, _ := json.Marshal(map[string]any{"hook_event_name": "PreToolUse", "cwd": wt, "tool_name": "Write", "tool_input": json.RawMessage(ti)})
		cmd := exec.Command("/bin/sh", "-c", os.Getenv("AGENTOS_HOOK"))
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "hook:", err)
			return 1
		}
		if strings.Contains(string(out), `"permissionDecision":"allow"`) {
			os.WriteFile(w.path, []byte(w.content), 0o644)
		}
		fmt.Println(strings.TrimSpace(string(out)))
	}
	return 0
}

func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// mustGovernedRepo makes a repository with README.md and the given
// agentos.yaml committed, initialised for AgentOS.
func mustGovernedRepo(t *testing.T, policy string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	os.MkdirAll(dir, 0o755)
	gitT(t, dir, "init", "-q", "-b", "main")
	gitT(t, dir, "config", "user.name", "Tester")
	gitT(t, dir, "config", "user.email", "t@t")
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# demo\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "agentos.yaml"), []byte(policy), 0o644)
	gitT(t, dir, "add", ".")
	gitT(t, dir, "commit", "-q", "-m", "base")
	if code, _, errOut := runCLI(t, "-C", dir, "init"); code != 0 {
		t.Fatalf("agentos init: exit %d: %s", code, errOut)
	}
	return dir
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

const basePolicy = `version: 1
target: main
commands:
  allow: [cat, printf]
sandbox:
  require: false
modes:
  default: semi_auto
`

func TestRunRequestWithoutPlanner(t *testing.T) {
	dir := mustGovernedRepo(t, basePolicy)
	code, _, errOut := runCLI(t, "-C", dir, "run", "add a notes file")
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d; stderr %s", code, ExitUsage, errOut)
	}
	for _, want := range []string{"kind: openai", "api_key_env", "Ollama", "vLLM", "llama.cpp", "--plan"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q: %s", want, errOut)
		}
	}
}

// fakeModel answers the intent call, then a plan with a fabricated path, then
// a good plan, checking strict json_schema on each request.
type fakeModel struct {
	mu    sync.Mutex
	plans int
	calls []string
	fail  []string
}

func (f *fakeModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Model          string `json:"model"`
		ResponseFormat struct {
			Type       string `json:"type"`
			JSONSchema struct {
				Name   string `json:"name"`
				Strict bool   `json:"strict"`
			} `json:"json_schema"`
		} `json:"response_format"`
		Messages []struct {
			Content any `json:"content"`
		} `json:"messages"`
	}
	json.Unmarshal(body, &req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.ResponseFormat.Type != "json_schema" || !req.ResponseFormat.JSONSchema.Strict || req.Model != "test-model" || r.Header.Get("Authorization") != "Bearer sk-e2e" {
		f.fail = append(f.fail, fmt.Sprintf("bad request shape: %s %+v auth %q", req.Model, req.ResponseFormat, r.Header.Get("Authorization")))
	}
	f.calls = append(f.calls, req.ResponseFormat.JSONSchema.Name)
	var content string
	switch req.ResponseFormat.JSONSchema.Name {
	case "agentos_intent":
		content = `{"goal":"add NOTES.md","kind":"docs","scope":["NOTES.md","README.md"],"constraints":[],"acceptance":["NOTES.md exists"],"assumptions":[],"risk":"low","open_questions":[]}`
	case "agentos_plan":
		f.plans++
		step := `{"kind":"write","path":"NOTES.md","content":"# Notes\n","diff":"","paths":[],"from":"","to":"","argv":[],"timeout_ms":0,"rationale":"the request","risk":"low"}`
		if f.plans == 1 {
			step = `{"kind":"delete","path":"docs/imaginary.md","content":"","diff":"","paths":[],"from":"","to":"","argv":[],"timeout_ms":0,"rationale":"made up","risk":"low"}`
		}
		content = `{"goal":"add NOTES.md","steps":[` + step + `],"verify":[{"name":"notes exist","argv":["cat","NOTES.md"],"timeout_ms":0}],"open_questions":[]}`
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "c1", "object": "chat.completion", "created": 1, "model": req.Model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": content}}},
		"usage":   map[string]any{"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
	})
}

func TestRunRequestOpenAI(t *testing.T) {
	fm := &fakeModel{}
	srv := httptest.NewServer(fm)
	defer srv.Close()
	t.Setenv("AGENTOS_E2E_KEY", "sk-e2e")
	dir := mustGovernedRepo(t, basePolicy+`planner:
  kind: openai
  openai:
    base_url: `+srv.URL+`/v1
    model: test-model
    api_key_env: AGENTOS_E2E_KEY
    max_retries: 0
`)
	code, out, errOut := runCLI(t, "-C", dir, "run", "add a notes file")
	if code != 0 {
		t.Fatalf("agentos run: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	fm.mu.Lock()
	calls, fails := fm.calls, fm.fail
	fm.mu.Unlock()
	for _, f := range fails {
		t.Error(f)
	}
	if strings.Join(calls, ",") != "agentos_intent,agentos_plan,agentos_plan" {
		t.Errorf("model calls = %v, want intent, a refused plan, a good plan", calls)
	}
	if got := gitT(t, dir, "show", "main:NOTES.md"); got != "# Notes" {
		t.Errorf("main:NOTES.md = %q", got)
	}
	msg := gitT(t, dir, "log", "-1", "--format=%B", "main")
	if !strings.Contains(strings.ToLower(msg), "intent") {
		t.Errorf("commit message has no intent trailer:\n%s", msg)
	}
	if strings.Contains(out+errOut, "sk-e2e") {
		t.Errorf("the API key was printed")
	}
	db, err := os.ReadFile(filepath.Join(dir, ".agentos", "agentos.db"))
	if err == nil && bytes.Contains(db, []byte("sk-e2e")) {
		t.Errorf("the API key is in the database")
	}
	pcalls := auditEvents(t, dir, coordinator.EventPlannerCall)
	if len(pcalls) != 3 {
		t.Fatalf("%d planner.call audit events, want 3", len(pcalls))
	}
	reviews, _ := filepath.Glob(filepath.Join(dir, ".agentos", "reviews", "*.json"))
	var rp agentos.ReviewPack
	for _, r := range reviews {
		b, _ := os.ReadFile(r)
		var p agentos.ReviewPack
		if json.Unmarshal(b, &p) == nil && len(p.PlannerCalls) > len(rp.PlannerCalls) {
			rp = p
		}
	}
	if len(rp.PlannerCalls) != 3 || rp.PlannerCalls[1].Outcome != "invalid" || rp.PlannerCalls[0].TotalTokens != 60 {
		t.Errorf("ReviewPack planner_calls = %+v, want the 3 calls with their tokens", rp.PlannerCalls)
	}
	for i, want := range []string{"ok", "invalid", "ok"} {
		if !strings.Contains(string(pcalls[i].Data), `"outcome":"`+want+`"`) || !strings.Contains(string(pcalls[i].Data), `"total_tokens":60`) || pcalls[i].Actor != "agent:openai:test-model" {
			t.Errorf("planner.call %d = %s by %s, want outcome %s with 60 tokens by the model's agent identity", i, pcalls[i].Data, pcalls[i].Actor, want)
		}
	}
}

func auditEvents(t *testing.T, dir, kind string) []agentos.Event {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, ".agentos", "agentos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	evs, err := db.Events(t.Context(), agentos.EventFilter{Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestRunRequestContractor(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := mustGovernedRepo(t, basePolicy+`planner:
  kind: contractor
  contractor:
    name: custom
    argv: [`+exe+`, __contractor]
    timeout: 1m
verify:
  default:
    - {name: notes exist, argv: [cat, NOTES.md]}
`)
	code, out, errOut := runCLI(t, "-C", dir, "run", "write notes")
	if code != 0 {
		t.Fatalf("agentos run: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	// The contractor brought no check: the policy's default ran, and says so.
	if msg := gitT(t, dir, "log", "-1", "--format=%B", "main"); !strings.Contains(msg, "1 verify checks") || !strings.Contains(msg, "verify.default") {
		t.Errorf("commit message does not say the policy's default verified it:\n%s", msg)
	}
	if got := gitT(t, dir, "show", "main:NOTES.md"); got != "notes by the contractor" {
		t.Errorf("main:NOTES.md = %q", got)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, ".agentos", "contractors", "*", "escape.txt"))
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.txt")); err == nil || len(matches) > 0 {
		t.Errorf("the contractor's write outside its worktree got through")
	}
	if st := gitT(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("the user's tree changed:\n%s", st)
	}
	ds := auditEvents(t, dir, coordinator.EventContractorDecision)
	if len(ds) != 2 || !strings.Contains(string(ds[0].Data), `"allow":true`) || !strings.Contains(string(ds[1].Data), `"allow":false`) || !strings.Contains(string(ds[1].Data), "outside the worktree") {
		t.Errorf("contractor.decision events = %d: %v; want the allowed and the refused write", len(ds), ds)
	}
	// The ReviewPack shows the agent's work: every tool decision, counted.
	mds, _ := filepath.Glob(filepath.Join(dir, ".agentos", "reviews", "*.md"))
	jss, _ := filepath.Glob(filepath.Join(dir, ".agentos", "reviews", "*.json"))
	var md, js []byte
	for _, m := range mds {
		b, _ := os.ReadFile(m)
		md = append(md, b...)
	}
	for _, j := range jss {
		b, _ := os.ReadFile(j)
		js = append(js, b...)
	}
	if !strings.Contains(string(md), "**Agent tool calls:** 2 decided: 1 allowed, 1 denied") || !strings.Contains(string(md), "## Agent tool decisions") || !strings.Contains(string(md), "escape.txt") {
		t.Errorf("the ReviewPack does not list the contractor's tool decisions:\n%s", md)
	}
	if !strings.Contains(string(js), `"tool_counts":{"allowed":1,"denied":1,"total":2}`) {
		t.Errorf("the ReviewPack JSON has no tool counts: %s", js)
	}
}

// TestRunRequestClaudeCode runs the real Claude Code CLI (npm, cached) as
// the contractor of `agentos run "…"` against a scripted local model: the
// write outside its worktree and the denied command are refused at the hook,
// and the rest lands as a governed commit on main.
func TestRunRequestClaudeCode(t *testing.T) {
	bin := contractortest.ClaudeCLI(t)
	outside := filepath.Join(t.TempDir(), "outside.txt")
	f := &contractortest.FakeAnthropic{Script: []func(string) []any{
		func(cwd string) []any {
			return contractortest.ToolUse("toolu_1", "Write", map[string]any{"file_path": filepath.Join(cwd, "hello.txt"), "content": "hello from Claude Code\n"})
		},
		func(string) []any {
			return contractortest.ToolUse("toolu_2", "Write", map[string]any{"file_path": outside, "content": "escaped\n"})
		},
		func(string) []any {
			return contractortest.ToolUse("toolu_3", "Bash", map[string]any{"command": "curl -s http://127.0.0.1:9/ -o stolen.txt", "description": "fetch"})
		},
		func(string) []any {
			return contractortest.ToolUse("toolu_4", "Bash", map[string]any{"command": "printf 'made by bash\\n' > bash.txt", "description": "write"})
		},
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := mustGovernedRepo(t, strings.Replace(basePolicy, "allow: [cat, printf]", "allow: [cat, printf, ls]", 1)+`planner:
  kind: contractor
  contractor:
    name: claude
    env:
      ANTHROPIC_BASE_URL: `+srv.URL+`
      ANTHROPIC_API_KEY: sk-ant-fake-for-a-local-server
    allow_tcp: [`+strings.TrimPrefix(srv.URL, "http://")+`]
    timeout: 2m
verify:
  default:
    - {name: hello exists, argv: [cat, hello.txt, bash.txt]}
`)
	code, out, errOut := runCLI(t, "-C", dir, "run", "say hello in hello.txt")
	if code != 0 {
		t.Fatalf("agentos run: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	_, _, results := f.State()
	refused := 0
	for _, r := range results {
		if fmt.Sprint(r["is_error"]) == "true" && strings.Contains(fmt.Sprint(r["content"]), "AgentOS") {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("the model saw %d AgentOS refusals, want 2: %v", refused, results)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("the write outside the worktree got through")
	}
	if got := gitT(t, dir, "show", "main:hello.txt"); got != "hello from Claude Code" {
		t.Errorf("main:hello.txt = %q", got)
	}
	if got := gitT(t, dir, "show", "main:bash.txt"); got != "made by bash" {
		t.Errorf("main:bash.txt = %q", got)
	}
	if files := gitT(t, dir, "show", "--name-only", "--format=", "main"); strings.Contains(files, "stolen.txt") {
		t.Errorf("the denied command's file landed: %s", files)
	}
	t.Logf("commit on main:\n%s", gitT(t, dir, "log", "-1", "--format=%B", "main"))
}

// questionModel asks a blocker question in the intent until the answer is
// in the request, then plans NOTES.<format>.
type questionModel struct {
	mu      sync.Mutex
	intents int
}

func (f *questionModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	var content string
	switch {
	case strings.Contains(string(body), `"name":"agentos_intent"`):
		f.intents++
		q := `[{"id":"format","text":"Which format?","why":"the file name depends on it","kind":"choice","options":["md","txt"],"default":"","blocker":true}]`
		if strings.Contains(string(body), "format: txt") {
			q = `[]`
		}
		content = `{"goal":"add notes","kind":"docs","scope":["."],"constraints":[],"acceptance":[],"assumptions":[],"risk":"low","open_questions":` + q + `}`
	default:
		content = `{"goal":"add notes","steps":[{"kind":"write","path":"NOTES.txt","content":"notes\n","diff":"","paths":[],"from":"","to":"","argv":[],"timeout_ms":0,"rationale":"r","risk":"low"}],"verify":[{"name":"notes exist","argv":["cat","NOTES.txt"],"timeout_ms":0}],"open_questions":[]}`
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "c1", "object": "chat.completion", "created": 1, "model": "test-model",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": content}}},
		"usage":   map[string]any{"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
	})
}

func TestRunRequestBlockedThenAnswered(t *testing.T) {
	srv := httptest.NewServer(&questionModel{})
	defer srv.Close()
	dir := mustGovernedRepo(t, basePolicy+`planner:
  kind: openai
  openai:
    base_url: `+srv.URL+`/v1
    model: test-model
    max_retries: 0
`)
	code, out, errOut := runCLI(t, "-C", dir, "run", "add a notes file")
	if code != ExitBlocked {
		t.Fatalf("agentos run: exit %d, want %d (blocked on the model's question)\nstdout %s\nstderr %s", code, ExitBlocked, out, errOut)
	}
	task := strings.Fields(out)[1]
	code, out, errOut = runCLI(t, "-C", dir, "answer", task, "--set", "format=txt")
	if code != 0 {
		t.Fatalf("agentos answer: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if got := gitT(t, dir, "show", "main:NOTES.txt"); got != "notes" {
		t.Errorf("main:NOTES.txt = %q", got)
	}
}

func TestRunRequestModelGivesUp(t *testing.T) {
	srv := httptest.NewServer(&fakeModel{})
	defer srv.Close()
	t.Setenv("AGENTOS_E2E_KEY", "sk-e2e")
	dir := mustGovernedRepo(t, basePolicy+`planner:
  kind: openai
  openai:
    base_url: `+srv.URL+`/v1
    model: test-model
    api_key_env: AGENTOS_E2E_KEY
    max_retries: 0
    max_repairs: 0
`)
	code, out, errOut := runCLI(t, "-C", dir, "run", "add a notes file")
	if code != ExitFailed || !strings.Contains(errOut, "docs/imaginary.md") {
		t.Fatalf("agentos run: exit %d, stderr %s; want a failure naming the fabricated path", code, errOut)
	}
	reviews, _ := filepath.Glob(filepath.Join(dir, ".agentos", "reviews", "*.json"))
	if len(reviews) != 1 {
		t.Fatalf("reviews = %v, want one ReviewPack\nstdout %s", reviews, out)
	}
	b, _ := os.ReadFile(reviews[0])
	var rp agentos.ReviewPack
	json.Unmarshal(b, &rp)
	if !strings.Contains(rp.PlannerLastAnswer, "docs/imaginary.md") || len(rp.PlannerCalls) != 2 || rp.Outcome != "failed" {
		t.Errorf("ReviewPack outcome %s, last answer %q, calls %+v; want failed with the model's last answer and both calls", rp.Outcome, rp.PlannerLastAnswer, rp.PlannerCalls)
	}
	if _, err := exec.Command("git", "-C", dir, "show", "main:docs/imaginary.md").Output(); err == nil {
		t.Errorf("something landed on main")
	}
}
