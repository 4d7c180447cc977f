package cli

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/contractor"
	"github.com/spf13/cobra"
)

// HookOptions are the inputs of `agentos hook claude|codex`.
type HookOptions struct {
	IO       *IOStreams
	F        *Factory
	Socket   string
	Protocol contractor.Protocol
}

// NewCmdHook builds `agentos hook claude`: the PreToolUse hook of Claude
// Code (and of Codex and OpenCode through their adapters).
//
// Shell commands are decided by the policy's command rules (package
// cmdrule) and their arguments and redirections by path containment; file
// tools by path containment and the protected paths.
func NewCmdHook(f *Factory) *cobra.Command {
	grp := group("hook", "Decide an agent CLI's tool calls (used by contractors; reads the hook JSON on stdin)")
	for _, proto := range []contractor.Protocol{contractor.ProtocolClaude, contractor.ProtocolCodex} {
		opts := &HookOptions{IO: f.IO, F: f, Protocol: proto}
		cmd := &cobra.Command{
			Use:   string(proto),
			Short: map[contractor.Protocol]string{contractor.ProtocolClaude: "Claude Code PreToolUse hook (also OpenCode through its AgentOS plugin and custom contractors)", contractor.ProtocolCodex: "Codex PreToolUse hook (no output allows, the deny JSON refuses)"}[proto],
			Long: "Reads one PreToolUse call on stdin and prints the decision in the agent's hook protocol " +
				"(hookSpecificOutput.permissionDecision). With --socket, the AgentOS contractor run " +
				"that started the agent decides and records it; without, the repository's agentos.yaml " +
				"(command rules) and the repository root as the only writable tree decide, and the decision " +
				"is appended to .agentos/hooks.jsonl. It fails closed: anything that goes wrong is a deny.",
			Args: noArgs,
			RunE: func(cmd *cobra.Command, args []string) error { return hookRun(cmd, opts) },
		}
		cmd.Flags().StringVar(&opts.Socket, "socket", "", "unix socket of the contractor run that decides and records")
		grp.AddCommand(cmd)
	}
	return grp
}

func hookRun(cmd *cobra.Command, opts *HookOptions) error {
	if opts.Socket != "" {
		// The answer (a deny on any failure) is on stdout; the exit stays 0
		// so that Claude Code reads it.
		_, _ = contractor.HookAs(opts.Protocol, opts.IO.In, opts.IO.Out, opts.Socket, nil)
		return nil
	}
	ctx := cmd.Context()
	var rules *contractor.Rules
	if r, err := opts.F.Repo(ctx); err == nil {
		if c, err := opts.F.Config(ctx); err == nil {
			rules = &contractor.Rules{Worktree: r.Root, Allow: c.Commands.Allow}
			if e, err := cmdrule.New(c.Commands); err == nil {
				rules.Shell = contractor.ShellRule(e)
			}
		}
	}
	d, _ := contractor.HookAs(opts.Protocol, opts.IO.In, opts.IO.Out, "", rules)
	if dir, err := opts.F.StatePath(ctx); err == nil {
		if _, err := os.Stat(dir); err == nil {
			if fh, err := os.OpenFile(filepath.Join(dir, "hooks.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
				json.NewEncoder(fh).Encode(d)
				fh.Close()
			}
		}
	}
	return nil
}
