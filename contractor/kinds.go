package contractor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentos/agentos"
)

// setupClaude writes the settings file with the PreToolUse hook pointed at
// AgentOS (outside the worktree, read-only), validates it, and returns the
// headless command line: approvals off (bypassPermissions; the hook's deny
// holds regardless) and no settings but ours (--setting-sources ""): a
// `disableAllHooks` in the user settings of the (writable) home, or in the
// repository's .claude settings, would otherwise switch the hook off
// (observed with Claude Code 2.1.197 for user settings).
func setupClaude(spec Spec, d dirs, hook []string) (setupResult, error) {
	settings := filepath.Join(d.Config, "settings.json")
	hooks := map[string]any{
		"PreToolUse": []any{map[string]any{
			"matcher": "*",
			"hooks": []any{map[string]any{
				"type": "command", "command": shellJoin(hook), "timeout": 30, "onFailure": "block",
			}},
		}},
	}
	if spec.interactive() {
		// A call AgentOS asked about ran: the person said yes at the
		// prompt, and the run records it.
		hooks["PostToolUse"] = []any{map[string]any{
			"matcher": "*",
			"hooks":   []any{map[string]any{"type": "command", "command": shellJoin(hook), "timeout": 30}},
		}}
	}
	doc := map[string]any{"hooks": hooks}
	if err := writeJSON(settings, doc); err != nil {
		return setupResult{}, agentos.WrapError(agentos.EINTERNAL, err, "cannot write the contractor settings: %v", err)
	}
	if err := checkClaudeSettings(settings, hook); err != nil {
		return setupResult{}, err
	}
	env := map[string]string{
		"CLAUDE_CODE_TMPDIR":                       d.Tmp,
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
		"DISABLE_AUTOUPDATER":                      "1",
		"IS_SANDBOX":                               "1", // bypassPermissions is refused as root otherwise
	}
	if spec.interactive() {
		// The person's session: Claude Code's own UI and permission
		// prompts (the hook's "ask" lands there), still no settings but
		// ours, so nothing in the repository or the home turns the hook
		// off.
		return setupResult{argv: []string{"claude", "--settings", "{settings}", "--setting-sources", ""}, env: env, settings: settings}, nil
	}
	return setupResult{
		argv: []string{"claude", "-p", "{prompt}", "--output-format", "stream-json", "--verbose",
			"--settings", "{settings}", "--setting-sources", "", "--permission-mode", "bypassPermissions"},
		env:      env,
		settings: settings,
	}, nil
}

