package cmdrule

import (
	"bytes"
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
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.FuncDecl:
			if n.Name != nil {
				sc.funcs[n.Name.Value] = true
			}
		case *syntax.CallExpr:
			if len(n.Args) > 0 {
				if s, dyn := wordString(n.Args[0]); !dyn && (s == "cd" || s == "pushd" || s == "popd") {
					sc.cwdChanges = true
				}
			}
		}
		return true
	})
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
					args[i].s, args[i].dyn = wordString(w)
				}
				d.command(args, sc)
			}
		case *syntax.DeclClause:
			for _, a := range n.Args {
				if a.Name != nil && dangerousEnv(a.Name.Value) && !a.Naked {
					d.deny(RuleShell, outer, "the script sets %s, which changes what runs; not allowed", a.Name.Value)
				}
			}
		case *syntax.ParamExp:
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

func hiddenCode(s string) bool { return strings.Contains(s, "$(") || strings.Contains(s, "`") }

// wordString returns a word's value after quote removal, and whether any
// of it is only known at run time (expansions, substitutions, globs,
// brace expansion, $'...').
func wordString(w *syntax.Word) (string, bool) {
	var sb strings.Builder
	dyn := false
	for i, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			v := p.Value
			if strings.ContainsAny(v, "*?[") || (strings.Contains(v, "{") && (strings.Contains(v, ",") || strings.Contains(v, ".."))) || (i == 0 && strings.HasPrefix(v, "~")) {
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
	return sb.String(), dyn
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
