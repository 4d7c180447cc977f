package cmdrule

import (
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// PathUse is one file a command line names: an operand, an option's value
// (also attached: -oFILE, --output=FILE), a redirection, or a file named
// inside a program's own script (sed's w, awk's print > "f", find's
// -fprint). A caller that does not confine the command (a hook) checks
// each against the tree the agent may touch; in the sandbox they are the
// sandbox's business.
type PathUse struct {
	Path  string `json:"path"`
	Write bool   `json:"write,omitempty"`
	// Glob: a pattern (* ? [) with no other expansion, to be expanded by
	// the caller in the directory the command runs in.
	Glob bool `json:"glob,omitempty"`
	// By names what names the path: "sort -o", "redirection", "sed w".
	By string `json:"by"`
}

// role is what an argument is to its program.
type role byte

const (
	rNone  role = iota // not a path (a pattern, a number, a URL)
	rRead              // a file read
	rWrite             // a file written, created or deleted
	rExec              // a program or code run
)

// progSpec says which options of a program take a value and what the
// value is, and what its operands are. Options not listed take no value.
type progSpec struct {
	short map[byte]role
	long  map[string]role
	// operand gives the role of operand i of n.
	operand func(i, n int) role
	// other is the role of the value of a long option not listed
	// (--foo=VALUE) and of a value attached to an unknown short option.
	other role
}

func all(r role) func(int, int) role { return func(int, int) role { return r } }

// lastWrite: cp, install: the last operand is written, the rest read.
func lastWrite(i, n int) role {
	if i == n-1 && n > 1 {
		return rWrite
	}
	return rRead
}

// firstNone: chmod MODE FILE..., grep PATTERN FILE...
func firstNone(rest role) func(int, int) role {
	return func(i, n int) role {
		if i == 0 {
			return rNone
		}
		return rest
	}
}

// secondWrite: uniq IN OUT, xxd IN OUT, split IN PREFIX.
func secondWrite(i, n int) role {
	if i == 1 {
		return rWrite
	}
	return rRead
}

func shorts(r role, letters string) map[byte]role {
	m := map[byte]role{}
	for i := 0; i < len(letters); i++ {
		m[letters[i]] = r
	}
	return m
}

func merge[K comparable](ms ...map[K]role) map[K]role {
	out := map[K]role{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// reader is a program that reads its operands and writes only stdout.
var reader = progSpec{operand: all(rRead), other: rRead}

// specs: the programs whose options are known. A program not listed is
// read fail-closed: every operand may be written, and a value attached to
// a short option that looks like a path is one.
func specFor(prog string) (progSpec, bool) {
	switch prog {
	case "cat", "tac", "nl", "od", "hexdump", "strings", "file", "stat", "md5sum", "sha1sum", "sha256sum",
		"sha512sum", "b2sum", "cksum", "sum", "rev", "fold", "fmt", "expand", "unexpand", "column", "less", "more",
		"wc", "ls", "du", "tree", "realpath", "readlink", "diff", "cmp", "comm", "join", "paste", "jq", "yq", "cd", "pushd":
		s := reader
		switch prog {
		case "nl", "fold", "fmt", "column", "od", "hexdump", "strings":
			s.short = shorts(rNone, "wnvbsiltcfAjNx")
		case "jq":
			s.operand = firstNone(rRead)
			s.long = map[string]role{"--arg": rNone, "--argjson": rNone, "--from-file": rRead, "--indent": rNone}
		case "diff":
			s.short = shorts(rNone, "CUIFLSDX")
			s.long = map[string]role{"--label": rNone, "--from-file": rRead, "--to-file": rRead, "--exclude-from": rRead}
		case "ls", "du", "tree":
			s.short = shorts(rNone, "wITBdLP")
		}
		return s, true
	case "head", "tail":
		return progSpec{short: shorts(rNone, "ncs"), long: map[string]role{"--lines": rNone, "--bytes": rNone}, operand: all(rRead), other: rRead}, true
	case "cut", "tr", "basename", "dirname", "echo", "printf", "test", "[", "true", "false", "yes", "seq", "sleep",
		"expr", "id", "whoami", "uname", "hostname", "which", "date", "printenv", "nproc", "arch", "tty", "clear":
		s := progSpec{operand: all(rNone), other: rNone, short: shorts(rNone, "dfcbvs")}
		if prog == "cut" {
			s.operand = all(rRead)
		}
		if prog == "date" {
			s.short = map[byte]role{'d': rNone, 'f': rRead, 'r': rRead}
		}
		return s, true
	case "grep", "egrep", "fgrep", "rg", "ag":
		return progSpec{
			short: merge(shorts(rNone, "emABCDdgtTM"), shorts(rRead, "f")),
			long: map[string]role{"--regexp": rNone, "--file": rRead, "--include": rNone, "--exclude": rNone, "--exclude-dir": rNone, "--glob": rNone, "--type": rNone, "--max-count": rNone, "--context": rNone, "--color": rNone, "--colour": rNone, "--exclude-from": rRead, "--ignore-file": rRead,
				"--pre": rExec, "--hostname-bin": rExec, "--pre-glob": rNone},
			operand: firstNone(rRead), other: rRead,
		}, true
	case "sort":
		return progSpec{
			short:   merge(shorts(rNone, "ktS"), shorts(rWrite, "oT")),
			long:    map[string]role{"--output": rWrite, "--temporary-directory": rWrite, "--key": rNone, "--field-separator": rNone, "--buffer-size": rNone, "--files0-from": rRead, "--parallel": rNone, "--batch-size": rNone, "--compress-program": rExec, "--random-source": rRead, "--sort": rNone},
			operand: all(rRead), other: rRead,
		}, true
	case "uniq":
		return progSpec{short: shorts(rNone, "fsw"), operand: secondWrite, other: rRead}, true
	case "xxd":
		return progSpec{short: shorts(rNone, "sclgon"), operand: secondWrite, other: rRead}, true
	case "split", "csplit":
		return progSpec{short: shorts(rNone, "blnaCtfk"), long: map[string]role{"--filter": rExec}, operand: secondWrite, other: rNone}, true
	case "base64", "base32", "basenc":
		return progSpec{short: merge(shorts(rNone, "wb"), shorts(rWrite, "o"), shorts(rRead, "i")),
			long: map[string]role{"--output": rWrite, "--input": rRead, "--wrap": rNone}, operand: all(rRead), other: rRead}, true
	case "tee", "rm", "rmdir", "unlink", "shred", "mkdir", "mkfifo", "mknod", "touch", "truncate", "mv", "ln":
		return progSpec{short: merge(shorts(rNone, "msdtnS"), shorts(rRead, "r"), shorts(rWrite, "T")),
			long:    map[string]role{"--mode": rNone, "--size": rNone, "--reference": rRead, "--target-directory": rWrite, "--suffix": rNone, "--date": rNone},
			operand: all(rWrite), other: rWrite}, true
	case "cp", "install":
		return progSpec{short: merge(shorts(rNone, "mogS"), shorts(rWrite, "t")),
			long:    map[string]role{"--mode": rNone, "--owner": rNone, "--group": rNone, "--suffix": rNone, "--target-directory": rWrite},
			operand: lastWrite, other: rWrite}, true
	case "chmod", "chown", "chgrp":
		return progSpec{long: map[string]role{"--reference": rRead}, operand: firstNone(rWrite), other: rWrite}, true
	case "gzip", "gunzip", "bzip2", "bunzip2", "xz", "unxz", "zstd", "unzstd", "lz4", "compress", "uncompress":
		return progSpec{short: merge(shorts(rNone, "SbTL"), shorts(rWrite, "o")), long: map[string]role{"--suffix": rNone, "--output": rWrite}, operand: all(rWrite), other: rWrite}, true
	case "zcat", "bzcat", "xzcat", "zstdcat":
		return reader, true
	case "patch":
		return progSpec{short: merge(shorts(rNone, "pFzVDY"), shorts(rWrite, "orB"), shorts(rRead, "id")),
			long: map[string]role{"--output": rWrite, "--input": rRead, "--directory": rRead, "--reject-file": rWrite, "--strip": rNone}, operand: all(rWrite), other: rWrite}, true
	case "curl":
		return progSpec{short: merge(shorts(rNone, "HdXuAeFxmwYyzrEUQ"), shorts(rWrite, "ocD"), shorts(rRead, "TKb")),
			long:    map[string]role{"--output": rWrite, "--upload-file": rRead, "--config": rRead, "--cookie-jar": rWrite, "--dump-header": rWrite, "--trace": rWrite, "--trace-ascii": rWrite, "--stderr": rWrite, "--cacert": rRead, "--key": rRead, "--cert": rRead, "--netrc-file": rRead, "--output-dir": rWrite},
			operand: all(rNone), other: rNone}, true
	case "wget":
		return progSpec{short: merge(shorts(rNone, "tTUe"), shorts(rWrite, "OoaP"), shorts(rRead, "i")),
			long:    map[string]role{"--output-document": rWrite, "--output-file": rWrite, "--append-output": rWrite, "--directory-prefix": rWrite, "--input-file": rRead, "--load-cookies": rRead, "--save-cookies": rWrite},
			operand: all(rNone), other: rNone}, true
	case "make", "gmake":
		return progSpec{short: merge(shorts(rNone, "jlWo"), shorts(rRead, "CfI")), long: map[string]role{"--directory": rRead, "--file": rRead, "--makefile": rRead, "--include-dir": rRead, "--jobs": rNone},
			operand: all(rNone), other: rNone}, true
	case "git":
		return progSpec{short: merge(shorts(rNone, "mcbnSFUAB"), shorts(rRead, "C"), shorts(rWrite, "o")),
			long: map[string]role{"--git-dir": rRead, "--work-tree": rRead, "--output": rWrite, "--output-directory": rWrite, "--file": rRead, "--message": rNone,
				"--format": rNone, "--pretty": rNone, "--author": rNone, "--since": rNone, "--until": rNone, "--grep": rNone, "--namespace": rNone},
			operand: all(rRead), other: rNone}, true
	}
	return progSpec{operand: all(rWrite), other: rWrite}, false
}

// operandPaths lists the paths a command's arguments name, by the
// program's spec. exec reports an option that runs a program.
func operandPaths(prog string, args []arg) (uses []argUse) {
	spec, known := specFor(prog)
	by := func(what string) string { return prog + " " + what }
	addVal := func(a arg, val string, r role, what string) {
		if r == rNone {
			return
		}
		uses = append(uses, argUse{arg: arg{s: val, dyn: a.dyn, glob: a.glob}, role: r, by: by(what)})
	}
	var operands []arg
	endOpts := false
	for i := 1; i < len(args); i++ {
		a := args[i]
		s := a.s
		switch {
		case endOpts || s == "-" || !strings.HasPrefix(s, "-"):
			operands = append(operands, a)
		case s == "--":
			endOpts = true
		case strings.HasPrefix(s, "--"):
			name, val, hasVal := strings.Cut(s, "=")
			r, ok := longRole(spec.long, name)
			switch {
			case hasVal && ok:
				addVal(a, val, r, name)
			case hasVal:
				addVal(a, val, spec.other, name)
			case ok && i+1 < len(args):
				i++
				addVal(args[i], args[i].s, r, name)
			}
		case !known:
			// An unknown program's -oFILE or -o/x: the value may be a path.
			if len(s) > 2 && looksPathy(s[2:]) {
				addVal(a, s[2:], rWrite, "-"+s[1:2])
			}
		default:
			// A short-option cluster: -abc, or -oFILE / -o FILE when o
			// takes a value.
			for j := 1; j < len(s); j++ {
				r, ok := spec.short[s[j]]
				if !ok {
					if !isAlnum(s[j]) {
						// -x/y on an option not listed: what follows is a value.
						addVal(a, s[j:], spec.other, "-"+s[j-1:j])
						break
					}
					continue
				}
				if j+1 < len(s) {
					addVal(a, s[j+1:], r, "-"+s[j:j+1])
				} else if i+1 < len(args) {
					i++
					addVal(args[i], args[i].s, r, "-"+s[j:j+1])
				}
				break
			}
		}
	}
	for i, a := range operands {
		r := spec.operand(i, len(operands))
		if r == rNone {
			continue
		}
		uses = append(uses, argUse{arg: a, role: r, by: prog + " operand"})
	}
	return uses
}

// argUse is an argument as a path, before it becomes a PathUse.
type argUse struct {
	arg
	role role
	by   string
}

// longRole finds a long option by its name or by an unambiguous
// abbreviation (GNU getopt takes --out for --output).
func longRole(m map[string]role, name string) (role, bool) {
	if r, ok := m[name]; ok {
		return r, true
	}
	if len(name) < 4 {
		return 0, false
	}
	var found []role
	for k, r := range m {
		if strings.HasPrefix(k, name) {
			found = append(found, r)
		}
	}
	if len(found) == 0 {
		return 0, false
	}
	best := found[0]
	for _, r := range found[1:] {
		if r > best {
			best = r // ambiguous: take the most dangerous reading
		}
	}
	return best, true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func looksPathy(s string) bool {
	return strings.ContainsAny(s, "/~") || strings.HasPrefix(s, ".") || strings.Contains(s, ".")
}

// secretName: an environment variable whose name says it holds a secret.
var secretName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(secret|token|passw|passphrase|credential|api_?key|access_?key|private|auth|cookie|session|signing|_pat$|^pat_|_key$|^key$|_pass$|dsn$|database_url|conn(ection)?_?str)`)
})

// SecretName reports whether an environment variable's name looks like it
// holds a secret (API_TOKEN, AWS_SECRET_ACCESS_KEY, DB_PASSWORD).
func SecretName(name string) bool { return secretName().MatchString(name) }

// sedPaths parses a sed script for the files it names: w, W (write), r, R
// (read), s///w. The file name runs to the end of the line, `;` included.
// ok is false for a script it cannot follow; runs is true for e and s///e.
func sedPaths(script string) (reads, writes []string, runs, ok bool) {
	i, n := 0, len(script)
	toEOL := func() string {
		j := strings.IndexByte(script[i:], '\n')
		var s string
		if j < 0 {
			s, i = script[i:], n
		} else {
			s, i = script[i:i+j], i+j
		}
		return strings.TrimLeft(s, " \t")
	}
	skipRE := func(delim byte) bool {
		for i < n && script[i] != delim {
			if script[i] == '\\' {
				i++
			}
			if i < n && script[i] == '\n' {
				return false
			}
			i++
		}
		if i >= n {
			return false
		}
		i++
		return true
	}
	addr := func() bool {
		switch {
		case i < n && (script[i] >= '0' && script[i] <= '9'):
			for i < n && (script[i] >= '0' && script[i] <= '9' || script[i] == '~') {
				i++
			}
		case i < n && script[i] == '$':
			i++
		case i < n && script[i] == '/':
			i++
			if !skipRE('/') {
				return false
			}
			for i < n && (script[i] == 'I' || script[i] == 'M') {
				i++
			}
		case i+1 < n && script[i] == '\\':
			d := script[i+1]
			i += 2
			if !skipRE(d) {
				return false
			}
		}
		return true
	}
	for i < n {
		c := script[i]
		if c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '{' || c == '}' {
			i++
			continue
		}
		if !addr() {
			return nil, nil, false, false
		}
		for i < n && script[i] == ' ' {
			i++
		}
		if i < n && script[i] == ',' {
			i++
			for i < n && script[i] == ' ' {
				i++
			}
			if i < n && (script[i] == '+' || script[i] == '~') {
				i++
				for i < n && script[i] >= '0' && script[i] <= '9' {
					i++
				}
			} else if !addr() {
				return nil, nil, false, false
			}
		}
		for i < n && (script[i] == ' ' || script[i] == '!') {
			i++
		}
		if i >= n {
			break
		}
		c = script[i]
		i++
		switch c {
		case '{', '}', '=', 'd', 'D', 'g', 'G', 'h', 'H', 'n', 'N', 'p', 'P', 'x', 'z', 'F', ';':
		case '#', 'a', 'i', 'c':
			for i < n && script[i] != '\n' {
				if script[i] == '\\' {
					i++
				}
				i++
			}
		case ':', 'b', 't', 'T', 'v':
			for i < n && script[i] != '\n' && script[i] != ';' {
				i++
			}
		case 'q', 'Q', 'l', 'L':
			for i < n && (script[i] == ' ' || script[i] >= '0' && script[i] <= '9') {
				i++
			}
		case 'r', 'R':
			reads = append(reads, toEOL())
		case 'w', 'W':
			writes = append(writes, toEOL())
		case 'e':
			runs = true
			toEOL()
		case 'y':
			if i >= n {
				return nil, nil, false, false
			}
			d := script[i]
			i++
			// y/SOURCE/DEST/: skip both parts (each call advances past one).
			if !skipRE(d) {
				return nil, nil, false, false
			}
			if !skipRE(d) {
				return nil, nil, false, false
			}
		case 's':
			if i >= n {
				return nil, nil, false, false
			}
			d := script[i]
			i++
			if d == '\n' || d == '\\' || !skipRE(d) || !skipRE(d) {
				return nil, nil, false, false
			}
			for i < n && strings.IndexByte("gpiImMe0123456789w", script[i]) >= 0 {
				f := script[i]
				i++
				if f == 'e' {
					runs = true
				}
				if f == 'w' {
					writes = append(writes, toEOL())
					break
				}
			}
		default:
			return nil, nil, false, false
		}
	}
	return reads, writes, runs, true
}

// awkRedirect finds output redirections (> and >> inside print and
// printf statements, where an unparenthesised > is a redirection) and
// getline < reads in an awk program.
var (
	awkPrint   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\bprintf?\b`) })
	awkGetline = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\bgetline\b[^<;}\n]*<\s*`) })
	awkEnviron = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`ENVIRON\s*\[\s*("([^"]*)"|[^\]]*)\s*\]`) })
)

