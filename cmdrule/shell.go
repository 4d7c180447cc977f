package cmdrule

import (
	"bytes"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// safeBuiltins run no other command and touch nothing the sandbox does
// not already govern.
var safeBuiltins = map[string]bool{
	"echo": true, "printf": true, "true": true, "false": true, "test": true, "[": true, ":": true,
	"pwd": true, "cd": true, "pushd": true, "popd": true, "dirs": true, "read": true, "shift": true,
	"exit": true, "return": true, "wait": true, "break": true, "continue": true, "getopts": true,
	"umask": true, "type": true, "jobs": true, "times": true, "ulimit": true, "let": true, "unset": true,
	"set": true, "shopt": true, "kill": true, "unalias": true, "local": true, "export": true,
	"declare": true, "typeset": true, "readonly": true,
}

// deniedBuiltins run code that cannot be seen statically.
var deniedBuiltins = map[string]string{
	"eval":     "eval runs a string as code; write the commands out",
	"source":   "source runs a file's commands unchecked; inline them",
	".":        "`.` runs a file's commands unchecked; inline them",
	"alias":    "aliases change what a name runs; write the command out",
	"enable":   "enable loads builtins; not allowed",
	"fc":       "fc re-runs history; not allowed",
	"bind":     "bind can run commands; not allowed",
	"complete": "complete can run commands; not allowed",
}

// builtin handles shell builtins; false means name is not one.
func (d *decider) builtin(args []arg, c cmdCtx) bool {
	name := args[0].s
	if reason, ok := deniedBuiltins[name]; ok {
		d.deny(RuleShell, args, "%s", reason)
		return true
	}
	ok := func() bool {
		d.add(Decision{RuleID: RuleBuiltin, Effect: Allow, Argv: strs(args), Reason: "shell builtin " + name})
		return true
	}
	rest := c
	rest.depth++
	switch name {
	case "cd", "pushd":
		var target *arg
		for _, a := range args[1:] {
			if !a.dyn && (a.s == "-L" || a.s == "-P" || a.s == "-e" || a.s == "-@" || a.s == "--") {
				continue
			}
			target = &a
			break
		}
		if target == nil || target.s == "-" {
			if target == nil && name == "cd" && d.e.unconfined {
				d.deny(RuleUnresolved, args, "cd without a directory goes to $HOME, outside what the hook can check; cd to a path in the repository")
				return true
			}
			return ok()
		}
		if d.pathChecks(nameIdent(name), []arg{args[0], *target}, c) {
			return true
		}
		return ok()
	case "set":
		if len(args) == 1 && d.e.unconfined {
			d.deny(RuleSecretEnv, args, "set without arguments lists every variable, secrets included; not allowed in hook mode")
			return true
		}
		return ok()
	case "exec", "command", "builtin":
		i := 1
		for i < len(args) && strings.HasPrefix(args[i].s, "-") && !args[i].dyn {
			switch args[i].s {
			case "-v", "-V":
				if name == "command" {
					return ok()
				}
			case "-a":
				i++
			}
			i++
		}
		if i >= len(args) {
			return ok()
		}
		d.command(args[i:], rest)
		return true
	case "trap":
		if len(args) == 1 || args[1].s == "-l" || args[1].s == "-p" || args[1].s == "-" {
			return ok()
		}
		d.deny(RuleShell, args, "trap runs a string as code; not allowed")
		return true
	case "hash":
		for _, a := range args[1:] {
			if strings.HasPrefix(a.s, "-") && strings.Contains(a.s, "p") {
				d.deny(RuleShell, args, "hash -p changes what a name runs; not allowed")
				return true
			}
		}
		return ok()
	case "mapfile", "readarray":
		for _, a := range args[1:] {
			if strings.HasPrefix(a.s, "-") && strings.Contains(a.s, "C") {
				d.deny(RuleShell, args, "%s -C runs a callback; not allowed", name)
				return true
			}
		}
		return ok()
	case "export", "declare", "typeset", "local", "readonly":
		if d.e.unconfined {
			names := 0
			for _, a := range args[1:] {
				if !strings.HasPrefix(a.s, "-") {
					names++
				}
				if a.s == "-p" || strings.HasPrefix(a.s, "-") && strings.Contains(a.s, "p") || SecretName(strings.SplitN(a.s, "=", 2)[0]) && !strings.Contains(a.s, "=") {
					names = -1
					break
				}
			}
			if names <= 0 && name != "local" {
				d.deny(RuleSecretEnv, args, "%s lists variables, secrets included; not allowed in hook mode", strings.Join(strs(args), " "))
				return true
			}
		}
		for _, a := range args[1:] {
			n, _, _ := strings.Cut(a.s, "=")
			if dangerousEnv(n) && strings.Contains(a.s, "=") || a.dyn {
				d.deny(RuleShell, args, "%s: setting %s changes what runs; not allowed", name, n)
				return true
			}
		}
		return ok()
	}
	if safeBuiltins[name] {
		return ok()
	}
	return false
}

// script parses a shell script and decides every command in it: pipes,
// lists, subshells, command and process substitutions, function bodies.
func (d *decider) script(src string, outer []arg, c cmdCtx) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(src), "")
	if err != nil {
		d.deny(RuleShell, outer, "cannot parse the shell script: %v", err)
		return
	}
	sc := cmdCtx{depth: c.depth + 1, inScript: true, funcs: map[string]bool{}}
	var cdTargets []string
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.FuncDecl:
			if n.Name != nil {
				sc.funcs[n.Name.Value] = true
			}
			if d.e.unconfined && changesDir(n.Body) {
				d.deny(RuleUnresolved, outer, "a function changes directory; the hook cannot tell where its paths point; cd once, outside functions and loops")
			}
		case *syntax.ForClause, *syntax.WhileClause:
			if d.e.unconfined && changesDir(n) {
				d.deny(RuleUnresolved, outer, "a loop changes directory; the hook cannot tell where its paths point; cd once, outside functions and loops")
			}
		case *syntax.CallExpr:
			if len(n.Args) > 0 {
				if s, dyn := wordString(n.Args[0]); !dyn && (s == "cd" || s == "pushd" || s == "popd") {
					sc.cwdChanges = true
					for _, w := range n.Args[1:] {
						a := wordArg(w)
						if !a.dyn && (a.s == "-L" || a.s == "-P" || a.s == "--") {
							continue
						}
						if !a.dyn && a.s != "-" && !filepath.IsAbs(a.s) {
							cdTargets = append(cdTargets, a.s)
						}
						break
					}
				}
			}
		}
		return true
	})
	// Every directory the script may be in: each cd applied to every
	// directory it may have started from (a superset of the real ones).
	for _, t := range cdTargets {
		for _, c := range slices.Clone(d.cwds) {
			if j := path.Join(c, t); !slices.Contains(d.cwds, j) {
				d.cwds = append(d.cwds, j)
			}
		}
		if len(d.cwds) > 64 && d.e.unconfined {
			d.deny(RuleUnresolved, outer, "the script changes directory too often to follow; use paths from the repository root")
			break
		}
	}
	before := len(d.leaves)
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CallExpr:
			for _, a := range n.Assigns {
				if a.Name != nil && dangerousEnv(a.Name.Value) {
					d.deny(RuleShell, outer, "the script sets %s, which changes what runs; not allowed", a.Name.Value)
				}
			}
			if len(n.Args) > 0 {
				args := make([]arg, len(n.Args))
				for i, w := range n.Args {
					args[i] = wordArg(w)
				}
				d.command(args, sc)
			}
		case *syntax.Stmt:
			if d.e.unconfined && (n.Background || n.Coprocess || n.Disown) {
				d.deny(RuleBackground, outer, "a command runs in the background (&); a process the hook allows runs unconfined, so none may outlive the call")
			}
		case *syntax.CoprocClause:
			if d.e.unconfined {
				d.deny(RuleBackground, outer, "coproc runs a command in the background; not allowed in hook mode")
			}
		case *syntax.Redirect:
			d.redirect(n, outer)
		case *syntax.DeclClause:
			if d.e.unconfined && n.Variant != nil && n.Variant.Value != "local" && declLists(n) {
				d.deny(RuleSecretEnv, outer, "%s without names, or with -p, lists variables, secrets included; not allowed in hook mode", n.Variant.Value)
			}
			for _, a := range n.Args {
				if a.Name != nil && dangerousEnv(a.Name.Value) && !a.Naked {
					d.deny(RuleShell, outer, "the script sets %s, which changes what runs; not allowed", a.Name.Value)
				}
			}
		case *syntax.ParamExp:
			if d.e.unconfined && n.Param != nil && SecretName(n.Param.Value) {
				d.deny(RuleSecretEnv, outer, "$%s looks like a secret; the hook does not let an agent read secret-looking variables", n.Param.Value)
			}
			if d.e.unconfined && n.Excl {
				d.deny(RuleSecretEnv, outer, "${!...} reads a variable whose name is only known at run time; not allowed in hook mode")
			}
			if n.Exp != nil && n.Exp.Op == syntax.OtherParamOps && n.Exp.Word != nil && strings.Contains(n.Exp.Word.Lit(), "P") {
				d.deny(RuleShell, outer, "${var@P} expands a value as a prompt, which can run commands; not allowed")
			}
		case *syntax.SglQuoted:
			if hiddenCode(n.Value) {
				d.deny(RuleShell, outer, "a quoted string holds $(...) or backticks, which bash can run later (arithmetic, prompts); not allowed")
			}
		case *syntax.Lit:
			if hiddenCode(n.Value) {
				d.deny(RuleShell, outer, "an escaped $(...) or backtick can be run later by bash; not allowed")
			}
		}
		return true
	})
	if len(d.leaves) == before {
		d.add(Decision{RuleID: RuleShell, Effect: Allow, Argv: strs(outer), Reason: "the script runs no command"})
	}
}

