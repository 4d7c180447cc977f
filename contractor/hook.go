package contractor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/gitrepo"
	"github.com/agentos/agentos/workspace"
	"mvdan.cc/sh/v3/syntax"
)

// HookInput is what Claude Code (and Codex, in the same format) sends a
// PreToolUse hook on stdin. Unknown fields are ignored.
type HookInput struct {
	SessionID     string `json:"session_id"`
	Cwd           string `json:"cwd"`
	HookEventName string `json:"hook_event_name"`
	// PermissionMode is the CLI's own mode (default, acceptEdits,
	// bypassPermissions, ...): under bypassPermissions and dontAsk nobody
	// answers a prompt, so "ask" is a deny.
	PermissionMode string          `json:"permission_mode"`
	ToolName       string          `json:"tool_name"`
	ToolInput      json.RawMessage `json:"tool_input"`
	ToolUseID      string          `json:"tool_use_id"`
}

// HookOutput is the PreToolUse answer in Claude Code's protocol.
type HookOutput struct {
	HookSpecificOutput struct {
		HookEventName            string `json:"hookEventName"`
		PermissionDecision       string `json:"permissionDecision"`
		PermissionDecisionReason string `json:"permissionDecisionReason"`
	} `json:"hookSpecificOutput"`
}

// Decision is one tool call a contractor attempted and what AgentOS decided.
type Decision struct {
	Seq     int       `json:"seq"`
	Time    time.Time `json:"time"`
	Tool    string    `json:"tool"`
	Command string    `json:"command,omitempty"` // Bash
	Path    string    `json:"path,omitempty"`    // file tools
	Allow   bool      `json:"allow"`
	// Ask: the call needs a person; in a person's session the hook hands
	// it to the CLI's own prompt (Allow is false).
	Ask    bool   `json:"ask,omitempty"`
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

// Rules are what the hook decides with. Command rules: until package
// cmdrule lands, a command is allowed when every program it runs is in
// Allow (config.Commands.Allow, base names) or is a harmless shell builtin;
// CommandRule, when set, is consulted first and wins.
type Rules struct {
	// Worktree is the scratch worktree, the only tree a contractor may touch.
	Worktree string `json:"worktree"`
	// Allow is the command allowlist (program base names).
	Allow []string `json:"allow"`
	// CommandRule optionally decides an argv (allow, rule id, reason); nil:
	// allowlist only.
	CommandRule func(argv []string) (bool, string, string) `json:"-"`
	// Shell, when set, decides a whole shell command line instead of the
	// per-program checks (package cmdrule: `sh -c LINE` with wrappers and
	// scripts unwrapped); the path checks on arguments and redirections
	// still apply. ShellRule builds it from a cmdrule engine.
	Shell func(line string) (bool, string, string) `json:"-"`
	// Engine, when set, decides shell command lines with the policy's
	// command rules under the fail-closed analysis for commands that run
	// unconfined (cmdrule's Unconfined): every program, every file the
	// line names (operands, option values, redirections, sed and awk
	// files) and every directory it may cd into is checked. It takes
	// precedence over Shell.
	Engine *cmdrule.Engine `json:"-"`
	// Session: the hook serves a person's own agent session (hook mode),
	// not a contractor run: a call that needs a person is handed to the
	// CLI's own prompt ("ask") unless NoAsk, messages speak of the
	// repository, and the agents' own settings files are protected too.
	Session bool `json:"session,omitempty"`
	// NoAsk: nobody answers prompts (full_auto); "ask" becomes a deny.
	NoAsk bool `json:"no_ask,omitempty"`
}

// canAsk: a person can be asked about this call.
func (r Rules) canAsk(in HookInput) bool {
	return r.Session && !r.NoAsk && in.PermissionMode != "bypassPermissions" && in.PermissionMode != "dontAsk"
}

// sessionProtected are files an agent in a person's session must not
// write on top of AgentOS's own: the settings that wire the hook.
var sessionProtected = []string{".claude/settings.json", ".claude/settings.local.json", ".claude/hooks", ".codex", ".opencode", "opencode.json", "opencode.jsonc"}

// builtins are shell builtins a contractor may use without an allowlist
// entry: they start no program and change nothing outside the shell.
var builtins = []string{"cd", "echo", "printf", "true", "false", "test", "[", "pwd", ":"}

// escapesVar matches expansions of variables that name directories (or
// the working directory), which path checks cannot follow.
var escapesVar = regexp.MustCompile(`\$\{?(HOME|TMPDIR|TMP|TEMP|PWD|OLDPWD|XDG_[A-Z_]+|CLAUDE_[A-Z_]+|CODEX_HOME)\b`)

// readTools only read; their path must still be inside the worktree.
var readTools = []string{"Read", "Glob", "Grep", "LS", "NotebookRead", "view_image"}

// writeTools change a file named by file_path (or notebook_path).
var writeTools = []string{"Write", "Edit", "MultiEdit", "NotebookEdit"}

// innocuous tools touch nothing outside the agent.
var innocuous = []string{"TodoWrite", "Task", "Agent", "ExitPlanMode", "BashOutput", "KillShell", "KillBash", "update_plan"}

// shellTools carry a command line: Claude Code's Bash (Codex reports its
// shell calls as Bash too), Codex's exec_command / shell / local_shell.
var shellTools = []string{"Bash", "exec_command", "shell", "local_shell", "container.exec"}

// Decide decides one tool call. It never errs: anything it cannot
// understand is denied with the reason.
func Decide(r Rules, in HookInput) Decision {
	d := Decision{Tool: in.ToolName, Time: time.Now().UTC()}
	var ti map[string]any
	_ = json.Unmarshal(in.ToolInput, &ti)
	str := func(k string) string { s, _ := ti[k].(string); return s }
	deny := func(rule, format string, args ...any) Decision {
		d.Allow, d.Rule, d.Reason = false, rule, fmt.Sprintf(format, args...)
		return d
	}
	ask := func(rule, format string, args ...any) Decision {
		d = deny(rule, format, args...)
		if r.canAsk(in) {
			d.Ask = true
		} else if r.Session {
			d.Reason += " (it needs a person's approval, and nobody answers prompts here)"
		}
		return d
	}
	allow := func(rule, reason string) Decision {
		d.Allow, d.Rule, d.Reason = true, rule, reason
		return d
	}
	cwd := in.Cwd
	if cwd == "" {
		cwd = r.Worktree
	}
	switch {
	case slices.Contains(shellTools, in.ToolName):
		d.Command = str("command")
		if d.Command == "" {
			d.Command = str("cmd")
		}
		if argv, ok := ti["command"].([]any); ok { // Codex's shell: an argv
			var parts []string
			for _, a := range argv {
				s, _ := a.(string)
				parts = append(parts, s)
			}
			d.Command = shellJoin(parts)
		}
		d = decideShell(r, d, cwd)
		if d.Ask && !r.canAsk(in) {
			d.Ask = false
			if r.Session {
				d.Reason += " (it needs a person's approval, and nobody answers prompts here)"
			}
		}
		return d
	case in.ToolName == "write_stdin": // Codex: input typed into a running command
		chars := str("chars")
		d.Command = chars
		if chars == "" {
			return allow("tool.stdin", "polls a running command's output without typing into it")
		}
		return ask("tool.stdin", "typing into a running command cannot be checked: what the command does with the input is out of the hook's sight")
	case in.ToolName == "apply_patch": // Codex: the whole patch in tool_input.command
		d.Command = str("command")
		if d.Command == "" {
			d.Command = str("input")
		}
		for _, p := range patchPaths(d.Command) {
			if r.Session && r.policyPath(cwd, p) {
				d.Path = p
				return ask("path.policy", "%s", policyWhy(p))
			}
			if msg := r.pathProblem(cwd, p, true); msg != "" {
				d.Path = p
				return deny("path.write", "%s %s", p, msg)
			}
		}
		return allow("path.write", "every file of the patch is inside the worktree")
	case slices.Contains(writeTools, in.ToolName):
		p := str("file_path")
		if p == "" {
			p = str("notebook_path")
		}
		d.Path = p
		if r.Session && r.policyPath(cwd, p) {
			return ask("path.policy", "%s", policyWhy(p))
		}
		if msg := r.pathProblem(cwd, p, true); msg != "" {
			return deny("path.write", "%s %s", p, msg)
		}
		return allow("path.write", "inside the worktree")
	case slices.Contains(readTools, in.ToolName):
		p := str("file_path")
		if p == "" {
			p = str("path")
		}
		d.Path = p
		if p == "" {
			return allow("path.read", "the worktree")
		}
		if msg := r.pathProblem(cwd, p, false); msg != "" {
			return deny("path.read", "%s %s", p, msg)
		}
		return allow("path.read", "inside the worktree")
	case slices.Contains(innocuous, in.ToolName):
		return allow("tool.innocuous", "changes nothing outside the agent")
	case in.ToolName == "WebFetch" || in.ToolName == "WebSearch" || in.ToolName == "web_search":
		if r.Session {
			return ask("tool.network", "%s reaches the network; a person decides", in.ToolName)
		}
		return deny("tool.network", "%s: contractors get no web access from AgentOS; put what is needed in the request or the repository", in.ToolName)
	}
	return deny("tool.unknown", "tool %q is not one AgentOS knows how to govern; unknown tools are denied", in.ToolName)
}

func decideShell(r Rules, d Decision, cwd string) Decision {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(d.Command), "")
	if err != nil {
		d.Rule, d.Reason = "command.parse", fmt.Sprintf("cannot parse the command (%v); write it as plain shell", err)
		return d
	}
	var problem, rule, askWhy string
	var ran []string
	fail := func(ru, format string, args ...any) {
		if problem == "" {
			rule, problem = ru, fmt.Sprintf(format, args...)
		}
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch x := n.(type) {
		case *syntax.CallExpr:
			if len(x.Args) == 0 {
				return true // assignments only
			}
			var argv []string
			for i, w := range x.Args {
				lit, ok := literal(w)
				if !ok {
					if i == 0 {
						fail("command.dynamic", "the program name %q is computed at run time; name the program literally", wordText(w))
						return false
					}
					lit = wordText(w)
					// An argument that expands to a place (~, $HOME, $TMPDIR,
					// $PWD, ...) cannot be checked here; the contractor's
					// home holds its own settings, so refuse it.
					if strings.HasPrefix(lit, "~") || escapesVar.MatchString(lit) {
						fail("path.arg", "argument %s expands to a directory outside the worktree's control; use a path relative to the worktree", lit)
					}
					if i > 0 && len(x.Args) > 0 && wordText(x.Args[0]) == "cd" {
						fail("path.arg", "cd %s: the target is computed at run time; cd to a literal path inside the worktree", lit)
					}
				}
				argv = append(argv, lit)
			}
			name := argv[0]
			ran = append(ran, name)
			for _, a := range argv[1:] {
				if looksLikePath(a) {
					if msg := r.pathProblem(cwd, a, false); msg != "" {
						fail("path.arg", "argument %s %s", a, msg)
					}
				}
			}
			if r.Shell != nil || r.Engine != nil {
				return true
			}
			if r.CommandRule != nil {
				ok, id, why := r.CommandRule(argv)
				if !ok {
					fail(id, "%s: %s", name, why)
				}
				return true
			}
			if slices.Contains([]string{"eval", "exec", "source", ".", "command", "builtin", "sudo", "su", "env", "xargs", "nohup", "timeout"}, name) {
				fail("command.indirect", "%s runs other commands out of AgentOS's sight; run the program directly", name)
				return true
			}
			if slices.Contains(builtins, name) {
				return true
			}
			base := path.Base(name)
			if !slices.Contains(r.Allow, base) && !slices.Contains(r.Allow, name) {
				fail("command.allowlist", "%s is not in the command allowlist (commands.allow in agentos.yaml: %s)", base, strings.Join(r.Allow, ", "))
			}
		case *syntax.Redirect:
			if x.Word != nil {
				lit, ok := literal(x.Word)
				if !ok {
					fail("path.redirect", "a redirection to %q is computed at run time", wordText(x.Word))
				} else if lit != "/dev/null" && !strings.HasPrefix(lit, "&") && x.Op != syntax.DplOut && x.Op != syntax.DplIn {
					if x.Op != syntax.RdrIn && r.Session && r.policyPath(cwd, lit) {
						if askWhy == "" {
							askWhy = policyWhy(lit)
						}
					} else if msg := r.pathProblem(cwd, lit, x.Op != syntax.RdrIn); msg != "" {
						fail("path.redirect", "redirection to %s %s", lit, msg)
					}
				}
			}
		case *syntax.ProcSubst:
			fail("command.procsubst", "process substitution is not governed; use a temporary file in the worktree")
		}
		return true
	})
	if problem != "" {
		d.Rule, d.Reason = rule, problem
		return d
	}
	if r.Engine != nil {
		d = r.decideWithEngine(d, cwd)
		if askWhy != "" && (d.Allow || d.Ask) {
			d.Allow, d.Ask, d.Rule, d.Reason = false, true, "path.policy", askWhy
		}
		return d
	}
	if askWhy != "" {
		d.Ask, d.Rule, d.Reason = true, "path.policy", askWhy
		return d
	}
	if r.Shell != nil {
		d.Allow, d.Rule, d.Reason = r.Shell(d.Command)
		return d
	}
	d.Allow, d.Rule = true, "command.allowlist"
	d.Reason = "runs " + strings.Join(ran, ", ")
	if len(ran) == 0 {
		d.Reason = "runs no program"
	}
	return d
}

