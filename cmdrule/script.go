package cmdrule

import (
	"path"
	"strings"
)

// ScriptOf returns the file an interpreter in argv runs (sh s.sh, bash -e
// s.sh, python3 -u gen.py, node x.js, perl x.pl, . ./env.sh), "" when argv
// is no interpreter running a file. For python -m MOD it returns the module
// as a path (a/b for a.b). The command allowlist allows the interpreter;
// the file decides what it runs, so a caller holds files the plan itself
// writes for a human.
func ScriptOf(argv []string) string {
	if len(argv) < 2 {
		return ""
	}
	name := path.Base(argv[0])
	valued := map[string]bool{}
	switch {
	case name == "." || name == "source":
		return argv[1]
	case isShell(name):
		valued = map[string]bool{"-o": true, "+o": true, "-O": true, "+O": true, "--rcfile": true, "--init-file": true}
	case isInterpreter(name):
		switch interpreterFamily(name) {
		case "python", "pypy":
			valued = map[string]bool{"-W": true, "-X": true, "-Q": true}
		case "node", "bun", "deno":
			valued = map[string]bool{"-r": true, "--require": true, "--import": true, "--loader": true, "--experimental-loader": true}
		case "ruby":
			valued = map[string]bool{"-I": true, "-r": true}
		}
	default:
		return ""
	}
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "--":
			if i+1 < len(argv) {
				return argv[i+1]
			}
			return ""
		case a == "-m" && i+1 < len(argv) && strings.HasPrefix(interpreterFamily(name), "py"):
			return strings.ReplaceAll(argv[i+1], ".", "/")
		case valued[a]:
			i++
		case a == "-" || (strings.HasPrefix(a, "-") || strings.HasPrefix(a, "+")) && len(a) > 1:
		default:
			return a
		}
	}
	return ""
}

func isShell(name string) bool {
	switch name {
	case "sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "yash":
		return true
	}
	return false
}

// isInterpreter: the names unwrap.go checks as interpreters
// (checkInterpreter), versioned ones included.
func isInterpreter(name string) bool {
	switch name {
	case "python", "python2", "python3", "pypy", "pypy3", "node", "nodejs", "bun", "deno",
		"perl", "ruby", "php", "lua", "luajit", "Rscript", "pwsh", "powershell", "osascript", "tclsh", "wish", "jshell", "irb":
		return true
	}
	return versioned().MatchString(name)
}
