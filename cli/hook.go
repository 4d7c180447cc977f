package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"

	"github.com/agentos/agentos"
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
	Mode     string
}

// Hook modes: in a person's session (session) a call that needs a person
// is handed to the CLI's own prompt; in full_auto nobody answers, so it is
// denied.
const (
	hookModeSession  = "session"
	hookModeFullAuto = "full_auto"
)

// NewCmdHook builds `agentos hook claude`: the PreToolUse hook of Claude
// Code (and of Codex and OpenCode through their adapters).
//
// Shell commands are decided by the policy's command rules under the
// fail-closed analysis for unconfined commands (package cmdrule) and every
// file they name by path containment; file tools by path containment and
// the protected paths; tools it does not know are denied.
func NewCmdHook(f *Factory) *cobra.Command {
	grp := group("hook", "Decide an agent CLI's tool calls (hook mode, and contractors; reads the hook JSON on stdin)")
	for _, proto := range []contractor.Protocol{contractor.ProtocolClaude, contractor.ProtocolCodex} {
		opts := &HookOptions{IO: f.IO, F: f, Protocol: proto}
		cmd := &cobra.Command{
			Use:   string(proto),
			Short: map[contractor.Protocol]string{contractor.ProtocolClaude: "Claude Code PreToolUse hook (also OpenCode through its AgentOS plugin and custom contractors)", contractor.ProtocolCodex: "Codex PreToolUse hook (no output allows, the deny JSON refuses)"}[proto],
			Long: "Reads one PreToolUse call on stdin and prints the decision in the agent's hook protocol " +
				"(hookSpecificOutput.permissionDecision: allow, deny, or ask to hand it to the CLI's own prompt). " +
				"With --socket, the AgentOS contractor run that started the agent decides and records it; " +
				"without, the repository's agentos.yaml (command rules) and the repository root as the only " +
				"writable tree decide, and the decision is appended to the hash-chained audit as a hook.decision " +
				"event (.agentos/hooks.jsonl keeps a derived copy, not authoritative). It fails closed: anything " +
				"that goes wrong, including a decision that cannot be recorded, is a deny. A command the hook " +
				"allows runs with your full rights, unconfined: see docs/planners.md, \"Hook mode\".",
			Args: noArgs,
			RunE: func(cmd *cobra.Command, args []string) error { return hookRun(cmd, opts) },
		}
		cmd.Flags().StringVar(&opts.Socket, "socket", "", "unix socket of the contractor run that decides and records")
		cmd.Flags().StringVar(&opts.Mode, "mode", hookModeSession, "session (a person answers the CLI's prompts: ask is possible) or full_auto (ask becomes deny)")
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
	raw, err := io.ReadAll(io.LimitReader(opts.IO.In, 16<<20))
	if err != nil {
		raw = nil
	}
	var in contractor.HookInput
	_ = json.Unmarshal(raw, &in)
	if in.HookEventName == "PostToolUse" {
		// Nothing to decide: the call ran. If AgentOS had asked the person
		// about it, their answer was yes, and that is recorded.
		recordApproval(cmd, opts, in)
		return nil
	}
	var rules *contractor.Rules
	problem := ""
	switch opts.Mode {
	case hookModeSession, hookModeFullAuto:
	default:
		problem = "unknown --mode " + opts.Mode + "; use session or full_auto"
	}
	if problem == "" {
		if r, err := opts.F.Repo(ctx); err != nil {
			problem = "not in a git repository: " + agentos.ErrorMessage(err)
		} else if c, err := opts.F.ConfigUnchecked(ctx); err != nil {
			// Unchecked: the hook needs the command rules, which
			// cmdrule.New compiles and checks (their examples) below;
			// checking every gate's examples too tripled each call's time.
			problem = "the policy does not load: " + agentos.ErrorMessage(err)
		} else if e, err := cmdrule.New(c.Commands); err != nil {
			problem = "the command rules do not load: " + agentos.ErrorMessage(err)
		} else {
			rules = &contractor.Rules{Worktree: r.Root, Allow: c.Commands.Allow, Engine: e, Session: true, NoAsk: opts.Mode == hookModeFullAuto}
		}
	}
	var d contractor.Decision
	var out bytes.Buffer
	if rules == nil {
		// Decided as a deny with the reason, and still recorded if the
		// store opens.
		d, _ = contractor.HookAs(opts.Protocol, bytes.NewReader(raw), io.Discard, "", &contractor.Rules{})
		d.Allow, d.Ask, d.Rule, d.Reason = false, false, "hook.error", problem
		_ = contractor.Answer(opts.Protocol, in.HookEventName, &out, d)
	} else {
		d, _ = contractor.HookAs(opts.Protocol, bytes.NewReader(raw), &out, "", rules)
	}
	if err := recordHookDecision(cmd, opts, in, d); err != nil {
		// A decision that cannot be recorded in the audit is a deny: the
		// agent could otherwise act with no trace.
		d.Allow, d.Ask, d.Rule = false, false, "hook.audit"
		d.Reason = "AgentOS cannot record this decision in its audit (" + agentos.ErrorMessage(err) + "); run `agentos init` in the repository"
		out.Reset()
		_ = contractor.Answer(opts.Protocol, in.HookEventName, &out, d)
	}
	_, err = opts.IO.Out.Write(out.Bytes())
	return err
}

// recordHookDecision appends the decision to the hash-chained audit (the
// store redacts the event's data on the way in), then to .agentos/hooks.jsonl,
// a derived convenience copy that is not authoritative: the agent can
// reach that file, not the chain.
func recordHookDecision(cmd *cobra.Command, opts *HookOptions, in contractor.HookInput, d contractor.Decision) error {
	ctx := cmd.Context()
	db, err := opts.F.DB(ctx)
	if err != nil {
		return err
	}
	decision := "deny"
	switch {
	case d.Allow:
		decision = "allow"
	case d.Ask:
		decision = "ask"
	}
	mode := opts.Mode
	if mode == hookModeSession && (in.PermissionMode == "bypassPermissions" || in.PermissionMode == "dontAsk") {
		mode = hookModeFullAuto
	}
	// The agent's call is kept as evidence: its head, redacted first (a
	// secret cut in two may no longer be recognised), with size and digest.
	for _, x := range []*string{&d.Command, &d.Path, &d.Reason} {
		*x = agentos.Head(opts.F.redactText(*x), agentos.MaxRecordedText)
	}
	ev := agentos.HookDecisionEvent{Agent: string(opts.Protocol), SessionID: in.SessionID, Event: in.HookEventName, ToolUseID: in.ToolUseID, Tool: d.Tool,
		Command: d.Command, Path: d.Path, Decision: decision, Rule: d.Rule, Reason: d.Reason, Mode: mode, Cwd: in.Cwd}
	if _, err := db.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: agentos.EventHookDecision, Data: ev}); err != nil {
		return err
	}
	if dir, err := opts.F.StatePath(ctx); err == nil {
		if fh, err := os.OpenFile(filepath.Join(dir, "hooks.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			// The documented line format (one decision as before), redacted
			// like the audit event.
			d.Command, d.Reason = opts.F.redactText(d.Command), opts.F.redactText(d.Reason)
			json.NewEncoder(fh).Encode(d)
			fh.Close()
		}
	}
	return nil
}