// redirect records the file a redirection names; in an unconfined engine a
// target only known at run time is denied.
func (d *decider) redirect(r *syntax.Redirect, outer []arg) {
	if r.Word == nil {
		return
	}
	write := true
	switch r.Op {
	case syntax.Hdoc, syntax.DashHdoc, syntax.WordHdoc:
		return
	case syntax.RdrIn:
		write = false
	case syntax.DplIn, syntax.DplOut:
		if s, dyn := wordString(r.Word); !dyn && (s == "-" || strings.Trim(s, "0123456789") == "") {
			return // >&2, <&0, >&-
		}
		write = r.Op == syntax.DplOut
	}
	a := wordArg(r.Word)
	switch a.s {
	case "/dev/null", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/tty":
		if !a.dyn {
			return
		}
	}
	if a.dyn {
		if d.e.unconfined {
			d.deny(RuleUnresolved, outer, "a redirection to %s is only known at run time; the hook cannot check the file; write the path out", a.s)
		}
		return
	}
	d.paths = append(d.paths, PathUse{Path: a.s, Write: write, By: "redirection"})
}

// declLists: export, declare, typeset or readonly that prints variables
// (no names, -p, or a secret-looking name without a value).
func declLists(n *syntax.DeclClause) bool {
	names := 0
	for _, a := range n.Args {
		if a.Naked && a.Name == nil && a.Value != nil {
			if s, _ := wordString(a.Value); strings.HasPrefix(s, "-") && strings.Contains(s, "p") {
				return true
			}
			continue
		}
		if a.Name != nil {
			if a.Naked && SecretName(a.Name.Value) {
				return true
			}
			names++
		}
	}
	return names == 0
}

