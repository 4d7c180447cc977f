// Package cmdrule decides whether a command may run: prefix rules over argv
// from agentos.yaml (commands.allow and commands.rules), matched against
// what will actually run. The executable is resolved to its real path
// (symlinks followed), wrappers (env, nice, timeout, xargs, ...) are
// unwrapped, shell scripts (sh -c) are parsed and every command in them is
// decided, and what cannot be known statically is denied. The strictest
// decision wins; a command no rule covers is denied.
//
// Rules are policy, not confinement: whatever is allowed still runs in the
// sandbox.
package cmdrule

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
)

// Effects, from the least to the most strict.
const (
	Allow   = "allow"
	Approve = "approve"
	Deny    = "deny"
)

func strictness(effect string) int {
	switch effect {
	case Allow:
		return 0
	case Approve:
		return 1
	}
	return 2
}

// Decision is the verdict on one command line. For a line that runs several
// commands (a script, a wrapper), Commands holds every sub-command's own
// decision and the top level is the strictest of them.
type Decision struct {
	RuleID string `json:"rule_id"`
	Effect string `json:"effect"`
	// Argv is the command as matched: argv[0] resolved to its real path.
	Argv   []string `json:"argv"`
	Reason string   `json:"reason"`
	// Commands lists each command the line runs, with its decision.
	Commands []Decision `json:"commands,omitempty"`
	// Paths lists the files the line names (operands, option values,
	// redirections, files inside sed and awk programs). A caller that
	// does not confine the command checks them (package contractor's
	// hook); relative ones are relative to each of Cwds.
	Paths []PathUse `json:"paths,omitempty"`
	// Cwds are the directories, relative to where the line starts, that
	// its commands may run in (["."] unless the script changes directory).
	Cwds []string `json:"cwds,omitempty"`
}

// Rule IDs of decisions that no configured rule made.
const (
	RuleDefault = "default"       // no rule covers the command
	RuleWrapper = "wrapper"       // a wrapper or interpreter that cannot be checked
	RuleShell   = "shell"         // shell syntax that cannot be checked statically
	RuleBuiltin = "shell:builtin" // a harmless shell builtin
	RuleFunc    = "shell:function"
	RuleResolve = "resolve" // the executable does not exist
	// RuleHumanOnly: `agentos approve|reject|answer` run by a governed
	// command (an agent's tool call, a plan step): only a person decides,
	// whatever the policy allows.
	RuleHumanOnly = "agentos:human-only"
	// Decisions made only for commands that run unconfined (Unconfined).
	RuleUnresolved = "shell:unresolved" // a path only known at run time
	RuleBackground = "shell:background" // a process that outlives the call
	RuleSecretEnv  = "shell:secret-env" // reads a secret-looking variable
)

type rule struct {
	config.CommandRule
}

// Engine decides commands under one policy.
type Engine struct {
	allow []string
	rules []rule
	// unconfined: the commands decided run outside any sandbox (a hook in
	// a person's session, a contractor's hook), so what cannot be resolved
	// statically is denied, not left to the sandbox.
	unconfined bool
}

// Unconfined returns an engine with the same rules for commands that run
// outside the AgentOS sandbox: the analysis fails closed. A path only
// known at run time (parameter expansion, command substitution, a loop
// variable, xargs input, a glob outside the working directory), a process
// left running (&, nohup, setsid, disown) and reading a secret-looking
// environment variable are denied.
func (e *Engine) Unconfined() *Engine {
	c := *e
	c.unconfined = true
	return &c
}