// literal returns a word's value when it has no expansions (quotes allowed).
func literal(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for _, p := range w.Parts {
		switch x := p.(type) {
		case *syntax.Lit:
			b.WriteString(x.Value)
		case *syntax.SglQuoted:
			b.WriteString(x.Value)
		case *syntax.DblQuoted:
			for _, q := range x.Parts {
				l, ok := q.(*syntax.Lit)
				if !ok {
					return "", false
				}
				b.WriteString(l.Value)
			}
		default:
			return "", false
		}
	}
	s := b.String()
	if strings.HasPrefix(s, "~") {
		return s, false
	}
	return s, true
}

func wordText(w *syntax.Word) string {
	var b strings.Builder
	syntax.NewPrinter().Print(&b, w)
	return b.String()
}

func looksLikePath(a string) bool {
	if i := strings.IndexByte(a, '='); i >= 0 && strings.HasPrefix(a, "-") {
		a = a[i+1:]
	}
	return strings.HasPrefix(a, "/") || a == ".." || strings.HasPrefix(a, "../") || strings.Contains(a, "/../") || strings.HasSuffix(a, "/..")
}

// decideWithEngine decides a command line with the policy's command rules
// under the unconfined analysis, then checks every file it names, from
// every directory it may run in.
func (r Rules) decideWithEngine(d Decision, cwd string) Decision {
	cd := r.Engine.Unconfined().Decide([]string{"/bin/sh", "-c", d.Command}, nil)
	id := "cmdrule:" + cd.RuleID
	askWhy, askRule := "", ""
	switch {
	case cd.Effect == cmdrule.Deny && r.Session && onlyHumanOnly(cd):
		// agentos approve|reject|answer: the person at the prompt is the
		// one who decides, with their own eyes on the command.
		askWhy, askRule = cd.Reason+"; a person must run or allow it themselves", "cmdrule:"+cmdrule.RuleHumanOnly
	case cd.Effect == cmdrule.Deny:
		d.Rule, d.Reason = id, cd.Reason
		return d
	}
	if why := r.commitsPolicy(cd, cwd); why != "" {
		if !r.Session {
			d.Rule, d.Reason = "git.policy", why
			return d
		}
		if askWhy == "" {
			askWhy, askRule = why, "git.policy"
		}
	}
	cwds := cd.Cwds
	if len(cwds) == 0 {
		cwds = []string{"."}
	}
	for _, p := range cd.Paths {
		rule := "path.read"
		if p.Write {
			rule = "path.write"
		}
		for _, c := range cwds {
			dir := filepath.Join(cwd, c)
			names := []string{p.Path}
			if p.Glob {
				// Expanded now, as the shell will; a pattern that matches
				// nothing stays itself.
				if m, err := filepath.Glob(filepath.Join(dir, p.Path)); err == nil && len(m) > 0 {
					names = m
				}
			}
			for _, n := range names {
				if p.Write && r.Session && r.policyPath(dir, n) {
					if askWhy == "" {
						askWhy, askRule = fmt.Sprintf("%s: %s", p.By, policyWhy(n)), "path.policy"
					}
					continue
				}
				if msg := r.pathProblem(dir, n, p.Write); msg != "" {
					d.Path = p.Path
					d.Rule, d.Reason = rule, fmt.Sprintf("%s names %s, which %s", p.By, n, msg)
					return d
				}
			}
		}
	}
	if askWhy != "" {
		d.Rule, d.Reason, d.Ask = askRule, askWhy, true
		return d
	}
	if cd.Effect == cmdrule.Approve {
		d.Rule, d.Reason = id, cd.Reason
		if r.Session {
			d.Ask = true
			d.Reason += " (needs a person's approval)"
		} else {
			d.Reason += " (needs a human's approval, which a contractor cannot get at the hook; leave it to the plan's verify checks)"
		}
		return d
	}
	d.Allow, d.Rule, d.Reason = true, id, cd.Reason
	return d
}