// changesDir: a cd, pushd or popd inside n.
func changesDir(n syntax.Node) bool {
	found := false
	syntax.Walk(n, func(m syntax.Node) bool {
		if c, ok := m.(*syntax.CallExpr); ok && len(c.Args) > 0 {
			if s, dyn := wordString(c.Args[0]); !dyn && (s == "cd" || s == "pushd" || s == "popd") {
				found = true
			}
		}
		return !found
	})
	return found
}

func hiddenCode(s string) bool { return strings.Contains(s, "$(") || strings.Contains(s, "`") }

// wordString returns a word's value after quote removal, and whether any
// of it is only known at run time (expansions, substitutions, globs,
// brace expansion, $'...').
func wordString(w *syntax.Word) (string, bool) {
	a := wordArg(w)
	return a.s, a.dyn
}

// wordArg is wordString as an arg: glob marks a word dynamic only through
// glob characters.
func wordArg(w *syntax.Word) arg {
	var sb strings.Builder
	dyn, globbed := false, false
	for i, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			v := p.Value
			if strings.ContainsAny(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(v, `\*`, ""), `\?`, ""), `\[`, ""), "*?[") {
				globbed = true
			}
			if (strings.Contains(v, "{") && (strings.Contains(v, ",") || strings.Contains(v, ".."))) || (i == 0 && strings.HasPrefix(v, "~")) {
				dyn = true
			}
			sb.WriteString(unescape(v, false))
		case *syntax.SglQuoted:
			if p.Dollar {
				dyn = true
			}
			sb.WriteString(p.Value)
		case *syntax.DblQuoted:
			if p.Dollar {
				dyn = true
			}
			for _, q := range p.Parts {
				if l, ok := q.(*syntax.Lit); ok {
					sb.WriteString(unescape(l.Value, true))
				} else {
					dyn = true
					sb.WriteString(printNode(q))
				}
			}
		default:
			dyn = true
			sb.WriteString(printNode(p))
		}
	}
	return arg{s: sb.String(), dyn: dyn || globbed, glob: globbed && !dyn}
}

// unescape removes backslashes the way the shell does, unquoted or inside
// double quotes.
func unescape(s string, dquoted bool) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			next := s[i+1]
			if next == '\n' {
				i++
				continue
			}
			if !dquoted || strings.IndexByte("$`\"\\", next) >= 0 {
				sb.WriteByte(next)
				i++
				continue
			}
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

func printNode(n syntax.Node) string {
	var buf bytes.Buffer
	syntax.NewPrinter().Print(&buf, n)
	return buf.String()
}
