package contractor

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/contractor/contractortest"
)

// TestOpenCodeGoverned runs the real OpenCode CLI (npm, cached) against a
// scripted local Chat Completions server: its tool calls go through the
// generated plugin to the AgentOS hook; the write outside the worktree and
// the denied command are refused, the rest lands as patch steps.
func TestOpenCodeGoverned(t *testing.T) {
	bin := contractortest.OpenCodeCLI(t)
	repo, base := mustRepo(t)
	outside := filepath.Join(filepath.Dir(repo), "outside.txt")
	f := &contractortest.FakeChat{Script: []func(string) contractortest.ToolCall{
		func(cwd string) contractortest.ToolCall {
			return contractortest.ToolCall{Name: "write", Args: map[string]any{"filePath": filepath.Join(cwd, "hello.txt"), "content": "hello from opencode\n"}}
		},
		func(string) contractortest.ToolCall {
			return contractortest.ToolCall{Name: "write", Args: map[string]any{"filePath": outside, "content": "escaped\n"}}
		},
		func(string) contractortest.ToolCall {
			return contractortest.ToolCall{Name: "bash", Args: map[string]any{"command": "curl -s http://127.0.0.1:9/ -o stolen.txt", "description": "fetch"}}
		},
		func(string) contractortest.ToolCall {
			return contractortest.ToolCall{Name: "bash", Args: map[string]any{"command": "printf 'made by bash\\n' > bash.txt && rm gone.txt", "description": "write"}}
		},
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	provider, _ := json.Marshal(map[string]any{
		"provider": map[string]any{"local": map[string]any{
			"npm": "@ai-sdk/openai-compatible", "name": "local",
			"options": map[string]any{"baseURL": srv.URL + "/v1", "apiKey": "sk-local"},
			"models":  map[string]any{"m": map[string]any{"name": "m", "tool_call": true}},
		}},
		"model": "local/m", "small_model": "local/m",
	})
	engine, err := cmdrule.New(config.Commands{Allow: []string{"printf", "rm", "ls"}})
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "PATH" {
			return bin + string(os.PathListSeparator) + os.Getenv("PATH")
		}
		return os.Getenv(k)
	}
	var transcript bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	res, err := Run(ctx, Spec{
		Name: "opencode", Repo: repo, Base: base, Prompt: "Create hello.txt, then tidy up.", IntentID: "int-oc",
		Env:      map[string]string{"OPENCODE_CONFIG_CONTENT": string(provider)},
		Getenv:   getenv,
		Rules:    Rules{Allow: []string{"printf", "rm", "ls"}, Shell: ShellRule(engine)},
		HookArgv: []string{testExe(t), "__hook"},
		StateDir: filepath.Join(filepath.Dir(repo), "state"),
		AllowTCP: []string{srv.Listener.Addr().String()}, Timeout: 2 * time.Minute,
		Transcript: &transcript,
	})
	if err != nil {
		t.Fatalf("Run: %v\ntranscript:\n%s", err, tail(transcript.String(), 4000))
	}
	t.Logf("opencode exit %d in %dms (unconfined %v), cwd told to the model: %s", res.ExitCode, res.DurationMS, res.Unconfined, f.Cwd)
	for _, d := range res.Decisions {
		t.Logf("decision %d: %s %s%s -> allow=%v (%s: %s)", d.Seq, d.Tool, d.Path, d.Command, d.Allow, d.Rule, d.Reason)
	}
	want := []struct {
		tool  string
		allow bool
	}{{"Write", true}, {"Write", false}, {"Bash", false}, {"Bash", true}}
	if len(res.Decisions) < len(want) {
		t.Fatalf("%d hook decisions, want %d: is the plugin live? transcript:\n%s", len(res.Decisions), len(want), tail(transcript.String(), 4000))
	}
	for i, w := range want {
		if d := res.Decisions[i]; d.Tool != w.tool || d.Allow != w.allow {
			t.Errorf("decision %d = %s allow=%v, want %s allow=%v", i+1, d.Tool, d.Allow, w.tool, w.allow)
		}
	}
	results := f.Results()
	for _, id := range []string{"call_2", "call_3"} {
		if !strings.Contains(results[id], "AgentOS") {
			t.Errorf("tool result of %s = %q, want the AgentOS refusal", id, results[id])
		}
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("%s exists: the write outside the worktree got through", outside)
	}
	got := map[string]bool{}
	for _, s := range res.Steps {
		got[strings.Join(s.Paths, ",")] = true
	}
	for _, p := range []string{"hello.txt", "bash.txt", "gone.txt"} {
		if !got[p] {
			t.Errorf("no patch step for %s; got %v", p, got)
		}
	}
	if len(got) != 3 {
		t.Errorf("steps %v, want exactly hello.txt, bash.txt, gone.txt", got)
	}
}