// onlyHumanOnly: every command the line denies is denied as human-only
// (agentos approve|reject|answer), nothing else.
func onlyHumanOnly(cd cmdrule.Decision) bool {
	if len(cd.Commands) == 0 {
		return cd.RuleID == cmdrule.RuleHumanOnly
	}
	found := false
	for _, c := range cd.Commands {
		if c.Effect == cmdrule.Deny {
			if c.RuleID != cmdrule.RuleHumanOnly {
				return false
			}
			found = true
		}
	}
	return found
}

// policyPath: p (absolute, or relative to cwd) is the repository's policy
// (agentos.yaml) or AgentOS's state (.agentos), whose change is the
// person's to make.
func (r Rules) policyPath(cwd, p string) bool {
	if p == "" || r.Worktree == "" {
		return false
	}
	abs := p
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(cwd, p)
	}
	root := filepath.Clean(r.Worktree)
	if real, err := filepath.EvalSymlinks(root); err == nil {
		root = real
	}
	rel, err := filepath.Rel(root, resolveExisting(filepath.Clean(abs)))
	if err != nil {
		return false
	}
	rel = filepath.ToSlash(rel)
	return rel == agentos.PolicyFile || rel == agentos.StateDir || strings.HasPrefix(rel, agentos.StateDir+"/")
}

