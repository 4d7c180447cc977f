package contractor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/sandbox"
)

// claudeCLI installs @anthropic-ai/claude-code from npm into a cache
// directory once (AGENTOS_TEST_CACHE, default the user cache dir) and
// returns its bin directory; it skips the test when npm is unavailable.
func claudeCLI(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the real Claude Code test")
	}
	cache := os.Getenv("AGENTOS_TEST_CACHE")
	if cache == "" {
		uc, err := os.UserCacheDir()
		if err != nil {
			t.Skipf("no cache directory for the npm install (set AGENTOS_TEST_CACHE): %v", err)
		}
		cache = filepath.Join(uc, "agentos-test")
	}
	dir := filepath.Join(cache, "claude-code")
	bin := filepath.Join(dir, "node_modules", ".bin")
	if _, err := os.Stat(filepath.Join(bin, "claude")); err == nil {
		return bin
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed: skipping the real Claude Code test (install Node.js and npm to run it)")
	}
	os.MkdirAll(dir, 0o755)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--prefix", dir, "@anthropic-ai/claude-code")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("npm install @anthropic-ai/claude-code failed (offline?): %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(bin, "claude")); err != nil {
		t.Skipf("npm installed no claude binary in %s", bin)
	}
	return bin
}

// fakeAnthropic is a Messages API server (SSE streaming) that scripts the
// tool calls of the conversation: the n-th assistant turn of the main
// conversation answers with script[n]. Side requests get a short text.
type fakeAnthropic struct {
	t      *testing.T
	script []func(cwd string) []any // content blocks per turn
	mu     sync.Mutex
	cwd    string
	turns  int
	// toolResults are the tool_result blocks Claude Code sent back.
	toolResults map[string]map[string]any
}

var cwdRe = regexp.MustCompile(`(?i)working directory:\s*(\S+)`)

func (f *fakeAnthropic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/v1/messages") || strings.Contains(r.URL.Path, "count_tokens") {
		http.Error(w, `{"type":"error","error":{"type":"not_found_error","message":"not here"}}`, 404)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Model    string          `json:"model"`
		System   json.RawMessage `json:"system"`
		Tools    []any           `json:"tools"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	json.Unmarshal(body, &req)
	var blocks []any
	f.mu.Lock()
	main := len(req.Tools) > 0
	if main {
		if m := cwdRe.FindStringSubmatch(string(req.System)); m != nil && f.cwd == "" {
			f.cwd = strings.TrimRight(m[1], `\n".,`)
		}
		// The next scripted turn is the first whose tool call has no result
		// in the conversation yet (Claude Code may re-shape earlier turns).
		answered := map[string]bool{}
		for _, m := range req.Messages {
			var parts []map[string]any
			if m.Role == "user" && json.Unmarshal(m.Content, &parts) == nil {
				for _, p := range parts {
					if p["type"] == "tool_result" {
						id, _ := p["tool_use_id"].(string)
						answered[id] = true
						f.toolResults[id] = p
					}
				}
			}
		}
		for i := range f.script {
			if !answered[fmt.Sprintf("toolu_%d", i+1)] {
				blocks = f.script[i](f.cwd)
				break
			}
		}
		f.turns++
	}
	f.mu.Unlock()
	if blocks == nil {
		blocks = []any{map[string]any{"type": "text", "text": "Done."}}
	}
	writeSSE(w, req.Model, blocks)
}

func writeSSE(w http.ResponseWriter, model string, blocks []any) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	ev := func(name string, data any) {
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	}
	stop := "end_turn"
	ev("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": "msg_test", "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]any{"input_tokens": 10, "output_tokens": 1}}})
	for i, b := range blocks {
		blk := b.(map[string]any)
		switch blk["type"] {
		case "text":
			ev("content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": map[string]any{"type": "text", "text": ""}})
			ev("content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": map[string]any{"type": "text_delta", "text": blk["text"]}})
		case "tool_use":
			stop = "tool_use"
			ev("content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": map[string]any{"type": "tool_use", "id": blk["id"], "name": blk["name"], "input": map[string]any{}}})
			in, _ := json.Marshal(blk["input"])
			ev("content_block_delta", map[string]any{"type": "content_block_delta", "index": i, "delta": map[string]any{"type": "input_json_delta", "partial_json": string(in)}})
		}
		ev("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})
	}
	ev("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]any{"output_tokens": 20}})
	ev("message_stop", map[string]any{"type": "message_stop"})
}

func toolUse(id, name string, input map[string]any) []any {
	return []any{map[string]any{"type": "tool_use", "id": id, "name": name, "input": input}}
}

