package cli

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/contractor/contractortest"
)

// TestInitAgentIdempotent: init --agent writes each CLI's wiring once,
// keeps what the settings already held, and doctor reports it.
func TestInitAgentIdempotent(t *testing.T) {
	dir := mustGovernedRepo(t, basePolicy)
	os.MkdirAll(filepath.Join(dir, ".claude"), 0o755)
	os.WriteFile(filepath.Join(dir, ".claude", "settings.json"), []byte(`{"model":"x","hooks":{"PostToolUse":[{"matcher":"Write","hooks":[{"type":"command","command":"fmt"}]}]}}`), 0o644)
	for i := 0; i < 2; i++ {
		code, _, errOut := runCLI(t, "-C", dir, "init", "--agent", "claude", "--agent", "codex", "--agent", "opencode")
		if code != 0 {
			t.Fatalf("init --agent: exit %d: %s", code, errOut)
		}
		if want := map[int]string{0: "wired claude", 1: "already wired claude"}[i]; !strings.Contains(errOut, want) {
			t.Errorf("run %d said %q, want %q", i, errOut, want)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, ".claude", "settings.json"))
	s := string(b)
	if strings.Count(s, `"agentos hook claude"`) != 3 || !strings.Contains(s, `"PermissionRequest"`) || !strings.Contains(s, `"onFailure": "block"`) ||
		!strings.Contains(s, `"model": "x"`) || !strings.Contains(s, `"command": "fmt"`) {
		t.Errorf(".claude/settings.json after two runs:\n%s", s)
	}
	toml, _ := os.ReadFile(filepath.Join(dir, ".codex", "config.toml"))
	if strings.Count(string(toml), "[[hooks.PreToolUse]]") != 1 {
		t.Errorf(".codex/config.toml after two runs:\n%s", toml)
	}
	if _, err := os.Stat(filepath.Join(dir, ".opencode", "plugins", "agentos.js")); err != nil {
		t.Error(err)
	}
	code, out, _ := runCLI(t, "-C", dir, "doctor")
	if code != 0 || strings.Count(out, " wired ") != 3 || !strings.Contains(out, "confinement:") {
		t.Errorf("doctor: exit %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(dir, ".claude", "settings.json"), []byte(`{"hooks":`), 0o644)
	if code, _, errOut := runCLI(t, "-C", dir, "init", "--agent", "claude"); code == 0 || !strings.Contains(errOut, "not valid JSON") {
		t.Errorf("init --agent over a broken settings file: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "-C", dir, "init", "--agent", "cursor"); code == 0 || !strings.Contains(errOut, "unknown agent") {
		t.Errorf("init --agent cursor: exit %d: %s", code, errOut)
	}
}

// TestHookModeClaudeCode: `agentos init --agent claude`, then the real
// Claude Code CLI (npm, cached) in the person's own checkout, driven by a
// scripted local model: the hook is reached for every call, the allowed
// command runs, the policy rewrite, the write outside and the secret read
// are refused, judged by the files and the audit table.
func TestHookModeClaudeCode(t *testing.T) {
	bin := contractortest.ClaudeCLI(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// `agentos` on PATH is this test binary (TestMain runs `hook` as the CLI).
	hookBin := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(hookBin, "agentos")); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "outside.txt")
	f := &contractortest.FakeAnthropic{Script: []func(string) []any{
		func(string) []any {
			return contractortest.ToolUse("toolu_1", "Bash", map[string]any{"command": "printf 'made\\n' > made.txt", "description": "write"})
		},
		func(string) []any {
			return contractortest.ToolUse("toolu_2", "Bash", map[string]any{"command": "sort -o agentos.yaml policy.txt", "description": "policy"})
		},
		func(string) []any {
			return contractortest.ToolUse("toolu_3", "Bash", map[string]any{"command": "d=" + filepath.Dir(outside) + "; printf x > \"$d/outside.txt\"", "description": "escape"})
		},
		func(string) []any {
			return contractortest.ToolUse("toolu_4", "Bash", map[string]any{"command": "echo $ANTHROPIC_API_KEY", "description": "secret"})
		},
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := mustGovernedRepo(t, strings.Replace(basePolicy, "allow: [cat, printf]", "allow: [cat, printf, sort, echo]", 1))
	os.WriteFile(filepath.Join(dir, "policy.txt"), []byte("version: 1\ncommands:\n  allow: [curl]\n"), 0o644)
	policy, _ := os.ReadFile(filepath.Join(dir, "agentos.yaml"))
	if code, _, errOut := runCLI(t, "-C", dir, "init", "--agent", "claude"); code != 0 {
		t.Fatalf("init --agent claude: exit %d: %s", code, errOut)
	}
	home := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "claude"), "-p", "do the task", "--output-format", "stream-json", "--verbose")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+home, "PATH="+hookBin+string(os.PathListSeparator)+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"ANTHROPIC_BASE_URL="+srv.URL, "ANTHROPIC_API_KEY=sk-ant-fake-for-a-local-server", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_TMPDIR="+t.TempDir())
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("claude: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "made.txt")); string(b) != "made\n" {
		t.Errorf("the allowed command did not run (made.txt = %q)\n%s", b, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "agentos.yaml")); string(b) != string(policy) {
		t.Errorf("the policy was rewritten:\n%s", b)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("the write outside the repository got through")
	}
	if strings.Contains(string(out), "sk-ant-fake-for-a-local-server") {
		t.Errorf("the secret variable reached the model's transcript")
	}
	evs := auditEvents(t, dir, agentos.EventHookDecision)
	var got []string
	for _, e := range evs {
		d, err := agentos.DecodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		h := d.(*agentos.HookDecisionEvent)
		got = append(got, h.Decision+":"+h.Rule)
	}
	t.Logf("hook.decision events: %v", got)
	// The policy rewrite needs a person: handed to Claude Code's prompt,
	// which nobody answers in -p, so it never ran (agentos.yaml above).
	if len(got) != 4 || !strings.HasPrefix(got[0], "allow:") || got[1] != "ask:path.policy" || strings.Count(strings.Join(got, " "), "deny:") != 2 {
		t.Errorf("hook.decision events = %v, want an allow, the policy rewrite asked, 2 denials\n%s", got, out)
	}
	_, _, results := f.State()
	if n := strings.Count(fmt.Sprint(results), "AgentOS"); n < 3 {
		t.Errorf("the model saw %d AgentOS refusals, want 3: %v", n, results)
	}
}