func policyWhy(p string) string {
	return p + " is AgentOS's policy or state: changing it is a person's decision"
}

// commitVerbs are the git subcommands that make commits on a branch (or
// move a branch onto one). Plumbing that only writes an object is not
// listed: putting it on a branch takes update-ref, which is.
var commitVerbs = map[string]bool{"commit": true, "merge": true, "cherry-pick": true, "rebase": true,
	"am": true, "revert": true, "pull": true, "update-ref": true}

// gitValueFlags are git's global options that take a value.
var gitValueFlags = map[string]bool{"-C": true, "-c": true, "--git-dir": true, "--work-tree": true, "--namespace": true, "--exec-path": true, "--config-env": true}

// commitsPolicy says why the line needs a person when one of its commands
// is a git commit while agentos.yaml or .agentos differs from HEAD in the
// repository (staged or not: `commit -a` and pathspecs reach both): the
// commit would change the policy every later decision is made by.
func (r Rules) commitsPolicy(cd cmdrule.Decision, cwd string) string {
	cmds := cd.Commands
	if len(cmds) == 0 {
		cmds = []cmdrule.Decision{cd}
	}
	commits := false
	for _, c := range cmds {
		if len(c.Argv) == 0 || path.Base(c.Argv[0]) != "git" {
			continue
		}
		for i := 1; i < len(c.Argv); i++ {
			a := c.Argv[i]
			if strings.HasPrefix(a, "-") {
				if gitValueFlags[a] {
					i++
				}
				continue
			}
			commits = commits || commitVerbs[a]
			break
		}
	}
	if !commits || r.Worktree == "" {
		return ""
	}
	out, err := gitrepo.GitIn(context.Background(), r.Worktree, nil, "status", "--porcelain", "--ignored=matching", "--untracked-files=all", "--", agentos.PolicyFile, agentos.StateDir)
	if err != nil {
		return "a git commit while AgentOS cannot tell whether agentos.yaml changed (" + err.Error() + ")"
	}
	for _, line := range strings.Split(out, "\n") {
		// Ignored files (.agentos's store) are not committed by accident;
		// staged, modified or new ones are.
		if line != "" && !strings.HasPrefix(line, "!!") {
			return "a git commit while " + strings.TrimSpace(line[2:]) + " differs from HEAD: committing it changes the policy AgentOS decides by, a person's decision"
		}
	}
	return ""
}