// New builds an Engine from the policy's commands section. It refuses
// malformed rules and rules whose examples do not match as declared.
func New(cfg config.Commands) (*Engine, error) {
	e := &Engine{}
	for _, a := range cfg.Allow {
		if strings.TrimSpace(a) == "" {
			return nil, agentos.Errorf(agentos.EINVALID, "commands.allow: empty entry; list program names such as `go` or `git`")
		}
		e.allow = append(e.allow, a)
	}
	seen := map[string]bool{}
	for i, r := range cfg.Rules {
		where := fmt.Sprintf("commands.rules[%d]", i)
		if r.ID == "" {
			return nil, agentos.Errorf(agentos.EINVALID, "%s: missing id; give every rule an id for the audit log", where)
		}
		if seen[r.ID] {
			return nil, agentos.Errorf(agentos.EINVALID, "%s: duplicate id %q; rule ids must be unique", where, r.ID)
		}
		seen[r.ID] = true
		if len(r.Prefix) == 0 || r.Prefix[0] == "" {
			return nil, agentos.Errorf(agentos.EINVALID, "%s (%s): prefix must start with a program name", where, r.ID)
		}
		switch r.Decision {
		case Allow, Approve, Deny:
		default:
			return nil, agentos.Errorf(agentos.EINVALID, "%s (%s): decision %q; use allow, approve or deny", where, r.ID, r.Decision)
		}
		for _, fl := range append(slices.Clone(r.Flags), r.NotFlags...) {
			if len(fl) < 2 || fl[0] != '-' {
				return nil, agentos.Errorf(agentos.EINVALID, "%s (%s): flags and not_flags list options such as -a or --list, not %q", where, r.ID, fl)
			}
		}
		if r.MaxArgs != nil && *r.MaxArgs < 0 {
			return nil, agentos.Errorf(agentos.EINVALID, "%s (%s): max_args must be 0 or more", where, r.ID)
		}
		e.rules = append(e.rules, rule{r})
	}
	if fails := e.CheckExamples(); len(fails) > 0 {
		return nil, agentos.Errorf(agentos.EINVALID, "commands.rules: %s", strings.Join(fails, "; "))
	}
	return e, nil
}

// CheckExamples checks every rule against its own match and not_match
// examples (by program name, without looking anything up) and returns one
// line per failure.
func (e *Engine) CheckExamples() []string {
	var fails []string
	for _, r := range e.rules {
		for _, ex := range r.Match {
			if len(ex) == 0 || !r.matches(nameIdent(ex[0]), plainArgs(ex), false) {
				fails = append(fails, fmt.Sprintf("rule %s does not match its example %q", r.ID, ex))
			}
		}
		for _, ex := range r.NotMatch {
			if len(ex) > 0 && r.matches(nameIdent(ex[0]), plainArgs(ex), false) {
				fails = append(fails, fmt.Sprintf("rule %s matches %q, listed under not_match", r.ID, ex))
			}
		}
	}
	return fails
}

// Decide decides argv. lookPath resolves a program name (or a relative
// path) the way the command will be run; nil means exec.LookPath.
func (e *Engine) Decide(argv []string, lookPath func(string) (string, error)) Decision {
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	d := &decider{e: e, lookPath: lookPath, resolved: map[string]string{}, cwds: []string{"."}}
	d.command(plainArgs(argv), cmdCtx{})
	return d.result(argv)
}

// arg is one argv element; dyn marks a value only known at run time (a
// parameter, a substitution, a glob).
type arg struct {
	s   string
	dyn bool
	// glob: dyn only through glob characters (* ? [), no other expansion.
	glob bool
}

func plainArgs(argv []string) []arg {
	out := make([]arg, len(argv))
	for i, s := range argv {
		out[i] = arg{s: s}
	}
	return out
}

func strs(args []arg) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a.s
	}
	return out
}

// ident is how a command's program is known: as written, by its real path,
// and a resolver for rule program names.
type ident struct {
	written string
	real    string
	resolve func(string) string
}

func nameIdent(name string) ident {
	return ident{written: name, real: name, resolve: func(string) string { return "" }}
}

// matchReal: p names the program that will really run.
func (id ident) matchReal(p string) bool {
	if p == id.real || p == filepath.Base(id.real) {
		return true
	}
	if !strings.Contains(p, "/") || filepath.IsAbs(p) {
		if r := id.resolve(p); r != "" && r == id.real {
			return true
		}
	}
	return false
}

// matchAny: p names the program as written or as it really is.
func (id ident) matchAny(p string) bool {
	return id.matchReal(p) || p == id.written || p == filepath.Base(id.written)
}

