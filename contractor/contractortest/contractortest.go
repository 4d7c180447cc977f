// Package contractortest holds what tests of contractors share: cached
// installs of the real agent CLIs from npm, at pinned versions (CLIs), and
// scripted model APIs for them to talk to, on loopback, with no key.
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

// CLI is an agent CLI the tests run for real, installed from npm.
type CLI struct {
	Package string // the npm package
	Version string // the exact version installed: never a range or "latest"
	Bin     string // the command it puts in node_modules/.bin
}

// CLIs pins every agent CLI the tests install. This table is the one place
// their versions live: .ci/run pre-installs exactly these (through
// TestInstallCLIs), and the cache is keyed by version, so bumping one here
// is the whole upgrade. Find the current version with `npm view PKG version`.
var CLIs = map[string]CLI{
	"claude":   {Package: "@anthropic-ai/claude-code", Version: "2.1.332", Bin: "claude"},
	"codex":    {Package: "@openai/codex", Version: "0.171.0", Bin: "codex"},
	"opencode": {Package: "opencode-ai", Version: "1.18.33", Bin: "opencode"},
}

// ClaudeCLI returns the bin directory of the pinned Claude Code CLI.
func ClaudeCLI(t *testing.T) string { return InstallCLI(t, "claude") }

// CodexCLI returns the bin directory of the pinned Codex CLI.
func CodexCLI(t *testing.T) string { return InstallCLI(t, "codex") }

// OpenCodeCLI returns the bin directory of the pinned OpenCode CLI.
func OpenCodeCLI(t *testing.T) string { return InstallCLI(t, "opencode") }

// InstallCLI installs the pinned CLI called name (a key of CLIs) into the
// test cache once and returns the bin directory holding its command. The
// cache is AGENTOS_TEST_CACHE, by default agentos-test in the user cache
// directory, with one directory per package and version.
//
// It skips the test under -short. Without npm, or when the install fails, it
// skips on a developer machine and fails under CI=true: in CI a real-CLI
// test that does not run is a hole in the suite, not a pass.
func InstallCLI(t *testing.T, name string) string {
	t.Helper()
	c, ok := CLIs[name]
	if !ok {
		t.Fatalf("contractortest: no pinned CLI %q", name)
	}
	if testing.Short() {
		t.Skipf("-short: skipping the real %s test", c.Bin)
	}
	cache := os.Getenv("AGENTOS_TEST_CACHE")
	if cache == "" {
		uc, err := os.UserCacheDir()
		if err != nil {
			unavailable(t, c, "no cache directory for the npm install (%v); set AGENTOS_TEST_CACHE", err)
		}
		cache = filepath.Join(uc, "agentos-test")
	}
	dir := filepath.Join(cache, path.Base(c.Package)+"@"+c.Version)
	binDir := filepath.Join(dir, "node_modules", ".bin")
	if _, err := os.Stat(filepath.Join(binDir, c.Bin)); err == nil {
		return binDir
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		unavailable(t, c, "npm is not installed")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		unavailable(t, c, "%v", err)
	}
	// Install next to the final directory, then rename: two test binaries
	// installing at once (contractor and cli) never see half an install.
	tmp, err := os.MkdirTemp(cache, path.Base(c.Package)+".tmp-")
	if err != nil {
		unavailable(t, c, "%v", err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-update-notifier", "--prefix", tmp, c.Package+"@"+c.Version)
	if out, err := cmd.CombinedOutput(); err != nil {
		unavailable(t, c, "npm install %s@%s failed: %v\n%s", c.Package, c.Version, err, out)
	}
	if _, err := os.Stat(filepath.Join(tmp, "node_modules", ".bin", c.Bin)); err != nil {
		unavailable(t, c, "npm install %s@%s put no %s in node_modules/.bin", c.Package, c.Version, c.Bin)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another test binary finished the same install first.
		if _, serr := os.Stat(filepath.Join(binDir, c.Bin)); serr != nil {
			unavailable(t, c, "%v", err)
		}
	}
	return binDir
}

// unavailable fails the test under CI=true and skips it otherwise, with one
// line saying how to run it.
func unavailable(t *testing.T, c CLI, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: the real %s test must run: %s", c.Bin, msg)
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] // the npm log only in CI; the skip stays one line
	}
	t.Skipf("skipping the real %s test (%s@%s): %s; install Node.js and npm, with network access, to run it", c.Bin, c.Package, c.Version, msg)
}

// FakeAnthropic is a Messages API server (SSE streaming) that scripts the
// tool calls of the conversation: the n-th assistant turn of the main
// conversation answers with script[n]. Side requests get a short text.
type FakeAnthropic struct {
	// Script gives the content blocks of each turn; turn i calls tool
	// toolu_<i+1> (see ToolUse), and is answered once its result is back.
	Script []func(cwd string) []any
	// InputTokens and OutputTokens are the usage each answer reports
	// (default 10 and 20).
	InputTokens, OutputTokens int
	mu                        sync.Mutex
	cwd                       string
	turns                     int
	answers                   int // every answer, side requests included
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
		// The environment section names the working directory: in the
		// system prompt, or (Claude Code 2.1.332) in a system-role message.
		where := []json.RawMessage{req.System}
		for _, m := range req.Messages {
			where = append(where, m.Content)
		}
		for _, w := range where {
			if m := cwdRe.FindStringSubmatch(string(w)); m != nil && f.cwd == "" {
				f.cwd = strings.TrimRight(m[1], `\n".,`)
			}
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
	f.answers++
	id := fmt.Sprintf("msg_%d", f.answers)
	in, out := f.InputTokens, f.OutputTokens
	f.mu.Unlock()
	if blocks == nil {
		blocks = []any{map[string]any{"type": "text", "text": "Done."}}
	}
	if in == 0 && out == 0 {
		in, out = 10, 20
	}
	writeSSE(w, req.Model, id, in, out, blocks)
}

// writeSSE streams one answer: each message has its own id, as the real
// API's do (a client may count usage per message).
func writeSSE(w http.ResponseWriter, model, id string, in, out int, blocks []any) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	ev := func(name string, data any) {
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	}
	stop := "end_turn"
	ev("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]any{"input_tokens": in, "output_tokens": 1}}})
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
	ev("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]any{"output_tokens": out}})
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