// awkPaths returns the files an awk program writes and reads; dyn is true
// when a redirection's target is not a string literal.
func awkPaths(prog string) (reads, writes []string, dyn bool) {
	for _, loc := range awkPrint().FindAllStringIndex(prog, -1) {
		depth, inStr := 0, false
		for j := loc[1]; j < len(prog); j++ {
			c := prog[j]
			if inStr {
				if c == '\\' {
					j++
				} else if c == '"' {
					inStr = false
				}
				continue
			}
			switch c {
			case '"':
				inStr = true
			case '(':
				depth++
			case ')':
				depth--
			case ';', '}', '\n':
				j = len(prog)
			case '>':
				if depth > 0 {
					continue
				}
				k := j + 1
				if k < len(prog) && prog[k] == '>' {
					k++
				}
				rest := strings.TrimLeft(prog[k:], " \t")
				if lit, ok := awkString(rest); ok {
					writes = append(writes, lit)
				} else {
					dyn = true
				}
				j = len(prog)
			}
		}
	}
	for _, loc := range awkGetline().FindAllStringIndex(prog, -1) {
		if lit, ok := awkString(prog[loc[1]:]); ok {
			reads = append(reads, lit)
		} else {
			dyn = true
		}
	}
	return reads, writes, dyn
}

// awkString reads a leading "string literal" (no concatenation after it).
func awkString(s string) (string, bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", false
	}
	var b strings.Builder
	for j := 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if j+1 < len(s) {
				j++
				b.WriteByte(s[j])
			}
		case '"':
			rest := strings.TrimLeft(s[j+1:], " \t")
			if rest != "" && !strings.ContainsAny(rest[:1], ";}\n)") {
				return "", false // "a" x: concatenated at run time
			}
			return b.String(), true
		default:
			b.WriteByte(s[j])
		}
	}
	return "", false
}

