// Package contractortest holds what tests of contractors share: a cached
// install of the real Claude Code CLI from npm and a scripted Anthropic
// Messages API (SSE streaming) for it to talk to, on loopback, with no key.
package contractortest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// ClaudeCLI installs @anthropic-ai/claude-code from npm into a cache
// directory once (AGENTOS_TEST_CACHE, default the user cache dir) and
// returns its bin directory; it skips the test when npm is unavailable.
func ClaudeCLI(t *testing.T) string { return NPMInstall(t, "@anthropic-ai/claude-code", "claude") }

// OpenCodeCLI installs opencode-ai the same way.
func OpenCodeCLI(t *testing.T) string { return NPMInstall(t, "opencode-ai", "opencode") }

// NPMInstall installs pkg into its own directory of the test cache once and
// returns the bin directory holding bin; it skips the test under -short,
// without npm, or when the install fails (offline).
func NPMInstall(t *testing.T, pkg, bin string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: skipping the real %s test", pkg)
	}
	cache := os.Getenv("AGENTOS_TEST_CACHE")
	if cache == "" {
		uc, err := os.UserCacheDir()
		if err != nil {
			t.Skipf("no cache directory for the npm install (set AGENTOS_TEST_CACHE): %v", err)
		}
		cache = filepath.Join(uc, "agentos-test")
	}
	dir := filepath.Join(cache, path.Base(pkg))
	binDir := filepath.Join(dir, "node_modules", ".bin")
	if _, err := os.Stat(filepath.Join(binDir, bin)); err == nil {
		return binDir
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skipf("npm is not installed: skipping the real %s test (install Node.js and npm to run it)", pkg)
	}
	os.MkdirAll(dir, 0o755)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--prefix", dir, pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("npm install %s failed (offline?): %v\n%s", pkg, err, out)
	}
	if _, err := os.Stat(filepath.Join(binDir, bin)); err != nil {
		t.Skipf("npm installed no %s binary in %s", bin, binDir)
	}
	return binDir
}

// FakeAnthropic is a Messages API server (SSE streaming) that scripts the
// tool calls of the conversation: the n-th assistant turn of the main
// conversation answers with script[n]. Side requests get a short text.
type FakeAnthropic struct {
	// Script gives the content blocks of each turn; turn i calls tool
	// toolu_<i+1> (see ToolUse), and is answered once its result is back.
	Script []func(cwd string) []any
	mu     sync.Mutex
	cwd    string
	turns  int
	// toolResults are the tool_result blocks Claude Code sent back, by id.
	toolResults map[string]map[string]any
}

var cwdRe = regexp.MustCompile(`(?i)working directory:\s*(\S+)`)

// cwdCodexRe finds the cwd in Codex's environment context.
var cwdCodexRe = regexp.MustCompile(`<cwd>([^<]+)</cwd>`)

func (f *FakeAnthropic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
		if f.toolResults == nil {
			f.toolResults = map[string]map[string]any{}
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
		for i := range f.Script {
			if !answered[fmt.Sprintf("toolu_%d", i+1)] {
				blocks = f.Script[i](f.cwd)
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

func ToolUse(id, name string, input map[string]any) []any {
	return []any{map[string]any{"type": "tool_use", "id": id, "name": name, "input": input}}
}

// State returns the working directory the model was told, the number of
// main-conversation turns, and the tool results received (by tool_use id).
func (f *FakeAnthropic) State() (cwd string, turns int, results map[string]map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	results = map[string]map[string]any{}
	for k, v := range f.toolResults {
		results[k] = v
	}
	return f.cwd, f.turns, results
}