// pathProblem is pathProblem for these rules: the worktree, and the
// messages and protected files of the mode.
func (r Rules) pathProblem(cwd, p string, write bool) string {
	msg := pathProblem(r.Worktree, cwd, p, write)
	if !r.Session {
		return msg
	}
	switch {
	case strings.HasPrefix(msg, "is outside"):
		return "is outside the repository: AgentOS lets an agent in a person's session touch only the repository it works in"
	case strings.HasPrefix(msg, "is protected"):
		return "is protected (.git, .agentos and agentos.yaml are never written by an agent under AgentOS)"
	case msg == "is the worktree itself":
		return "is the repository itself; name what to change inside it"
	case msg != "":
		return msg
	}
	if write {
		abs := p
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(cwd, p)
		}
		root := filepath.Clean(r.Worktree)
		if real, err := filepath.EvalSymlinks(root); err == nil {
			root = real
		}
		rel, err := filepath.Rel(root, resolveExisting(filepath.Clean(abs)))
		if err == nil {
			rel = filepath.ToSlash(rel)
			for _, sp := range sessionProtected {
				if rel == sp || strings.HasPrefix(rel, sp+"/") {
					return "is protected: it wires the agent's hooks to AgentOS, and an agent may not rewire them"
				}
			}
		}
	}
	return ""
}