// awkSecretEnv reports an ENVIRON lookup of a secret-looking or computed
// name.
func awkSecretEnv(prog string) (string, bool) {
	for _, m := range awkEnviron().FindAllStringSubmatch(prog, -1) {
		if m[2] == "" && !strings.HasPrefix(m[1], `"`) {
			return m[1], true
		}
		if SecretName(m[2]) {
			return m[2], true
		}
	}
	if strings.Contains(prog, "ENVIRON") && !awkEnviron().MatchString(prog) {
		return "ENVIRON", true // iterated: for (k in ENVIRON)
	}
	if regexp.MustCompile(`\bin\s+ENVIRON\b`).MatchString(prog) {
		return "ENVIRON", true
	}
	return "", false
}

// findPaths: find's start points (written when -delete or an -exec family
// action acts on what it finds), -fprint* / -fls files, -newer files.
func findPaths(args []arg) (uses []argUse, acts bool) {
	var starts []arg
	i := 1
	for ; i < len(args); i++ {
		s := args[i].s
		if !args[i].dyn && (strings.HasPrefix(s, "-") || s == "(" || s == "!" || s == ")") {
			if s == "-H" || s == "-L" || s == "-P" || strings.HasPrefix(s, "-O") || s == "-D" {
				if s == "-D" {
					i++
				}
				continue
			}
			break
		}
		starts = append(starts, args[i])
	}
	for ; i < len(args); i++ {
		s := args[i].s
		switch s {
		case "-delete":
			acts = true
		case "-exec", "-execdir", "-ok", "-okdir":
			acts = true
			for i < len(args) && args[i].s != ";" && args[i].s != "+" {
				i++
			}
		case "-fprint", "-fprint0", "-fls", "-fprintf":
			if i+1 < len(args) {
				uses = append(uses, argUse{arg: args[i+1], role: rWrite, by: "find " + s})
				i++
				if s == "-fprintf" {
					i++
				}
			}
		case "-newer", "-anewer", "-cnewer", "-samefile", "-files0-from":
			if i+1 < len(args) {
				uses = append(uses, argUse{arg: args[i+1], role: rRead, by: "find " + s})
				i++
			}
		}
	}
	if len(starts) == 0 {
		starts = []arg{{s: "."}}
	}
	r := rRead
	if acts {
		r = rWrite
	}
	for _, a := range starts {
		uses = append(uses, argUse{arg: a, role: r, by: "find start point"})
	}
	return uses, acts
}