// matches reports whether the rule covers the command. An allow rule must
// name the real program and match its prefix exactly; deny and approve
// rules match any name of the program and are loose about flags, and a
// command whose arguments are not all known is covered by every deny or
// approve rule on its program.
func (r rule) matches(id ident, args []arg, unknownTail bool) bool {
	if r.Decision == Allow {
		if !anyAlt(r.Prefix[0], id.matchReal) {
			return false
		}
		rest := args[1:]
		if len(r.Prefix) > 1 && !strings.HasPrefix(r.Prefix[1], "-") {
			rest = skipGlobal(filepath.Base(id.real), rest)
		}
		if len(rest) < len(r.Prefix)-1 {
			return false
		}
		for i, t := range r.Prefix[1:] {
			a := rest[i]
			if a.dyn || !alt(t, a.s) {
				return false
			}
		}
		tail := rest[len(r.Prefix)-1:]
		if unknownTail && (r.Flags != nil || r.MaxArgs != nil) {
			return false // arguments appended at run time may be any
		}
		return !slices.ContainsFunc(tail, func(a arg) bool { return a.dyn && (r.Flags != nil || r.NotFlags != nil || r.MaxArgs != nil) }) &&
			r.narrow(strs(tail))
	}
	if !anyAlt(r.Prefix[0], id.matchAny) {
		return false
	}
	if unknownTail || slices.ContainsFunc(args, func(a arg) bool { return a.dyn }) {
		return true
	}
	if !looseMatch(r.Prefix[1:], strs(args[1:])) {
		return false
	}
	// The words the prefix names are not flags or arguments to narrow by.
	tail := strs(args[1:])
	for _, t := range r.Prefix[1:] {
		if i := slices.IndexFunc(tail, func(a string) bool { return alt(t, a) }); i >= 0 {
			tail = slices.Delete(slices.Clone(tail), i, i+1)
		}
	}
	return r.narrow(tail)
}

// alt: the pattern word t (alternatives separated by |, * for any word)
// admits s.
func alt(t, s string) bool {
	if t == "*" || t == s {
		return true
	}
	if !strings.Contains(t, "|") {
		return false
	}
	return slices.Contains(strings.Split(t, "|"), s)
}

// anyAlt: one of the program names t lists satisfies match.
func anyAlt(t string, match func(string) bool) bool {
	if !strings.Contains(t, "|") {
		return match(t)
	}
	return slices.ContainsFunc(strings.Split(t, "|"), match)
}

// narrow applies the rule's flags, not_flags and max_args to the words
// after its prefix.
func (r rule) narrow(tail []string) bool {
	words := 0
	for i, a := range tail {
		if a == "--" {
			words += len(tail) - i - 1
			break
		}
		if a == "-" || !strings.HasPrefix(a, "-") {
			words++
			continue
		}
		names := flagNames(a)
		if r.Flags != nil && !slices.Contains(r.Flags, a) {
			for _, n := range names {
				if !slices.Contains(r.Flags, n) {
					return false
				}
			}
		}
		for _, nf := range r.NotFlags {
			if nf == a || slices.Contains(names, nf) || abbreviates(names, nf) {
				return false
			}
		}
	}
	return r.MaxArgs == nil || words <= *r.MaxArgs
}

// flagNames are the options one argument carries: --name of --name=value;
// each letter of a short cluster up to an attached value (-la is -l -a,
// -oFILE is -o -F -I -L -E, -o/x is -o).
func flagNames(a string) []string {
	if strings.HasPrefix(a, "--") {
		n, _, _ := strings.Cut(a, "=")
		return []string{n}
	}
	var out []string
	for j := 1; j < len(a) && isAlnum(a[j]); j++ {
		out = append(out, "-"+a[j:j+1])
	}
	return out
}

// abbreviates: GNU programs take a unique prefix of a long option
// (--out for --output); for a not_flags entry, any prefix counts.
func abbreviates(names []string, long string) bool {
	if !strings.HasPrefix(long, "--") {
		return false
	}
	for _, n := range names {
		if strings.HasPrefix(n, "--") && len(n) > 3 && strings.HasPrefix(long, n) {
			return true
		}
	}
	return false
}

// globalOpts are the options a program takes before its subcommand, and
// whether each takes a value: skipped to find the subcommand (git -C .
// status is git status).
func globalOpts(prog string) map[string]bool {
	switch prog {
	case "git":
		return map[string]bool{"-C": true, "-c": true, "--git-dir": true, "--work-tree": true, "--namespace": true,
			"-p": false, "-P": false, "--paginate": false, "--no-pager": false, "--bare": false, "--no-replace-objects": false,
			"--literal-pathspecs": false, "--glob-pathspecs": false, "--noglob-pathspecs": false, "--icase-pathspecs": false,
			"--no-optional-locks": false, "--no-advice": false}
	}
	return nil
}

func skipGlobal(prog string, args []arg) []arg {
	g := globalOpts(prog)
	if g == nil {
		return args
	}
	i := 0
	for i < len(args) && !args[i].dyn {
		name, _, hasVal := strings.Cut(args[i].s, "=")
		valued, ok := g[name]
		if !ok {
			break
		}
		i++
		if valued && !hasVal {
			i++
		}
	}
	if i > len(args) {
		i = len(args)
	}
	return args[i:]
}