// pathProblem says why p (absolute, or relative to cwd) is not acceptable,
// or "" when it is inside worktree (and, for a write, not protected and not
// through a symlink).
func pathProblem(worktree, cwd, p string, write bool) string {
	if p == "" {
		return "is empty"
	}
	if i := strings.IndexByte(p, '='); i >= 0 && strings.HasPrefix(p, "-") {
		p = p[i+1:]
	}
	if p == "/dev/null" {
		return ""
	}
	abs := p
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(cwd, p)
	}
	abs = filepath.Clean(abs)
	root := filepath.Clean(worktree)
	if real, err := filepath.EvalSymlinks(root); err == nil {
		root = real
	}
	// Resolve the longest existing prefix, so a symlink cannot lead out.
	resolved := resolveExisting(abs)
	rel, err := filepath.Rel(root, resolved)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return "is outside the worktree: a contractor may only touch its scratch worktree"
	}
	if write {
		if rel == "." {
			return "is the worktree itself"
		}
		if _, err := workspace.CleanWritable(filepath.ToSlash(rel)); err != nil {
			return "is protected (.git, .agentos and agentos.yaml are never written by a contractor)"
		}
	}
	return ""
}

func resolveExisting(abs string) string {
	rest := ""
	cur := abs
	for {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// patchPaths lists the files a Codex apply_patch touches.
func patchPaths(patch string) []string {
	var out []string
	for _, line := range strings.Split(patch, "\n") {
		for _, pfx := range []string{"*** Add File: ", "*** Update File: ", "*** Delete File: ", "*** Move to: "} {
			if p, ok := strings.CutPrefix(line, pfx); ok {
				out = append(out, strings.TrimSpace(p))
			}
		}
	}
	if len(out) == 0 {
		out = append(out, "")
	}
	return out
}

// Output renders d in Claude Code's PreToolUse protocol.
func (d Decision) Output() HookOutput {
	var o HookOutput
	o.HookSpecificOutput.HookEventName = "PreToolUse"
	o.HookSpecificOutput.PermissionDecision = "deny"
	if d.Allow {
		o.HookSpecificOutput.PermissionDecision = "allow"
	} else if d.Ask {
		o.HookSpecificOutput.PermissionDecision = "ask"
	}
	o.HookSpecificOutput.PermissionDecisionReason = "AgentOS " + d.Rule + ": " + d.Reason
	return o
}

// hookServer decides hook calls for one contractor run over a unix socket
// that lives outside every writable root, and records every decision where
// the contractor cannot reach it.
type hookServer struct {
	rules     Rules
	ln        net.Listener
	mu        sync.Mutex
	decisions []Decision
	// asked maps the tool_use_id of a call handed to the person to its
	// decision, so that its PostToolUse records their yes.
	asked map[string]Decision
	wg    sync.WaitGroup
}

func startHookServer(sock string, r Rules) (*hookServer, error) {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	s := &hookServer{rules: r, ln: ln}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *hookServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			var in HookInput
			if err := json.NewDecoder(bufio.NewReader(io.LimitReader(c, 16<<20))).Decode(&in); err != nil {
				return
			}
			if in.HookEventName == EventPostToolUse {
				s.mu.Lock()
				if a, ok := s.asked[in.ToolUseID]; ok && in.ToolUseID != "" {
					delete(s.asked, in.ToolUseID)
					a.Seq, a.Time, a.Allow, a.Ask = len(s.decisions)+1, time.Now().UTC(), true, false
					a.Reason = "the person allowed it at the CLI's prompt, and it ran (" + a.Reason + ")"
					s.decisions = append(s.decisions, a)
				}
				s.mu.Unlock()
				json.NewEncoder(c).Encode(Decision{Allow: true})
				return
			}
			d := Decide(s.rules, in)
			s.mu.Lock()
			d.Seq = len(s.decisions) + 1
			s.decisions = append(s.decisions, d)
			if d.Ask && in.ToolUseID != "" {
				if s.asked == nil {
					s.asked = map[string]Decision{}
				}
				s.asked[in.ToolUseID] = d
			}
			s.mu.Unlock()
			json.NewEncoder(c).Encode(d)
		}()
	}
}