// dddPaths: dd's if= and of= operands.
func ddPaths(args []arg) (uses []argUse) {
	for _, a := range args[1:] {
		k, v, ok := strings.Cut(a.s, "=")
		if !ok {
			continue
		}
		switch k {
		case "if":
			uses = append(uses, argUse{arg: arg{s: v, dyn: a.dyn, glob: a.glob}, role: rRead, by: "dd if="})
		case "of":
			uses = append(uses, argUse{arg: arg{s: v, dyn: a.dyn, glob: a.glob}, role: rWrite, by: "dd of="})
		}
	}
	return uses
}

// tarPaths: -f archive (written by c, r, u, A), -C directory (written on
// extract, as is the directory tar runs in), -T / -X lists, operands.
func tarPaths(args []arg) (uses []argUse) {
	mode := byte(0)
	var archive, dir *arg
	for i := 1; i < len(args); i++ {
		s := args[i].s
		take := func() *arg {
			if i+1 < len(args) {
				i++
				return &args[i]
			}
			return nil
		}
		switch {
		case strings.HasPrefix(s, "--file="):
			archive = &arg{s: strings.TrimPrefix(s, "--file="), dyn: args[i].dyn}
		case s == "--file":
			archive = take()
		case strings.HasPrefix(s, "--directory="):
			dir = &arg{s: strings.TrimPrefix(s, "--directory="), dyn: args[i].dyn}
		case s == "--directory":
			dir = take()
		case s == "--extract" || s == "--get":
			mode = 'x'
		case s == "--create" || s == "--append" || s == "--update":
			mode = 'c'
		case strings.HasPrefix(s, "--"):
		case strings.HasPrefix(s, "-") || i == 1:
			for j := 1 - boolInt(i == 1 && !strings.HasPrefix(s, "-")); j < len(s); j++ {
				switch s[j] {
				case 'x':
					mode = 'x'
				case 'c', 'r', 'u', 'A':
					mode = 'c'
				case 'f', 'C', 'T', 'X':
					var v *arg
					if j+1 < len(s) {
						v = &arg{s: s[j+1:], dyn: args[i].dyn}
					} else {
						v = take()
					}
					switch s[j] {
					case 'f':
						archive = v
					case 'C':
						dir = v
					default:
						if v != nil {
							uses = append(uses, argUse{arg: *v, role: rRead, by: "tar -" + string(s[j])})
						}
					}
					j = len(s)
				}
			}
		default:
			uses = append(uses, argUse{arg: args[i], role: rRead, by: "tar operand"})
		}
	}
	if archive != nil && archive.s != "-" {
		r := rRead
		if mode == 'c' {
			r = rWrite
		}
		uses = append(uses, argUse{arg: *archive, role: r, by: "tar -f"})
	}
	if mode == 'x' {
		d := arg{s: "."}
		if dir != nil {
			d = *dir
		}
		uses = append(uses, argUse{arg: d, role: rWrite, by: "tar -x into"})
	} else if dir != nil {
		uses = append(uses, argUse{arg: *dir, role: rRead, by: "tar -C"})
	}
	return uses
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pathsOf lists the paths one command (after unwrapping) names.
func pathsOf(prog string, args []arg) []argUse {
	switch prog {
	case "find":
		uses, _ := findPaths(args)
		return uses
	case "dd":
		return ddPaths(args)
	case "tar", "bsdtar", "gtar":
		return tarPaths(args)
	case "sed", "gsed":
		return sedArgPaths(args)
	case "awk", "gawk", "mawk", "nawk":
		return awkArgPaths(args)
	}
	return operandPaths(path.Base(prog), args)
}

// sedArgPaths: -i makes the operands writes; the script's own files.
func sedArgPaths(args []arg) (uses []argUse) {
	inPlace, explicit := false, false
	var scripts []arg
	var files []arg
	for i := 1; i < len(args); i++ {
		s := args[i].s
		switch {
		case s == "-e" || s == "--expression":
			if i+1 < len(args) {
				scripts = append(scripts, args[i+1])
				i++
			}
			explicit = true
		case strings.HasPrefix(s, "--expression="):
			scripts = append(scripts, arg{s: strings.TrimPrefix(s, "--expression="), dyn: args[i].dyn})
			explicit = true
		case s == "-i" || strings.HasPrefix(s, "--in-place") || (strings.HasPrefix(s, "-") && !strings.HasPrefix(s, "--") && strings.Contains(s, "i")):
			inPlace = true
			if strings.HasPrefix(s, "-") && !strings.HasPrefix(s, "--") && strings.Contains(s, "e") && strings.HasSuffix(s, "e") {
				if i+1 < len(args) {
					scripts = append(scripts, args[i+1])
					i++
				}
				explicit = true
			}
		case s == "-f" || s == "--file" || s == "-l" || s == "--line-length":
			i++
		case strings.HasPrefix(s, "-") && s != "-":
			if !strings.HasPrefix(s, "--") && strings.HasSuffix(s, "e") {
				if i+1 < len(args) {
					scripts = append(scripts, args[i+1])
					i++
				}
				explicit = true
			}
		default:
			if !explicit {
				scripts = append(scripts, args[i])
				explicit = true
			} else {
				files = append(files, args[i])
			}
		}
	}
	r := rRead
	if inPlace {
		r = rWrite
	}
	for _, f := range files {
		uses = append(uses, argUse{arg: f, role: r, by: "sed operand"})
	}
	for _, sc := range scripts {
		if sc.dyn {
			continue // checkSed denies a script only known at run time
		}
		reads, writes, _, _ := sedPaths(sc.s)
		for _, p := range reads {
			uses = append(uses, argUse{arg: arg{s: p}, role: rRead, by: "sed r"})
		}
		for _, p := range writes {
			uses = append(uses, argUse{arg: arg{s: p, dyn: strings.HasPrefix(p, "~")}, role: rWrite, by: "sed w"})
		}
	}
	return uses
}

// awkArgPaths: the program's redirections; operands are read (var=value
// operands are assignments).
func awkArgPaths(args []arg) (uses []argUse) {
	prog := -1
	for i := 1; i < len(args); i++ {
		s := args[i].s
		switch {
		case s == "-F" || s == "-v" || s == "-f":
			i++
		case strings.HasPrefix(s, "-") && s != "-" && prog < 0:
		case prog < 0:
			prog = i
			reads, writes, dyn := awkPaths(s)
			for _, p := range reads {
				uses = append(uses, argUse{arg: arg{s: p}, role: rRead, by: "awk getline <"})
			}
			for _, p := range writes {
				uses = append(uses, argUse{arg: arg{s: p, dyn: strings.HasPrefix(p, "~")}, role: rWrite, by: "awk print >"})
			}
			if dyn {
				uses = append(uses, argUse{arg: arg{s: "(computed in the awk program)", dyn: true}, role: rWrite, by: "awk print >"})
			}
		default:
			if k, _, ok := strings.Cut(s, "="); ok && k != "" && !strings.ContainsAny(k, "/.") {
				continue
			}
			uses = append(uses, argUse{arg: args[i], role: rRead, by: "awk operand"})
		}
	}
	return uses
}

// detachers start processes that outlive the command that starts them;
// denied only where nothing confines what runs (Unconfined).
var detachers = map[string]string{
	"nohup":             "keeps a process running after the session",
	"setsid":            "starts a process in a new session that outlives the call",
	"disown":            "detaches a background job",
	"daemonize":         "starts a daemon",
	"start-stop-daemon": "starts a daemon",
	"at":                "schedules a command for later",
	"batch":             "schedules a command for later",
	"crontab":           "schedules commands",
	"tmux":              "starts a terminal server that outlives the call",
	"screen":            "starts a terminal server that outlives the call",
	"dtach":             "detaches a process",
}

// specName picks the name a program's paths are read by: the real
// program's when it is known, else the name it was called by (busybox
// applets, alternatives).
func specName(id ident, args []arg) string {
	real := path.Base(id.real)
	if _, ok := specFor(real); ok || isSpecial(real) {
		return real
	}
	return path.Base(args[0].s)
}

func isSpecial(p string) bool {
	switch p {
	case "find", "dd", "tar", "bsdtar", "gtar", "sed", "gsed", "awk", "gawk", "mawk", "nawk":
		return true
	}
	return false
}

// pathChecks records the paths a command names and, for an unconfined
// engine, denies what cannot be resolved statically; true when it added
// the command's decision.
func (d *decider) pathChecks(id ident, args []arg, c cmdCtx) bool {
	prog := specName(id, args)
	uses := pathsOf(prog, args)
	if !d.e.unconfined {
		for _, u := range uses {
			if !u.dyn {
				d.paths = append(d.paths, PathUse{Path: u.s, Write: u.role == rWrite, By: u.by})
			}
		}
		return false
	}
	if prog == "printenv" || prog == "env" {
		if len(args) == 1 {
			d.deny(RuleSecretEnv, args, "%s lists every environment variable, secrets included; not allowed in hook mode", prog)
			return true
		}
		for _, a := range args[1:] {
			if a.dyn || SecretName(a.s) {
				d.deny(RuleSecretEnv, args, "%s %s reads a secret-looking environment variable; not allowed", prog, a.s)
				return true
			}
		}
	}
	if c.unknownTail && !c.tailUnder {
		if spec, known := specFor(prog); !known || isSpecial(prog) || spec.operand(0, 2) != rNone || spec.operand(1, 2) != rNone {
			d.deny(RuleUnresolved, args, "%s gets arguments only known at run time (xargs); the files it touches cannot be checked before it runs", prog)
			return true
		}
	}
	for _, u := range uses {
		if u.role == rExec {
			d.deny(RuleWrapper, args, "%s runs another program; not allowed", u.by)
			return true
		}
		switch {
		case u.glob:
			if filepath.IsAbs(u.s) || strings.HasPrefix(u.s, "~") || slices.Contains(strings.Split(u.s, "/"), "..") || strings.HasPrefix(u.s, ".") {
				d.deny(RuleUnresolved, args, "%s: the pattern %s may match files outside the working directory or hidden ones; name the files", u.by, u.s)
				return true
			}
			d.paths = append(d.paths, PathUse{Path: u.s, Write: u.role == rWrite, Glob: true, By: u.by})
			continue
		case u.dyn:
			d.deny(RuleUnresolved, args, "%s: %s is only known at run time (a variable, substitution, loop variable or ~), so the hook cannot check the file; write the path out", u.by, u.s)
			return true
		}
		d.paths = append(d.paths, PathUse{Path: u.s, Write: u.role == rWrite, By: u.by})
	}
	return false
}