// looseMatch: each short-flag cluster of the prefix (-rf) matches when all
// its letters appear among the command's short flags in any grouping
// (-r -f, -fr); a long flag matches --flag or --flag=value; other tokens
// must appear in order, not necessarily adjacent (git -C dir push).
func looseMatch(prefix, args []string) bool {
	short := map[rune]bool{}
	for _, a := range args {
		if a == "--" {
			break
		}
		if len(a) > 1 && a[0] == '-' && a[1] != '-' {
			// -la, and the option of an attached value (-o/x, -oFILE).
			for _, n := range flagNames(a) {
				short[rune(n[1])] = true
			}
		}
	}
	next := 0
	for _, t := range prefix {
		switch {
		case t == "*":
		case isShortCluster(t):
			if slices.Contains(args, t) {
				continue
			}
			for _, c := range t[1:] {
				if !short[c] {
					return false
				}
			}
		case strings.HasPrefix(t, "--"):
			if !slices.ContainsFunc(args, func(a string) bool {
				return a == t || strings.HasPrefix(a, t+"=") || strings.HasPrefix(a, "--") && abbreviates(flagNames(a), t)
			}) {
				return false
			}
		default:
			i := slices.IndexFunc(args[next:], func(a string) bool { return alt(t, a) })
			if i < 0 {
				return false
			}
			next += i + 1
		}
	}
	return true
}

func isShortCluster(s string) bool {
	if len(s) < 2 || s[0] != '-' || s[1] == '-' {
		return false
	}
	for _, c := range s[1:] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// decider collects the decisions of every command one line runs.
type decider struct {
	e        *Engine
	lookPath func(string) (string, error)
	resolved map[string]string
	leaves   []Decision
	// paths every command of the line names; cwds the directories its
	// commands may run in (relative to the start).
	paths []PathUse
	cwds  []string
}

// cmdCtx is what surrounds a command.
type cmdCtx struct {
	depth int
	// inScript: shell builtins and the script's functions are known.
	inScript bool
	funcs    map[string]bool
	// unknownTail: more arguments will be appended at run time (xargs, find -exec).
	unknownTail bool
	// cwdChanges: the script changes directory, so relative program paths
	// cannot be resolved now.
	cwdChanges bool
	// tailUnder: the arguments appended at run time are files under paths
	// already decided (find -exec).
	tailUnder bool
}

const maxDepth = 8

func (d *decider) add(dec Decision) { d.leaves = append(d.leaves, dec) }

func (d *decider) deny(ruleID string, args []arg, format string, a ...any) {
	d.add(Decision{RuleID: ruleID, Effect: Deny, Argv: strs(args), Reason: fmt.Sprintf(format, a...)})
}

// realPath resolves name to the real path of the executable, or "".
func (d *decider) realPath(name string) string {
	if r, ok := d.resolved[name]; ok {
		return r
	}
	r := ""
	if p, err := d.lookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			if real, err := filepath.EvalSymlinks(abs); err == nil {
				r = real
			}
		}
	}
	d.resolved[name] = r
	return r
}

func (d *decider) result(argv []string) Decision {
	if len(d.leaves) == 0 {
		return Decision{RuleID: RuleDefault, Effect: Deny, Argv: argv, Reason: "empty command"}
	}
	top := d.leaves[0]
	for _, l := range d.leaves[1:] {
		if strictness(l.Effect) > strictness(top.Effect) {
			top = l
		}
	}
	return Decision{RuleID: top.RuleID, Effect: top.Effect, Argv: top.Argv, Reason: top.Reason, Commands: d.leaves, Paths: d.paths, Cwds: d.cwds}
}