func (s *hookServer) close() []Decision {
	s.ln.Close()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.decisions)
}

// Protocol is the hook answer format of an agent CLI.
type Protocol string

const (
	// ProtocolClaude: always a JSON answer, permissionDecision allow|deny.
	ProtocolClaude Protocol = "claude"
	// ProtocolCodex: Codex refuses permissionDecision "allow"; an allowed
	// call gets no output, a denied one the deny JSON with its reason.
	ProtocolCodex Protocol = "codex"
)

// Hook is the hook program's side (`agentos hook claude`): it reads one hook
// call on stdin, has it decided by the contractor run that owns socket (or,
// with no socket, by rules locally), and answers on stdout in Claude Code's
// protocol. It fails closed: if no decision can be had, the call is denied.
func Hook(stdin io.Reader, stdout io.Writer, socket string, local *Rules) (Decision, error) {
	return HookAs(ProtocolClaude, stdin, stdout, socket, local)
}

// HookAs is Hook answering in the given protocol.
func HookAs(proto Protocol, stdin io.Reader, stdout io.Writer, socket string, local *Rules) (Decision, error) {
	raw, err := io.ReadAll(io.LimitReader(stdin, 16<<20))
	if err != nil {
		return denyAll(proto, stdout, "cannot read the hook input: "+err.Error())
	}
	var in HookInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return denyAll(proto, stdout, "the hook input is not JSON: "+err.Error())
	}
	var d Decision
	switch {
	case socket != "":
		c, err := net.DialTimeout("unix", socket, 10*time.Second)
		if err != nil {
			return denyAll(proto, stdout, "cannot reach the AgentOS contractor run at "+socket+": "+err.Error())
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(append(raw, '\n')); err != nil {
			return denyAll(proto, stdout, "cannot ask the AgentOS contractor run: "+err.Error())
		}
		if err := json.NewDecoder(c).Decode(&d); err != nil {
			return denyAll(proto, stdout, "no decision from the AgentOS contractor run: "+err.Error())
		}
	case local != nil:
		d = Decide(*local, in)
	default:
		return denyAll(proto, stdout, "the hook has neither a contractor run nor rules to decide with")
	}
	if in.HookEventName == EventPostToolUse {
		return d, nil // recorded; the call already ran, nothing to answer
	}
	if proto == ProtocolCodex && d.Ask && in.HookEventName != EventPermissionRequest {
		// Codex's PreToolUse has no "ask" (an answer it does not know
		// fails open): the call is refused, saying a person must decide.
		d.Ask = false
		d.Reason += "; Codex's hook cannot ask, so it is refused: run it yourself if you want it"
	}
	return d, Answer(proto, in.HookEventName, stdout, d)
}

