package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/contractor"
	"github.com/spf13/cobra"
)

// Agents `agentos init --agent` can wire to the hook.
var wireableAgents = []string{"claude", "codex", "opencode"}

// agentWiring is how one agent CLI is wired to the AgentOS hook in a
// repository.
type agentWiring struct {
	Agent   string `json:"agent"`
	File    string `json:"file"` // relative to the repository root
	Wired   bool   `json:"wired"`
	Changed bool   `json:"changed,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// The hook commands the wiring installs: `agentos` from PATH, so a
// committed settings file works on every machine (a missing agentos
// blocks every call: onFailure "block").
const (
	claudeHookCommand = "agentos hook claude"
	codexHookCommand  = "agentos hook codex"
)

// claudeHookEvents are the Claude Code hook events wired: PreToolUse
// decides every call, PermissionRequest lets AgentOS refuse at the prompt,
// PostToolUse records that a call AgentOS asked about was allowed.
var claudeHookEvents = []string{"PreToolUse", contractor.EventPermissionRequest, "PostToolUse"}

// wireAgent reports (and, with write, installs idempotently) the wiring of
// agent in the repository at root.
func wireAgent(root, agent string, write bool) (agentWiring, error) {
	switch agent {
	case "claude":
		return wireClaude(root, write)
	case "codex":
		return wireCodex(root, write)
	case "opencode":
		return wireOpenCode(root, write)
	}
	return agentWiring{}, agentos.Errorf(agentos.EINVALID, "unknown agent %q: use %s", agent, strings.Join(wireableAgents, ", "))
}

// wireClaude merges PreToolUse and PermissionRequest hooks running
// `agentos hook claude` (matcher *, onFailure block) into the project's
// .claude/settings.json, keeping everything else in it.
func wireClaude(root string, write bool) (agentWiring, error) {
	w := agentWiring{Agent: "claude", File: ".claude/settings.json"}
	file := filepath.Join(root, w.File)
	doc := map[string]any{}
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return w, agentos.WrapError(agentos.EINTERNAL, err, "cannot read %s: %v", w.File, err)
	default:
		if err := json.Unmarshal(b, &doc); err != nil {
			// Claude Code drops an invalid settings file silently, hooks
			// and all: never build on one.
			return w, agentos.Errorf(agentos.EINVALID, "%s is not valid JSON (%v); Claude Code would ignore it, hooks and all: fix it first", w.File, err)
		}
	}
	if off, _ := doc["disableAllHooks"].(bool); off {
		w.Detail = "disableAllHooks is true in " + w.File + ": no hook runs; remove it"
		if write {
			return w, agentos.Errorf(agentos.EINVALID, "%s", w.Detail)
		}
		return w, nil
	}
	hooks, _ := doc["hooks"].(map[string]any)
	if hooks == nil {
		hooks = map[string]any{}
	}
	missing := []string{}
	for _, ev := range claudeHookEvents {
		if !claudeHasHook(hooks[ev]) {
			missing = append(missing, ev)
		}
	}
	w.Wired = len(missing) == 0
	if w.Wired || !write {
		if !w.Wired {
			w.Detail = "no " + strings.Join(missing, ", ") + " hook running `" + claudeHookCommand + "` with onFailure block"
		}
		return w, nil
	}
	for _, ev := range missing {
		list, _ := hooks[ev].([]any)
		hooks[ev] = append(list, map[string]any{
			"matcher": "*",
			"hooks":   []any{map[string]any{"type": "command", "command": claudeHookCommand, "timeout": 30, "onFailure": "block"}},
		})
	}
	doc["hooks"] = hooks
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return w, agentos.WrapError(agentos.EINTERNAL, err, "cannot encode %s: %v", w.File, err)
	}
	if err := writeWired(file, append(out, '\n')); err != nil {
		return w, err
	}
	// Read back what was written: a settings file Claude Code would drop
	// must never be left behind as if it governed.
	check, err := wireClaude(root, false)
	if err != nil || !check.Wired {
		return w, agentos.Errorf(agentos.EINTERNAL, "%s does not carry the AgentOS hook after writing it (%v)", w.File, err)
	}
	w.Wired, w.Changed = true, true
	return w, nil
}

func claudeHasHook(v any) bool {
	list, _ := v.([]any)
	for _, m := range list {
		mm, _ := m.(map[string]any)
		if mm["matcher"] != "*" {
			continue
		}
		hs, _ := mm["hooks"].([]any)
		for _, h := range hs {
			hh, _ := h.(map[string]any)
			_, numeric := hh["timeout"].(float64)
			if hh["type"] == "command" && hh["command"] == claudeHookCommand && hh["onFailure"] == "block" && numeric {
				return true
			}
		}
	}
	return false
}

// codexBlock is what wireCodex appends to the project's .codex/config.toml.
const codexBlock = `
# Added by ` + "`agentos init --agent codex`" + `: every tool call is decided by AgentOS
# (no output allows, the deny JSON refuses); at the approval prompt AgentOS
# can only refuse.
[[hooks.PreToolUse]]
matcher = "*"

[[hooks.PreToolUse.hooks]]
type = "command"
command = "` + codexHookCommand + `"
timeout = 30

[[hooks.PermissionRequest]]
matcher = "*"

[[hooks.PermissionRequest.hooks]]
type = "command"
command = "` + codexHookCommand + `"
timeout = 30
`

// wireCodex appends PreToolUse and PermissionRequest hooks running
// `agentos hook codex` to the project's .codex/config.toml (Codex asks you
// to trust a project's hooks before it runs them).
func wireCodex(root string, write bool) (agentWiring, error) {
	w := agentWiring{Agent: "codex", File: ".codex/config.toml"}
	file := filepath.Join(root, w.File)
	b, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return w, agentos.WrapError(agentos.EINTERNAL, err, "cannot read %s: %v", w.File, err)
	}
	w.Wired = bytes.Contains(b, []byte("[[hooks.PreToolUse]]")) && bytes.Contains(b, []byte(`command = "`+codexHookCommand+`"`))
	if w.Wired || !write {
		if !w.Wired {
			w.Detail = "no [[hooks.PreToolUse]] running `" + codexHookCommand + "`"
		}
		return w, nil
	}
	if len(b) > 0 && !bytes.HasSuffix(b, []byte("\n")) {
		b = append(b, '\n')
	}
	if err := writeWired(file, append(b, codexBlock...)); err != nil {
		return w, err
	}
	w.Wired, w.Changed = true, true
	w.Detail = "Codex asks you to trust the project's hooks the first time"
	return w, nil
}

// wireOpenCode writes the project plugin that has `agentos hook claude`
// decide every OpenCode tool call. OpenCode's plugin cannot hand a call to
// a prompt, so the hook runs in full_auto mode: what needs a person is
// refused, and recorded as refused.
func wireOpenCode(root string, write bool) (agentWiring, error) {
	w := agentWiring{Agent: "opencode", File: ".opencode/plugins/agentos.js"}
	file := filepath.Join(root, w.File)
	want := []byte(contractor.OpenCodePlugin([]string{"agentos", "hook", "claude", "--mode", hookModeFullAuto}))
	b, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return w, agentos.WrapError(agentos.EINTERNAL, err, "cannot read %s: %v", w.File, err)
	}
	w.Wired = bytes.Equal(b, want)
	if w.Wired || !write {
		if !w.Wired && err == nil {
			w.Detail = w.File + " differs from the plugin AgentOS writes"
		} else if !w.Wired {
			w.Detail = "no AgentOS plugin"
		}
		return w, nil
	}
	if err := writeWired(file, want); err != nil {
		return w, err
	}
	w.Wired, w.Changed = true, true
	return w, nil
}

func writeWired(file string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "cannot create %s: %v", filepath.Dir(file), err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "cannot write %s: %v", file, err)
	}
	return nil
}

// newCmdDoctor builds `agentos doctor`: what is wired to the hook, whether
// the hook program resolves, and the sandbox features in force.
func newCmdDoctor(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Show which agent CLIs are wired to the AgentOS hook, and the sandbox features in force",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := f.Repo(cmd.Context())
			if err != nil {
				return err
			}
			var wired []agentWiring
			for _, a := range wireableAgents {
				w, err := wireAgent(repo.Root, a, false)
				if err != nil {
					w = agentWiring{Agent: a, Detail: agentos.ErrorMessage(err)}
				}
				wired = append(wired, w)
			}
			hook, lookErr := exec.LookPath("agentos")
			// The identity this repository's runs get, as sandbox check
			// reports it, not $TMPDIR's alone.
			report, _ := f.sandboxReport(cmd.Context())
			missing := report.Missing(false)
			if asJSON {
				return printJSON(f, map[string]any{"agents": wired, "hook_program": hook, "sandbox": report, "sandbox_missing": missing})
			}
			out := f.IO.Out
			fmt.Fprintln(out, "agents (hook mode: `agentos init --agent NAME` wires one)")
			for _, w := range wired {
				state := "wired"
				if !w.Wired {
					state = "NOT WIRED"
				}
				fmt.Fprintf(out, "  %-9s %-10s %s", w.Agent, state, w.File)
				if w.Detail != "" {
					fmt.Fprintf(out, "  (%s)", w.Detail)
				}
				fmt.Fprintln(out)
			}
			if lookErr != nil {
				fmt.Fprintln(out, "hook program: agentos is NOT on PATH: every wired hook fails, and blocks every call")
			} else {
				fmt.Fprintf(out, "hook program: %s\n", hook)
			}
			fmt.Fprintf(out, "sandbox (%s/%s, landlock ABI %d)\n", report.OS, report.Arch, report.LandlockABI)
			for _, ft := range report.Features {
				state := "ok"
				if !ft.OK {
					state = "missing"
					if ft.Optional || ft.LimitsOnly {
						state = "missing (optional)"
					}
				}
				fmt.Fprintf(out, "  %-28s %s\n", ft.Name, state)
			}
			if len(missing) > 0 {
				fmt.Fprintf(out, "confinement: NOT possible here (%s): contractors and plans refuse to run unless sandbox.require is false\n", strings.Join(missing, "; "))
			} else {
				fmt.Fprintln(out, "confinement: available (contractors and plan steps run in the sandbox)")
			}
			fmt.Fprintln(out, "hook mode confines nothing: a command the hook allows runs with your rights (docs/planners.md#hook-mode)")
			return nil
		},
	}
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

// initAgents wires each agent named by `agentos init --agent`.
func initAgents(f *Factory, root string, agents []string) error {
	for _, a := range agents {
		if !slices.Contains(wireableAgents, a) {
			return agentos.Errorf(agentos.EINVALID, "--agent %s: unknown agent; use %s", a, strings.Join(wireableAgents, ", "))
		}
	}
	for _, a := range agents {
		w, err := wireAgent(root, a, true)
		if err != nil {
			return err
		}
		verb := "already wired"
		if w.Changed {
			verb = "wired"
		}
		fmt.Fprintf(f.IO.ErrOut, "%s %s to the AgentOS hook in %s", verb, a, w.File)
		if w.Detail != "" {
			fmt.Fprintf(f.IO.ErrOut, " (%s)", w.Detail)
		}
		fmt.Fprintln(f.IO.ErrOut)
	}
	return nil
}