// command decides one simple command (after shell parsing).
func (d *decider) command(args []arg, c cmdCtx) {
	if len(args) == 0 {
		return
	}
	if c.depth > maxDepth {
		d.deny(RuleWrapper, args, "commands nested more than %d deep", maxDepth)
		return
	}
	if args[0].dyn {
		d.deny(RuleShell, args, "the program name %q is only known at run time (variable, substitution or glob); write the command out", args[0].s)
		return
	}
	name := args[0].s
	if name == "" {
		d.deny(RuleShell, args, "empty program name")
		return
	}
	if c.inScript {
		if c.funcs[name] {
			d.add(Decision{RuleID: RuleFunc, Effect: Allow, Argv: strs(args), Reason: "function defined in the script (its body is checked)"})
			return
		}
		if d.builtin(args, c) {
			return
		}
		if c.cwdChanges && strings.Contains(name, "/") && !filepath.IsAbs(name) {
			d.deny(RuleShell, args, "relative program path %q after a cd cannot be resolved before running; use an absolute path", name)
			return
		}
	}
	if reason, ok := deniedWrappers[filepath.Base(name)]; ok {
		d.deny(RuleWrapper, args, "%s: %s", filepath.Base(name), reason)
		return
	}
	if reason, ok := detachers[filepath.Base(name)]; ok && d.e.unconfined {
		d.deny(RuleBackground, args, "%s %s; a process the hook allows runs unconfined, so none may outlive the call", filepath.Base(name), reason)
		return
	}
	real := d.realPath(name)
	if real == "" {
		d.deny(RuleResolve, args, "%s: no such executable; commands must exist (red line 3)", name)
		return
	}
	id := ident{written: name, real: real, resolve: d.realPath}
	prog := filepath.Base(real)
	written := filepath.Base(name)
	for _, p := range []string{prog, written} {
		if reason, ok := deniedWrappers[p]; ok {
			d.deny(RuleWrapper, args, "%s: %s", p, reason)
			return
		}
		if reason, ok := detachers[p]; ok && d.e.unconfined {
			d.deny(RuleBackground, args, "%s %s; a process the hook allows runs unconfined, so none may outlive the call", p, reason)
			return
		}
	}
	for _, p := range []string{prog, written} {
		if w := wrapperFor(p); w != nil {
			if w(d, id, args, c) {
				return
			}
			break
		}
	}
	d.leaf(id, args, c)
}

// leaf matches a command that runs no other command against the rules.
func (d *decider) leaf(id ident, args []arg, c cmdCtx) {
	unknownTail := c.unknownTail
	if d.humanOnly(id, args) {
		return
	}
	if d.pathChecks(id, args, c) {
		return
	}
	matched := append([]string{id.real}, strs(args[1:])...)
	best := Decision{Effect: "", Argv: matched}
	consider := func(ruleID, effect, reason string) {
		if best.Effect == "" || strictness(effect) > strictness(best.Effect) {
			best.RuleID, best.Effect, best.Reason = ruleID, effect, reason
		}
	}
	for _, a := range d.e.allow {
		if id.matchReal(a) {
			consider("allow:"+a, Allow, fmt.Sprintf("%s is in commands.allow", a))
			break
		}
	}
	for _, r := range d.e.rules {
		if r.matches(id, args, unknownTail) {
			reason := r.Reason
			if reason == "" {
				reason = fmt.Sprintf("rule %s: %s %s", r.ID, r.Decision, strings.Join(r.Prefix, " "))
			}
			consider(r.ID, r.Decision, reason)
		}
	}
	if best.Effect == "" {
		best.RuleID, best.Effect = RuleDefault, Deny
		best.Reason = fmt.Sprintf("%s is not in commands.allow and no rule covers it; add it to agentos.yaml if it is meant to run", filepath.Base(id.real))
	}
	d.add(best)
}

// humanVerbs are the agentos commands that decide for a person: an agent
// (or a command it runs) never does, even with the person's ssh-agent at
// hand and agentos on the allowlist.
// token: an agent must not mint itself a bearer token of `agentos serve`
// (only the local admin makes them).
var humanVerbs = map[string]bool{"approve": true, "reject": true, "answer": true, "token": true}

// agentosFlagValues are agentos's global flags that take a value.
var agentosFlagValues = map[string]bool{"-C": true, "--repo": true, "--as": true, "--signing-key": true}

// humanOnly denies `agentos approve|reject|answer`, and an agentos command
// whose verb is only known at run time.
func (d *decider) humanOnly(id ident, args []arg) bool {
	if filepath.Base(id.real) != "agentos" && filepath.Base(id.written) != "agentos" {
		return false
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a.dyn {
			d.deny(RuleHumanOnly, args, "agentos with a verb only known at run time: an agent may not approve, reject or answer, so the verb must be written out")
			return true
		}
		if strings.HasPrefix(a.s, "-") {
			if agentosFlagValues[a.s] {
				i++
			}
			continue
		}
		if humanVerbs[a.s] {
			if a.s == "token" {
				d.deny(RuleHumanOnly, args, "agentos token makes the HTTP API's credentials: only the local admin runs it, never an agent or a command it starts")
				return true
			}
			d.deny(RuleHumanOnly, args, "agentos %s decides for a person: only a person runs it, never an agent or a command it starts", a.s)
			return true
		}
		return false
	}
	return false
}
