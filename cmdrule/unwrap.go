package cmdrule

import (
	"regexp"
	"slices"
	"strings"
	"sync"
)

// deniedWrappers run other commands in ways that cannot be checked (or
// change privileges or namespaces); they are denied whatever the rules say.
var deniedWrappers = map[string]string{
	"sudo":        "privilege escalation is never allowed",
	"doas":        "privilege escalation is never allowed",
	"su":          "privilege escalation is never allowed",
	"pkexec":      "privilege escalation is never allowed",
	"runuser":     "privilege escalation is never allowed",
	"setpriv":     "changes privileges; not allowed",
	"capsh":       "changes capabilities; not allowed",
	"chroot":      "changes the root; not allowed",
	"unshare":     "creates namespaces; not allowed",
	"nsenter":     "enters namespaces; not allowed",
	"systemd-run": "starts processes outside the sandbox; not allowed",
	"strace":      "traces another command; run the command directly",
	"ltrace":      "traces another command; run the command directly",
	"gdb":         "debugs another command; run the command directly",
	"watch":       "runs a shell string repeatedly; run the command directly",
	"parallel":    "runs commands built at run time; write the commands out",
	"script":      "runs a shell; run the command directly",
	"flock":       "runs a command given as a string; run the command directly",
	"chrt":        "wrapper not supported; run the command directly",
	"taskset":     "wrapper not supported; run the command directly",
	"ionice":      "wrapper not supported; run the command directly",
	"eval":        "evaluates a string as code; write the commands out",
}

// A wrapper decides the commands it runs; false means it runs nothing
// else and is matched as an ordinary command.
type wrapper func(d *decider, id ident, args []arg, c cmdCtx) bool

// knownWrapper returns the handler of a command that runs other commands or
// interprets code (nil if name is none): an explicit table, built where it
// is used, so no package state can add to it.
func knownWrapper(name string) wrapper {
	switch name {
	case "env":
		return unwrapEnv
	case "nice":
		return optsThenCommand(map[string]bool{"-n": true, "--adjustment": true}, nil, false)
	case "nohup", "setsid":
		return optsThenCommand(nil, nil, false)
	case "stdbuf":
		return optsThenCommand(map[string]bool{"-i": true, "-o": true, "-e": true, "--input": true, "--output": true, "--error": true}, nil, false)
	case "time":
		return optsThenCommand(map[string]bool{"-f": true, "-o": true, "--format": true, "--output": true}, nil, false)
	case "timeout":
		return optsThenCommand(map[string]bool{"-s": true, "-k": true, "--signal": true, "--kill-after": true}, nil, true)
	case "xargs":
		return optsThenCommand(map[string]bool{
			"-a": true, "-d": true, "-E": true, "-I": true, "-L": true, "-n": true, "-P": true, "-s": true,
			"--arg-file": true, "--delimiter": true, "--eof": true, "--replace": true, "--max-lines": true,
			"--max-args": true, "--max-procs": true, "--max-chars": true, "--process-slot-var": true,
		}, []string{"echo"}, false)
	case "busybox":
		return unwrapBusybox
	case "find":
		return unwrapFind
	case "git":
		return checkGit
	case "tar":
		return checkTar
	case "sed":
		return checkSed
	case "sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "yash":
		return unwrapShell
	case "python", "python2", "python3", "pypy", "pypy3", "node", "nodejs", "bun", "deno",
		"perl", "ruby", "php", "lua", "luajit", "Rscript", "pwsh", "powershell", "osascript", "tclsh", "wish", "jshell", "irb":
		return checkInterpreter
	case "awk", "gawk", "mawk", "nawk", "busybox-awk":
		return checkAwk
	}
	return nil
}