// recordApproval records the person's answer to an "ask": a PostToolUse
// for a call the hook asked about (same tool_use_id, among the recent
// decisions) means the person allowed it at the CLI's prompt.
func recordApproval(cmd *cobra.Command, opts *HookOptions, in contractor.HookInput) {
	ctx := cmd.Context()
	if in.ToolUseID == "" {
		return
	}
	db, err := opts.F.DB(ctx)
	if err != nil {
		return
	}
	head, _, err := db.ChainHead(ctx)
	if err != nil {
		return
	}
	evs, err := db.Events(ctx, agentos.EventFilter{Kind: agentos.EventHookDecision, FromSeq: max(1, head-1000)})
	if err != nil {
		return
	}
	for i := len(evs) - 1; i >= 0; i-- {
		var h agentos.HookDecisionEvent
		if json.Unmarshal(evs[i].Data, &h) != nil || h.ToolUseID != in.ToolUseID || h.SessionID != in.SessionID {
			continue
		}
		if h.Decision == "ask" {
			h.Event, h.Decision = "PostToolUse", "approved"
			h.Reason = "the person allowed it at the CLI's prompt, and it ran"
			db.Append(ctx, agentos.EventInput{Actor: agentos.System, Kind: agentos.EventHookDecision, Data: h})
		}
		return
	}
}