// EventPermissionRequest is the hook event a CLI sends right before it
// shows its own permission prompt (Claude Code; Codex in its approval
// path).
const EventPermissionRequest = "PermissionRequest"

// EventPostToolUse is the hook event after a call ran; for a call AgentOS
// asked the person about, it is their yes.
const EventPostToolUse = "PostToolUse"

// Answer writes d in the protocol of the hook event. A PreToolUse call
// gets allow, deny or ask (Codex: no output allows). A PermissionRequest
// can only be made stricter: a deny refuses it, anything else leaves the
// prompt to the person (no output), so AgentOS never answers for them.
func Answer(proto Protocol, event string, stdout io.Writer, d Decision) error {
	if event == EventPermissionRequest {
		if d.Allow || d.Ask {
			return nil
		}
		var o struct {
			HookSpecificOutput struct {
				HookEventName string `json:"hookEventName"`
				Decision      struct {
					Behavior string `json:"behavior"`
					Message  string `json:"message"`
				} `json:"decision"`
			} `json:"hookSpecificOutput"`
		}
		o.HookSpecificOutput.HookEventName = EventPermissionRequest
		o.HookSpecificOutput.Decision.Behavior = "deny"
		o.HookSpecificOutput.Decision.Message = "AgentOS " + d.Rule + ": " + d.Reason
		return json.NewEncoder(stdout).Encode(o)
	}
	if proto == ProtocolCodex && d.Allow {
		return nil
	}
	return json.NewEncoder(stdout).Encode(d.Output())
}

func answer(proto Protocol, stdout io.Writer, d Decision) error {
	return Answer(proto, "", stdout, d)
}

func denyAll(proto Protocol, stdout io.Writer, reason string) (Decision, error) {
	d := Decision{Allow: false, Rule: "hook.error", Reason: reason, Time: time.Now().UTC()}
	if err := answer(proto, stdout, d); err != nil {
		return d, err
	}
	return d, errors.New(reason)
}

// LoadRules reads the rules file a contractor run writes beside its settings.
func LoadRules(file string) (Rules, error) {
	var r Rules
	b, err := os.ReadFile(file)
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(b, &r)
}