// optsThenCommand handles wrappers of the form `w [options] [operand] cmd args`:
// valued lists the options that take a value, def is the command run when
// none is given (nil: the wrapper alone is an ordinary command), operand
// says one positional argument (a duration) precedes the command.
func optsThenCommand(valued map[string]bool, def []string, operand bool) wrapper {
	return func(d *decider, id ident, args []arg, c cmdCtx) bool {
		i := 1
		for i < len(args) {
			a := args[i]
			if a.dyn {
				d.deny(RuleWrapper, args, "%s: an option only known at run time", args[0].s)
				return true
			}
			if a.s == "--" {
				i++
				break
			}
			if !strings.HasPrefix(a.s, "-") || a.s == "-" {
				break
			}
			name, _, hasValue := strings.Cut(a.s, "=")
			switch {
			case valued[name] && !hasValue:
				i += 2
			case len(a.s) > 2 && a.s[1] != '-' && valued[a.s[:2]]:
				i++ // -n10, -I{}
			default:
				i++
			}
		}
		if operand && i < len(args) {
			i++
		}
		xargs := baseName(args[0].s) == "xargs" || baseName(id.real) == "xargs"
		if i >= len(args) {
			if def == nil {
				return false
			}
			d.command(plainArgs(def), cmdCtx{depth: c.depth + 1, unknownTail: true})
			return true
		}
		inner := c
		inner.depth++
		inner.inScript = false
		inner.unknownTail = c.unknownTail || xargs
		d.command(args[i:], inner)
		return true
	}
}