// checkClaudeSettings re-reads the generated settings: Claude Code drops a
// settings file with one invalid value silently, hooks and all (fail open).
func checkClaudeSettings(file string, hook []string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "cannot read back %s: %v", file, err)
	}
	var s struct {
		Hooks struct {
			PreToolUse []struct {
				Matcher string `json:"matcher"`
				Hooks   []struct {
					Type      string `json:"type"`
					Command   string `json:"command"`
					Timeout   any    `json:"timeout"`
					OnFailure string `json:"onFailure"`
				} `json:"hooks"`
			} `json:"PreToolUse"`
		} `json:"hooks"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "generated contractor settings are not valid JSON: %v", err)
	}
	ok := false
	for _, m := range s.Hooks.PreToolUse {
		for _, h := range m.Hooks {
			_, numeric := h.Timeout.(float64)
			if m.Matcher == "*" && h.Type == "command" && h.Command == shellJoin(hook) && numeric && h.OnFailure == "block" {
				ok = true
			}
		}
	}
	if !ok {
		return agentos.Errorf(agentos.EINTERNAL, "generated contractor settings %s do not carry the AgentOS hook in the expected form; refusing to run the contractor ungoverned", file)
	}
	if _, err := os.Stat(hook[0]); err != nil {
		return agentos.Errorf(agentos.EINTERNAL, "the hook program %s does not exist; refusing to run the contractor ungoverned", hook[0])
	}
	return nil
}

// setupCodex writes a CODEX_HOME (not under TMPDIR) whose config points
// Codex's PreToolUse hook at AgentOS (Codex's hook protocol), approvals
// never asked, its own sandbox chosen as below, and telemetry, plugins and
// update checks off.
func setupCodex(spec Spec, d dirs, hook []string) (setupResult, error) {
	codexHome := filepath.Join(d.Home, ".codex")
	if err := os.MkdirAll(codexHome, 0o700); err != nil {
		return setupResult{}, agentos.WrapError(agentos.EINTERNAL, err, "cannot create CODEX_HOME: %v", err)
	}
	// Codex's own sandbox (bubblewrap) cannot nest inside AgentOS's
	// namespaces (it fails with "Read-only file system" and every write
	// and command fails). Where AgentOS confines, AgentOS's sandbox is the
	// confinement and Codex's is off; where it cannot, Codex's own
	// workspace-write sandbox is what is left.
	mode := "workspace-write"
	if len(spec.sandboxMissing()) == 0 {
		mode = "danger-full-access"
	}
	// In a person's session Codex asks them what its own policy asks
	// about; a headless run has nobody to ask.
	approval := "never"
	if spec.interactive() {
		approval = "on-request"
	}
	cfg := fmt.Sprintf(`approval_policy = %q
sandbox_mode = %q
check_for_update_on_startup = false

[sandbox_workspace_write]
exclude_slash_tmp = true
exclude_tmpdir_env_var = true
network_access = false

[analytics]
enabled = false

[features]
plugins = false

[[hooks.PreToolUse]]
matcher = "*"

[[hooks.PreToolUse.hooks]]
type = "command"
command = %q
timeout = 30
`, approval, mode, shellJoin(hook))
	file := filepath.Join(codexHome, "config.toml")
	if err := os.WriteFile(file, []byte(cfg), 0o444); err != nil {
		return setupResult{}, agentos.WrapError(agentos.EINTERNAL, err, "cannot write %s: %v", file, err)
	}
	if spec.interactive() {
		return setupResult{
			argv:     []string{"codex", "--dangerously-bypass-hook-trust", "-C", "{worktree}"},
			env:      map[string]string{"CODEX_HOME": codexHome},
			settings: file,
		}, nil
	}
	return setupResult{
		argv: []string{"codex", "exec", "--json", "--skip-git-repo-check", "--ephemeral", "--dangerously-bypass-hook-trust",
			"-C", "{worktree}", "{prompt}"},
		env:      map[string]string{"CODEX_HOME": codexHome},
		settings: file,
	}, nil
}

// setupOpenCode writes an XDG config with a plugin whose tool.execute.before
// asks the AgentOS hook (in Claude Code's format) and throws on a deny, and
// turns off auto-update, model fetch, sharing, LSP downloads, default plugins
// and the repository's own opencode.json.
func setupOpenCode(spec Spec, d dirs, hook []string) (setupResult, error) {
	// OpenCode writes into its config directory (a .gitignore, a plugin
	// install), so it lives in the run's private, writable home. The plugin
	// is loaded once at start, before the agent can act, and every later
	// write outside the worktree goes through the hook and is refused.
	cfgHome := filepath.Join(d.Home, "xdg-config")
	plugins := filepath.Join(cfgHome, "opencode", "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		return setupResult{}, agentos.WrapError(agentos.EINTERNAL, err, "cannot create %s: %v", plugins, err)
	}
	plugin := OpenCodePlugin(hook)
	file := filepath.Join(plugins, "agentos.js")
	if err := os.WriteFile(file, []byte(plugin), 0o444); err != nil {
		return setupResult{}, agentos.WrapError(agentos.EINTERNAL, err, "cannot write %s: %v", file, err)
	}
	// OpenCode's own prompts are off ("ask" means a silent reject in
	// `opencode run`): the plugin above decides every call instead.
	cfg := map[string]any{
		"$schema":    "https://opencode.ai/config.json",
		"autoupdate": false,
		"share":      "disabled",
		"permission": map[string]any{"edit": "allow", "bash": "allow", "webfetch": "allow", "external_directory": "allow"},
	}
	if err := writeJSON(filepath.Join(cfgHome, "opencode", "opencode.json"), cfg); err != nil {
		return setupResult{}, agentos.WrapError(agentos.EINTERNAL, err, "cannot write the OpenCode config: %v", err)
	}
	argv := []string{"opencode", "run", "--format", "json", "--dir", "{worktree}", "--title", "agentos", "{prompt}"}
	if spec.interactive() {
		argv = []string{"opencode", "{worktree}"} // its TUI
	}
	return setupResult{
		argv: argv,
		env: map[string]string{
			"XDG_CONFIG_HOME": cfgHome, "XDG_DATA_HOME": filepath.Join(d.Home, "data"),
			"XDG_CACHE_HOME": filepath.Join(d.Home, "cache"), "XDG_STATE_HOME": filepath.Join(d.Home, "state"),
			"OPENCODE_DISABLE_AUTOUPDATE": "1", "OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_SHARE": "1",
			"OPENCODE_DISABLE_LSP_DOWNLOAD": "1", "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1", "OPENCODE_DISABLE_PROJECT_CONFIG": "1",
			"npm_config_registry": "http://127.0.0.1:9/", "npm_config_fetch_retries": "0",
		},
		settings: file,
	}, nil
}

// setupCustom gives a custom program the same contract through the
// environment: AGENTOS_WORKTREE, AGENTOS_PROMPT, AGENTOS_HOOK (a command
// that reads one Claude-Code-format PreToolUse call on stdin and prints the
// decision), and AGENTOS_SETTINGS (a Claude Code settings file with the hook).
func setupCustom(spec Spec, d dirs, hook []string) (setupResult, error) {
	r, err := setupClaude(spec, d, hook)
	if err != nil {
		return r, err
	}
	r.argv = nil
	r.env = map[string]string{"AGENTOS_SETTINGS": r.settings}
	return r, nil
}

// Prompt writes the contractor's task from the request and intent.
func Prompt(in agentos.Intent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Task: %s\n", in.Request)
	if in.Goal != "" && in.Goal != in.Request {
		fmt.Fprintf(&b, "Goal: %s\n", in.Goal)
	}
	if len(in.Scope) > 0 {
		fmt.Fprintf(&b, "Only change files in: %s\n", strings.Join(in.Scope, ", "))
	}
	for _, c := range in.Constraints {
		fmt.Fprintf(&b, "Constraint: %s\n", c)
	}
	for _, a := range in.Acceptance {
		fmt.Fprintf(&b, "Done when: %s\n", a)
	}
	b.WriteString("Work only inside the current directory. Do not commit; AgentOS reviews, verifies and commits your changes. Commands outside the project's allowlist and writes outside this directory are refused.\n")
	return b.String()
}

// OpenCodePlugin is the OpenCode plugin that has the AgentOS hook (argv
// hook, answering in Claude Code's protocol) decide every tool call: its
// tool.execute.before throws unless the hook allows.
func OpenCodePlugin(hook []string) string {
	hookJSON, _ := json.Marshal(hook)
	return `// Generated by AgentOS: every tool call is decided by the AgentOS hook.
import { spawnSync } from "node:child_process";
const HOOK = ` + string(hookJSON) + `;
const NAMES = { bash: "Bash", write: "Write", edit: "Edit", patch: "Edit", read: "Read", glob: "Glob", grep: "Grep", list: "LS", todowrite: "TodoWrite", todoread: "TodoWrite", task: "Task", webfetch: "WebFetch" };
export const AgentOS = async ({ directory }) => ({
  "tool.execute.before": async (input, output) => {
    const a = output.args || {};
    const tool = NAMES[input.tool] || input.tool;
    const ti = { command: a.command, file_path: a.filePath || a.path, path: a.path };
    const r = spawnSync(HOOK[0], HOOK.slice(1), { input: JSON.stringify({ hook_event_name: "PreToolUse", cwd: directory, tool_name: tool, tool_input: ti }), encoding: "utf8" });
    let d = null;
    try { d = JSON.parse(r.stdout).hookSpecificOutput; } catch (e) {}
    if (!d || d.permissionDecision !== "allow") throw new Error((d && d.permissionDecisionReason) || "AgentOS hook failed: denied");
  },
});
`
}
