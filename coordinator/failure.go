package coordinator

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// failureSummary says, in one line, what in a failed command's output
// explains the failure: for the test runners people use (go test, pytest,
// jest/vitest, cargo test) the failing tests with the first message of the
// first one; otherwise the last line that says something (not a bare
// "FAIL" or "exit status 1"). It returns ": …", or " (no output)".
func failureSummary(out string) string {
	lines := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
	for _, f := range []func([]string) (names []string, msg string){goTestFailures, pytestFailures, unittestFailures, jestFailures, cargoFailures} {
		if names, msg := f(lines); len(names) > 0 {
			s := ": failing test " + names[0]
			if msg != "" {
				s += ": " + msg
			}
			if n := len(names) - 1; n > 0 {
				s += fmt.Sprintf(" (and %d more: %s)", n, strings.Join(capList(names[1:], 5), ", "))
			}
			return clip(s, 400)
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || bareStatus().MatchString(l) {
			continue
		}
		return ": " + clip(l, 400)
	}
	if strings.TrimSpace(out) == "" {
		return " (no output)"
	}
	// Only bare status lines: the last of them is all there is.
	for i := len(lines) - 1; ; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return ": " + clip(l, 400)
		}
	}
}

// bareStatus are closing lines that say only that something failed.
var bareStatus = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(FAIL|FAILED|ok|PASS|exit status \d+|FAIL\s+\S+\s+[\d.]+s|ERROR|error: test failed.*|make: \*\*\* .*)$`)
})

var (
	goFailRe     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*--- FAIL: (\S+)`) })
	pytestFailRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^FAILED (\S+::\S+?)(?: - (.*))?$`) })
	pytestERe    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^E\s+(.+)$`) })
	jestFailRe   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*● (.+)$`) })
	unittestRe   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?:FAIL|ERROR): (\S+)(?: \((.+)\))?$`) })
	cargoFailRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^test (\S+) \.\.\. FAILED$`) })
	cargoPanicRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`panicked at [^:]+:\d+:\d+:?$`) })
)

// goTestFailures: "--- FAIL: TestX (0.00s)" and the indented lines under
// it (t.Error messages "    x_test.go:12: want 1, got 2"). A parent test
// fails because a subtest did: only the leaves are named.
func goTestFailures(lines []string) ([]string, string) {
	var names []string
	msgs := map[string]string{}
	for i, l := range lines {
		m := goFailRe().FindStringSubmatch(l)
		if m == nil {
			continue
		}
		names = append(names, m[1])
		if i+1 < len(lines) {
			indent := len(l) - len(strings.TrimLeft(l, " \t"))
			next := lines[i+1]
			if strings.TrimSpace(next) != "" && len(next)-len(strings.TrimLeft(next, " \t")) > indent && !goFailRe().MatchString(next) {
				msgs[m[1]] = strings.TrimSpace(next)
			}
		}
	}
	var leaves []string
	for _, n := range names {
		if !slices.ContainsFunc(names, func(o string) bool { return strings.HasPrefix(o, n+"/") }) {
			leaves = append(leaves, n)
		}
	}
	if len(leaves) == 0 {
		return nil, ""
	}
	return leaves, msgs[leaves[0]]
}

// pytestFailures: the short summary's "FAILED path::test - Error: msg",
// else the first "E   assert …" line.
func pytestFailures(lines []string) ([]string, string) {
	var names []string
	msg := ""
	for _, l := range lines {
		if m := pytestFailRe().FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			names = append(names, m[1])
			if msg == "" {
				msg = m[2]
			}
		}
	}
	if len(names) > 0 && msg == "" {
		for _, l := range lines {
			if m := pytestERe().FindStringSubmatch(l); m != nil {
				msg = strings.TrimSpace(m[1])
				break
			}
		}
	}
	return names, msg
}

// unittestFailures: Python unittest's "FAIL: test_x (pkg.mod.Case.test_x)"
// blocks; the message is the traceback's last unindented line
// ("AssertionError: 'x' != 'X!'").
func unittestFailures(lines []string) ([]string, string) {
	var names []string
	msg := ""
	for i, l := range lines {
		m := unittestRe().FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		name := m[1]
		if m[2] != "" {
			name = m[2]
		}
		names = append(names, name)
		if msg != "" {
			continue
		}
		// The first unindented line after the traceback's frames.
		for j := i + 2; j < len(lines); j++ {
			t := lines[j]
			if strings.HasPrefix(t, "-----") || strings.HasPrefix(t, "=====") {
				break
			}
			if strings.TrimSpace(t) != "" && !strings.HasPrefix(t, " ") && !strings.HasPrefix(t, "Traceback") {
				msg = strings.TrimSpace(t)
				break
			}
		}
	}
	return names, msg
}

// jestFailures: "● Suite › test name" headers, and the first non-empty
// line after one (the assertion).
func jestFailures(lines []string) ([]string, string) {
	var names []string
	msg := ""
	for i, l := range lines {
		m := jestFailRe().FindStringSubmatch(l)
		if m == nil || strings.HasPrefix(m[1], "Console") {
			continue
		}
		names = append(names, strings.TrimSpace(m[1]))
		if msg == "" {
			for _, n := range lines[i+1:] {
				if t := strings.TrimSpace(n); t != "" {
					msg = t
					break
				}
			}
		}
	}
	return names, msg
}

// cargoFailures: "test path::name ... FAILED" and the panic message.
func cargoFailures(lines []string) ([]string, string) {
	var names []string
	msg := ""
	for i, l := range lines {
		if m := cargoFailRe().FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			names = append(names, m[1])
		}
		if msg == "" && cargoPanicRe().MatchString(l) && i+1 < len(lines) {
			msg = strings.TrimSpace(lines[i+1])
		}
	}
	return names, msg
}

func capList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string{}, s[:n]...), "…")
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