func baseName(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// dangerousEnv are variables that change what a command runs or loads.
func dangerousEnv(name string) bool {
	switch name {
	case "PATH", "BASH_ENV", "ENV", "IFS", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "CDPATH",
		"GIT_EXEC_PATH", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS", "GIT_EDITOR", "GIT_PAGER", "GIT_EXTERNAL_DIFF",
		"GIT_CONFIG", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_PARAMETERS", "GIT_DIR", "GIT_TEMPLATE_DIR",
		"PYTHONSTARTUP", "PYTHONPATH", "NODE_OPTIONS", "PERL5OPT", "PERL5LIB", "RUBYOPT", "GCONV_PATH", "EDITOR", "VISUAL", "PAGER":
		return true
	}
	return strings.HasPrefix(name, "LD_") || strings.HasPrefix(name, "BASH_FUNC_") || strings.HasPrefix(name, "GIT_CONFIG_")
}

func unwrapEnv(d *decider, id ident, args []arg, c cmdCtx) bool {
	i := 1
loop:
	for i < len(args) {
		a := args[i]
		if a.dyn {
			d.deny(RuleWrapper, args, "env: an argument only known at run time")
			return true
		}
		s := a.s
		switch {
		case s == "--":
			i++
		case strings.HasPrefix(s, "-S") || strings.HasPrefix(s, "--split-string"):
			d.deny(RuleWrapper, args, "env -S splits a string into a command; write the command out")
			return true
		case strings.HasPrefix(s, "-C") || strings.HasPrefix(s, "--chdir"):
			d.deny(RuleWrapper, args, "env -C changes the directory the command is resolved in; set the step's cwd instead")
			return true
		case s == "-u" || s == "--unset":
			i += 2
		case strings.HasPrefix(s, "-"):
			i++
		case strings.Contains(s, "="):
			name, _, _ := strings.Cut(s, "=")
			if dangerousEnv(name) {
				d.deny(RuleWrapper, args, "env: setting %s changes what runs; not allowed", name)
				return true
			}
			i++
		default:
			break loop
		}
	}
	if i >= len(args) {
		return false
	}
	inner := c
	inner.depth++
	inner.inScript = false
	d.command(args[i:], inner)
	return true
}

func unwrapBusybox(d *decider, id ident, args []arg, c cmdCtx) bool {
	if len(args) < 2 || strings.HasPrefix(args[1].s, "-") {
		return false
	}
	inner := c
	inner.depth++
	inner.inScript = false
	d.command(args[1:], inner)
	return true
}

// unwrapFind decides find itself and every command its -exec family runs
// (with arguments only known at run time).
func unwrapFind(d *decider, id ident, args []arg, c cmdCtx) bool {
	d.leaf(id, args, c)
	for i := 1; i < len(args); i++ {
		switch args[i].s {
		case "-exec", "-execdir", "-ok", "-okdir":
			j := i + 1
			for j < len(args) && args[j].s != ";" && args[j].s != "+" {
				j++
			}
			// The files appended are under find's start points, which
			// pathChecks decided as written.
			d.command(args[i+1:j], cmdCtx{depth: c.depth + 1, unknownTail: true, tailUnder: true})
			i = j
		case "-fprint", "-fprintf", "-fls", "-fprint0":
			// Files written: findPaths lists them.
		}
	}
	return true
}

// unwrapShell parses `sh -c SCRIPT` and decides every command in it. A
// shell running a file or its stdin is an ordinary command (it needs its
// own rule, since what it runs cannot be seen).
func unwrapShell(d *decider, id ident, args []arg, c cmdCtx) bool {
	i, hasC := 1, false
	for i < len(args) {
		a := args[i]
		if a.dyn {
			d.deny(RuleWrapper, args, "%s: an option only known at run time", args[0].s)
			return true
		}
		s := a.s
		if s == "--" || s == "-" {
			i++
			break
		}
		if strings.HasPrefix(s, "--") {
			switch s {
			case "--login", "--norc", "--noprofile", "--posix", "--noediting", "--verbose":
				i++
				continue
			}
			d.deny(RuleWrapper, args, "%s %s: option not supported (it may load code from elsewhere)", args[0].s, s)
			return true
		}
		if !strings.HasPrefix(s, "-") && !strings.HasPrefix(s, "+") {
			break
		}
		if strings.ContainsAny(s[1:], "si") {
			d.deny(RuleWrapper, args, "%s %s: reads commands from stdin or interactively; pass them with -c", args[0].s, s)
			return true
		}
		if strings.ContainsAny(s[1:], "c") {
			hasC = true
		}
		if strings.ContainsAny(s[1:], "oO") {
			i++
		}
		i++
	}
	if !hasC {
		if i >= len(args) {
			d.deny(RuleWrapper, args, "%s without a script reads commands from stdin; pass them with -c", args[0].s)
			return true
		}
		return false
	}
	if i >= len(args) {
		d.deny(RuleWrapper, args, "%s -c without a script", args[0].s)
		return true
	}
	if args[i].dyn {
		d.deny(RuleShell, args, "%s -c: the script is only known at run time", args[0].s)
		return true
	}
	d.script(args[i].s, args, c)
	return true
}

// inlineFlags are the options of interpreters that take code as an argument.
var inlineFlags = map[string][]string{
	"python": {"-c"}, "pypy": {"-c"},
	"node": {"-e", "--eval", "-p", "--print"}, "bun": {"-e", "--eval", "-p", "--print"},
	"deno": {"eval"}, "perl": {"-e", "-E"}, "ruby": {"-e"}, "irb": {}, "php": {"-r", "-B", "-R", "-E", "-F"},
	"lua": {"-e"}, "Rscript": {"-e"}, "pwsh": {"-c", "-command", "-encodedcommand", "-ec"},
	"osascript": {"-e"},
}

// versioned matches interpreters named with their version (python3.12,
// node20, perl5.38), which must not escape the inline-code check.
var versioned = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(python|pypy|node|nodejs|perl|ruby|php|lua|luajit)[0-9.]+$`)
})

func wrapperFor(name string) wrapper {
	if w := knownWrapper(name); w != nil {
		return w
	}
	if versioned().MatchString(name) {
		return checkInterpreter
	}
	return nil
}

func interpreterFamily(name string) string {
	for _, fam := range []string{"python", "pypy", "nodejs", "node", "luajit", "lua", "pwsh", "powershell", "perl", "ruby", "php"} {
		if strings.HasPrefix(name, fam) {
			switch fam {
			case "nodejs":
				return "node"
			case "luajit":
				return "lua"
			case "powershell":
				return "pwsh"
			}
			return fam
		}
	}
	return name
}

// checkInterpreter denies code passed inline (python -c, node -e, perl -e)
// or read from stdin: neither can be checked. Running a script file is an
// ordinary command.
func checkInterpreter(d *decider, id ident, args []arg, c cmdCtx) bool {
	fam := interpreterFamily(baseName(id.real))
	if _, ok := inlineFlags[fam]; !ok {
		fam = interpreterFamily(baseName(args[0].s))
	}
	flags := inlineFlags[fam]
	positional := false
	for _, a := range args[1:] {
		s := strings.ToLower(a.s)
		if a.dyn {
			d.deny(RuleWrapper, args, "%s: an argument only known at run time", args[0].s)
			return true
		}
		for _, f := range flags {
			short := len(f) == 2 && f[0] == '-'
			if s == f || strings.HasPrefix(s, f+"=") || (short && isShortCluster(a.s) && strings.ContainsRune(a.s[1:], rune(f[1]))) {
				d.deny(RuleWrapper, args, "%s %s: inline code cannot be checked; put it in a file in the worktree and run that", args[0].s, a.s)
				return true
			}
		}
		if !strings.HasPrefix(a.s, "-") {
			positional = true
			break
		}
		if a.s == "-" {
			break
		}
		if fam == "python" && (a.s == "-m" || strings.HasPrefix(a.s, "-m")) {
			positional = true
			break
		}
	}
	if !positional && fam != "irb" {
		d.deny(RuleWrapper, args, "%s without a script file reads code from stdin; put it in a file in the worktree", args[0].s)
		return true
	}
	return false
}

// checkAwk denies awk programs that run commands (system(), pipes).
func checkAwk(d *decider, id ident, args []arg, c cmdCtx) bool {
	for i := 1; i < len(args); i++ {
		s := args[i].s
		switch {
		case s == "-f" || strings.HasPrefix(s, "--file"):
			d.deny(RuleWrapper, args, "awk -f: the program file cannot be checked; pass the program inline")
			return true
		case s == "-F" || s == "-v":
			i++
		case strings.HasPrefix(s, "-"):
		default:
			if args[i].dyn {
				d.deny(RuleWrapper, args, "awk: the program is only known at run time")
				return true
			}
			if strings.Contains(s, "system") || strings.Contains(s, "|") || strings.Contains(s, "@load") {
				d.deny(RuleWrapper, args, "awk: the program runs commands (system() or a pipe); not allowed")
				return true
			}
			if name, bad := awkSecretEnv(s); bad && d.e.unconfined {
				d.deny(RuleSecretEnv, args, "awk reads ENVIRON[%s], a secret-looking or computed variable; not allowed in hook mode", name)
				return true
			}
			return false
		}
	}
	return false
}

// checkSed denies GNU sed's e command and s///e flag, which run the shell.
func checkSed(d *decider, id ident, args []arg, c cmdCtx) bool {
	var scripts []string
	explicit := false
	for i := 1; i < len(args); i++ {
		s := args[i].s
		switch {
		case s == "-f" || strings.HasPrefix(s, "--file"):
			d.deny(RuleWrapper, args, "sed -f: the script file cannot be checked; pass the script inline")
			return true
		case s == "-e" || s == "--expression":
			if i+1 < len(args) {
				scripts = append(scripts, args[i+1].s)
				if args[i+1].dyn {
					d.deny(RuleWrapper, args, "sed: the script is only known at run time")
					return true
				}
			}
			explicit = true
			i++
		case strings.HasPrefix(s, "--expression="):
			scripts = append(scripts, strings.TrimPrefix(s, "--expression="))
			explicit = true
		case strings.HasPrefix(s, "-"):
		default:
			if !explicit {
				if args[i].dyn {
					d.deny(RuleWrapper, args, "sed: the script is only known at run time")
					return true
				}
				scripts = append(scripts, s)
				explicit = true
			}
		}
	}
	for _, sc := range scripts {
		_, _, runs, ok := sedPaths(sc)
		if sedRunsCommands(sc) || runs {
			d.deny(RuleWrapper, args, "sed: the script runs shell commands (e); not allowed")
			return true
		}
		if !ok && d.e.unconfined {
			d.deny(RuleUnresolved, args, "sed: the script %q is not one the hook can follow (it cannot tell which files it writes); simplify it", sc)
			return true
		}
	}
	return false
}

// sedRunsCommands finds the e command or an s command with the e flag.
func sedRunsCommands(script string) bool {
	for i := 0; i < len(script); i++ {
		ch := script[i]
		switch {
		case ch == 's' && i+1 < len(script) && (i == 0 || strings.ContainsRune(" ;{}\n!0123456789$/", rune(script[i-1]))):
			delim := script[i+1]
			if delim == '\\' || delim == '\n' || delim == ' ' || delim == ';' {
				continue
			}
			j, seen := i+2, 0
			for j < len(script) && seen < 2 {
				if script[j] == '\\' {
					j += 2
					continue
				}
				if script[j] == delim {
					seen++
				}
				j++
			}
			k := j
			for k < len(script) && strings.ContainsRune("gpiImMe0123456789w", rune(script[k])) {
				if script[k] == 'e' {
					return true
				}
				if script[k] == 'w' {
					break
				}
				k++
			}
			i = j - 1
		case ch == 'e' && (i == 0 || strings.ContainsRune(" ;{}\n!0123456789$/", rune(script[i-1]))):
			if i+1 == len(script) || strings.ContainsRune(" ;}\n", rune(script[i+1])) {
				return true
			}
		}
	}
	return false
}

// gitExecKeys are configuration keys through which `git -c` runs commands.
var gitExecKeys = []string{"alias.", "core.hookspath", "core.fsmonitor", "core.sshcommand", "core.pager", "core.editor",
	"core.askpass", "core.gitproxy", "credential.", "sequence.editor", "diff.external", "uploadpack.", "protocol.",
	"filter.", "merge.", "diff.", "gpg.", "pager.", "include.", "includeif.", "remote.", "url.", "submodule."}

func checkGit(d *decider, id ident, args []arg, c cmdCtx) bool {
	for i := 1; i < len(args); i++ {
		s := args[i].s
		var kv string
		switch {
		case s == "-c" && i+1 < len(args):
			kv = args[i+1].s
			if args[i+1].dyn {
				d.deny(RuleWrapper, args, "git -c: configuration only known at run time")
				return true
			}
			i++
		case strings.HasPrefix(s, "-c") && len(s) > 2:
			kv = s[2:]
		case strings.HasPrefix(s, "--config-env"):
			d.deny(RuleWrapper, args, "git --config-env: configuration from the environment cannot be checked")
			return true
		case strings.HasPrefix(s, "--exec-path="):
			d.deny(RuleWrapper, args, "git --exec-path changes which programs git runs; not allowed")
			return true
		case s == "-C" || s == "--git-dir" || s == "--work-tree" || s == "--namespace":
			i++
			continue
		case strings.HasPrefix(s, "-"):
			continue
		default:
			return false
		}
		key := strings.ToLower(strings.SplitN(kv, "=", 2)[0])
		if slices.ContainsFunc(gitExecKeys, func(p string) bool { return key == p || strings.HasPrefix(key, p) }) {
			d.deny(RuleWrapper, args, "git -c %s can make git run commands; not allowed", key)
			return true
		}
	}
	return false
}

func checkTar(d *decider, id ident, args []arg, c cmdCtx) bool {
	for _, a := range args[1:] {
		s := a.s
		for _, bad := range []string{"--to-command", "--use-compress-program", "--checkpoint-action", "--info-script",
			"--new-volume-script", "--rsh-command", "--rmt-command", "-I", "-F"} {
			if s == bad || strings.HasPrefix(s, bad+"=") || (len(bad) == 2 && strings.HasPrefix(s, bad) && !strings.HasPrefix(s, "--")) {
				d.deny(RuleWrapper, args, "tar %s runs another program; not allowed", bad)
				return true
			}
		}
	}
	return false
}