// TestClaudeCodeGoverned runs the real Claude Code CLI, headless, against a
// scripted local model: a write inside the worktree, a write outside it, a
// denied command, an allowed command, a read and an edit. The outside write
// and the denied command are refused by the AgentOS hook (and the refusals
// reach the model); the rest lands as hashed patch steps.
func TestClaudeCodeGoverned(t *testing.T) {
	bin := claudeCLI(t)
	repo, base := mustRepo(t)
	outside := filepath.Join(filepath.Dir(repo), "outside.txt")
	f := &fakeAnthropic{t: t, toolResults: map[string]map[string]any{}}
	f.script = []func(string) []any{
		func(cwd string) []any {
			return toolUse("toolu_1", "Write", map[string]any{"file_path": filepath.Join(cwd, "hello.txt"), "content": "hello from the contractor\n"})
		},
		func(string) []any {
			return toolUse("toolu_2", "Write", map[string]any{"file_path": outside, "content": "escaped\n"})
		},
		func(string) []any {
			return toolUse("toolu_3", "Bash", map[string]any{"command": "curl -s http://127.0.0.1:9/ -o stolen.txt", "description": "fetch"})
		},
		func(string) []any {
			return toolUse("toolu_4", "Bash", map[string]any{"command": "printf 'made by bash\\n' > bash.txt && rm gone.txt", "description": "write"})
		},
		func(cwd string) []any {
			return toolUse("toolu_5", "Read", map[string]any{"file_path": filepath.Join(cwd, "edit.txt")})
		},
		func(cwd string) []any {
			return toolUse("toolu_6", "Edit", map[string]any{"file_path": filepath.Join(cwd, "edit.txt"), "old_string": "two", "new_string": "TWO"})
		},
	}
	srv := httptest.NewServer(f)
	defer srv.Close()

	engine, err := cmdrule.New(config.Commands{Allow: []string{"printf", "rm", "ls"}})
	if err != nil {
		t.Fatal(err)
	}
	exe := testExe(t)
	var transcript bytes.Buffer
	getenv := func(k string) string {
		if k == "PATH" {
			return bin + string(os.PathListSeparator) + os.Getenv("PATH")
		}
		return os.Getenv(k)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	res, err := Run(ctx, Spec{
		Name:       "claude",
		Repo:       repo,
		Base:       base,
		Prompt:     "Create hello.txt, then tidy up.",
		IntentID:   "int-claude",
		Env:        map[string]string{"ANTHROPIC_BASE_URL": srv.URL, "ANTHROPIC_API_KEY": "sk-ant-test"},
		Getenv:     getenv,
		Rules:      Rules{Allow: []string{"printf", "rm", "ls"}, Shell: ShellRule(engine)},
		HookArgv:   []string{exe, "__hook"},
		StateDir:   filepath.Join(filepath.Dir(repo), "state"),
		Network:    true,
		Timeout:    90 * time.Second,
		ReadOnly:   []string{bin},
		Transcript: &transcript,
	})
	if err != nil {
		t.Fatalf("Run: %v\ntranscript:\n%s", err, tail(transcript.String(), 4000))
	}
	f.mu.Lock()
	cwd, turns, results := f.cwd, f.turns, f.toolResults
	f.mu.Unlock()
	t.Logf("claude exit %d after %d model turns in %dms (unconfined %v); worktree seen by the model: %s", res.ExitCode, turns, res.DurationMS, res.Unconfined, cwd)
	for _, d := range res.Decisions {
		t.Logf("decision %d: %s %s%s -> allow=%v (%s: %s)", d.Seq, d.Tool, d.Path, d.Command, d.Allow, d.Rule, d.Reason)
	}
	if len(sandbox.Check().Missing(true)) == 0 && res.Unconfined {
		t.Errorf("the contractor ran unconfined on a machine that can confine")
	}
	if cwd == "" {
		t.Fatalf("the fake model never learned the working directory from the system prompt; transcript:\n%s", tail(transcript.String(), 4000))
	}

	// The hook was live for every scripted call.
	want := []struct {
		tool  string
		allow bool
	}{{"Write", true}, {"Write", false}, {"Bash", false}, {"Bash", true}, {"Read", true}, {"Edit", true}}
	if len(res.Decisions) < len(want) {
		t.Fatalf("%d hook decisions, want %d: is the hook live? transcript:\n%s", len(res.Decisions), len(want), tail(transcript.String(), 4000))
	}
	for i, w := range want {
		if d := res.Decisions[i]; d.Tool != w.tool || d.Allow != w.allow {
			t.Errorf("decision %d = %s allow=%v, want %s allow=%v", i+1, d.Tool, d.Allow, w.tool, w.allow)
		}
	}
	// The refusals reached the model as error tool results.
	denied := 0
	for _, r := range results {
		if fmt.Sprint(r["is_error"]) == "true" && strings.Contains(fmt.Sprint(r["content"]), "AgentOS") {
			denied++
		}
	}
	if denied != 2 {
		t.Errorf("the model saw %d AgentOS refusals, want 2; tool results: %v", denied, results)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("%s exists: the write outside the worktree got through", outside)
	}
	if st := git(t, repo, "status", "--porcelain"); st != "" {
		t.Errorf("the user's tree changed:\n%s", st)
	}
	got := map[string]string{}
	for _, s := range res.Steps {
		got[strings.Join(s.Paths, ",")] = s.Diff
	}
	for _, p := range []string{"hello.txt", "bash.txt", "gone.txt", "edit.txt"} {
		if _, ok := got[p]; !ok {
			t.Errorf("no patch step for %s; steps: %v", p, res.Steps)
		}
	}
	if _, ok := got["stolen.txt"]; ok {
		t.Errorf("the denied command left stolen.txt")
	}
	if !strings.Contains(got["edit.txt"], "+TWO") {
		t.Errorf("edit.txt diff:\n%s", got["edit.txt"])
	}
	if len(res.Commands) != 2 || res.Commands[0].Allowed || !res.Commands[1].Allowed {
		t.Errorf("commands = %+v", res.Commands)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
