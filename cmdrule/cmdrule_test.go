package cmdrule_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
)

func policy() config.Commands {
	return config.Commands{
		Allow: []string{"git", "go", "ls", "cat", "echo", "grep", "rm", "find", "awk", "sed", "tar", "python3", "make"},
		Rules: []config.CommandRule{
			{ID: "no-rm-rf", Prefix: []string{"rm", "-rf"}, Decision: "deny", Reason: "recursive forced delete",
				Match: [][]string{{"rm", "-rf", "/"}, {"rm", "-r", "-f", "x"}, {"rm", "-fr", "x"}}, NotMatch: [][]string{{"rm", "file"}, {"rm", "-r", "dir"}}},
			{ID: "push-needs-approval", Prefix: []string{"git", "push"}, Decision: "approve",
				Match: [][]string{{"git", "push", "origin", "main"}, {"git", "-C", ".", "push"}}, NotMatch: [][]string{{"git", "status"}}},
			{ID: "go-test", Prefix: []string{"go", "test"}, Decision: "allow", Match: [][]string{{"go", "test", "./..."}}, NotMatch: [][]string{{"go", "run", "."}}},
			{ID: "no-curl", Prefix: []string{"curl"}, Decision: "deny"},
		},
	}
}

// fixture: a worktree with planted symlinks that try to dodge the rules.
func fixture(t *testing.T) (*cmdrule.Engine, func(string) (string, error)) {
	t.Helper()
	for _, p := range []string{"rm", "git", "curl", "tac", "env", "sh", "bash"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true but %s is not installed (.ci/run installs it)", p)
			}
			t.Skipf("%s not installed", p)
		}
	}
	dir := t.TempDir()
	rm, _ := exec.LookPath("rm")
	curl, _ := exec.LookPath("curl")
	tac, _ := exec.LookPath("tac")
	for name, target := range map[string]string{"rmlink": rm, "ls": rm, "git": curl, "cat": tac, "python3.99": tac} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	e, err := cmdrule.New(policy())
	if err != nil {
		t.Fatal(err)
	}
	lookPath := func(name string) (string, error) {
		if strings.Contains(name, "/") {
			if !filepath.IsAbs(name) {
				name = filepath.Join(dir, name)
			}
			if _, err := os.Stat(name); err != nil {
				return "", err
			}
			return name, nil
		}
		return exec.LookPath(name)
	}
	return e, lookPath
}

func TestDecide(t *testing.T) {
	e, lookPath := fixture(t)
	cases := []struct {
		name string
		argv []string
		want string
	}{
		{"allowed program", []string{"git", "status"}, "allow"},
		{"approve rule", []string{"git", "push", "origin"}, "approve"},
		{"approve with global option before", []string{"git", "-C", ".", "push"}, "approve"},
		{"allow rule", []string{"go", "test", "./..."}, "allow"},
		{"deny rule", []string{"rm", "-rf", "/"}, "deny"},
		{"deny rule, split flags", []string{"rm", "-r", "-f", "x"}, "deny"},
		{"deny rule, reordered flags", []string{"rm", "-fr", "x"}, "deny"},
		{"allowed without the denied flags", []string{"rm", "file"}, "allow"},
		{"unknown command", []string{"tac", "file"}, "deny"},
		{"nonexistent command", []string{"/nonexistent/tool"}, "deny"},
		{"deny rule on a program not allowed", []string{"curl", "http://x"}, "deny"},

		// Dodges by path.
		{"full path", []string{"/usr/bin/rm", "-rf", "/"}, "deny"},
		{"symlink to rm", []string{"./rmlink", "-rf", "x"}, "deny"},
		{"rm disguised as ls", []string{"./ls", "-rf", "x"}, "deny"},
		{"curl disguised as allowed git", []string{"./git", "status"}, "deny"},
		{"tac disguised as allowed cat", []string{"./cat", "file"}, "deny"},

		// Dodges by wrapper.
		{"env", []string{"env", "rm", "-rf", "/"}, "deny"},
		{"env with assignment", []string{"env", "A=1", "rm", "-rf", "/"}, "deny"},
		{"env -i", []string{"/usr/bin/env", "-i", "rm", "-rf", "/"}, "deny"},
		{"env PATH", []string{"env", "PATH=.", "git", "status"}, "deny"},
		{"env -S", []string{"env", "-S", "rm -rf /"}, "deny"},
		{"env wraps allowed", []string{"env", "A=1", "git", "status"}, "allow"},
		{"nice", []string{"nice", "-n", "5", "rm", "-rf", "/"}, "deny"},
		{"nice allowed", []string{"nice", "git", "status"}, "allow"},
		{"timeout", []string{"timeout", "5", "rm", "-rf", "x"}, "deny"},
		{"timeout with options", []string{"timeout", "-s", "KILL", "5", "git", "push"}, "approve"},
		{"nohup", []string{"nohup", "rm", "-rf", "x"}, "deny"},
		{"stdbuf", []string{"stdbuf", "-oL", "rm", "-rf", "x"}, "deny"},
		{"xargs: arguments unknown", []string{"xargs", "rm"}, "deny"},
		{"xargs with options", []string{"xargs", "-0", "-n", "1", "git", "push"}, "approve"},
		{"nested wrappers", []string{"nice", "env", "timeout", "3", "nohup", "rm", "-rf", "/"}, "deny"},
		{"sudo", []string{"sudo", "ls"}, "deny"},
		{"doas by full path", []string{"/usr/local/bin/doas", "git", "status"}, "deny"},
		{"find -exec", []string{"find", ".", "-exec", "rm", "{}", "+"}, "deny"},
		{"find without exec", []string{"find", ".", "-name", "*.go"}, "allow"},

		// Dodges through the shell.
		{"sh -c chain", []string{"sh", "-c", "git status && rm -rf /"}, "deny"},
		{"bash -c pipeline of allowed", []string{"bash", "-c", "git status | grep x; ls -la"}, "allow"},
		{"bash -lc", []string{"bash", "-lc", "git push"}, "approve"},
		{"sh -ec", []string{"sh", "-ec", "rm -rf /"}, "deny"},
		{"command substitution", []string{"sh", "-c", "echo $(rm -rf /)"}, "deny"},
		{"backticks", []string{"sh", "-c", "echo `rm -rf /`"}, "deny"},
		{"process substitution", []string{"bash", "-c", "cat <(rm -rf /)"}, "deny"},
		{"subshell", []string{"sh", "-c", "(cd /; rm -rf x)"}, "deny"},
		{"if body", []string{"sh", "-c", "if true; then rm -rf /; fi"}, "deny"},
		{"loop body with glob", []string{"sh", "-c", "for f in *; do rm -rf $f; done"}, "deny"},
		{"function body", []string{"sh", "-c", "f() { rm -rf /; }; f"}, "deny"},
		{"function of allowed", []string{"sh", "-c", "f() { git status; }; f"}, "allow"},
		{"variable as command", []string{"sh", "-c", "x=rm; $x -rf /"}, "deny"},
		{"eval", []string{"sh", "-c", "eval 'rm -rf /'"}, "deny"},
		{"backslash in name", []string{"sh", "-c", `r\m -rf /`}, "deny"},
		{"quoted name", []string{"sh", "-c", `'rm' -r"f" /`}, "deny"},
		{"ANSI-C quoted name", []string{"bash", "-c", `$'\x72m' -rf /`}, "deny"},
		{"nested sh -c", []string{"sh", "-c", `sh -c 'bash -c "rm -rf /"'`}, "deny"},
		{"PATH assignment", []string{"sh", "-c", "PATH=. git status"}, "deny"},
		{"export PATH", []string{"sh", "-c", "export PATH=/tmp; git status"}, "deny"},
		{"arithmetic injection", []string{"bash", "-c", `a='x[$(rm -rf /)]'; echo $((a))`}, "deny"},
		{"source", []string{"sh", "-c", ". ./evil.sh"}, "deny"},
		{"trap", []string{"sh", "-c", "trap 'rm -rf /' EXIT; true"}, "deny"},
		{"exec builtin", []string{"sh", "-c", "exec rm -rf /"}, "deny"},
		{"command builtin", []string{"sh", "-c", "command rm -rf /"}, "deny"},
		{"glob in subcommand", []string{"sh", "-c", "git pu*"}, "approve"},
		{"relative program after cd", []string{"sh", "-c", "cd sub && ./ls"}, "deny"},
		{"redirect only", []string{"sh", "-c", "echo hi > out.txt"}, "allow"},
		{"shell reading stdin", []string{"sh"}, "deny"},
		{"shell -s", []string{"bash", "-s"}, "deny"},
		{"shell running a file", []string{"sh", "script.sh"}, "deny"},
		{"unparsable script", []string{"sh", "-c", "if then fi ((("}, "deny"},

		// Interpreters and tools that run code.
		{"python -c", []string{"python3", "-c", "import os"}, "deny"},
		{"python stdin", []string{"python3"}, "deny"},
		{"python script", []string{"python3", "script.py"}, "allow"},
		{"perl -ne", []string{"perl", "-ne", "print"}, "deny"},
		{"versioned python -c", []string{"./python3.99", "-c", "import os"}, "deny"},
		{"node -e", []string{"node", "-e", "1"}, "deny"},
		{"awk plain", []string{"awk", "{print $1}", "f"}, "allow"},
		{"awk system", []string{"awk", `BEGIN{system("rm -rf /")}`}, "deny"},
		{"sed plain", []string{"sed", "-i", "s/a/b/g", "f"}, "allow"},
		{"sed s///e", []string{"sed", "s/a/rm -rf x/e", "f"}, "deny"},
		{"sed e command", []string{"sed", "-e", "1e rm -rf /", "f"}, "deny"},
		{"git -c hooksPath", []string{"git", "-c", "core.hooksPath=/tmp", "status"}, "deny"},
		{"git -c alias", []string{"git", "-c", "alias.x=!rm -rf /", "x"}, "deny"},
		{"git -c harmless", []string{"git", "-c", "user.name=x", "status"}, "allow"},
		{"tar --to-command", []string{"tar", "-xf", "a.tar", "--to-command=sh"}, "deny"},
		{"tar -I", []string{"tar", "-I", "sh evil", "-xf", "a.tar"}, "deny"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := e.Decide(tc.argv, lookPath)
			t.Logf("%s by %s: %s", d.Effect, d.RuleID, d.Reason)
			if d.Effect != tc.want {
				t.Fatalf("Decide(%q).Effect = %s (rule %s: %s), want %s", tc.argv, d.Effect, d.RuleID, d.Reason, tc.want)
			}
			if strings.Contains(tc.name, "sudo") || strings.Contains(tc.name, "doas") || strings.Contains(tc.name, "versioned") {
				if d.RuleID != cmdrule.RuleWrapper {
					t.Fatalf("RuleID = %s, want %s", d.RuleID, cmdrule.RuleWrapper)
				}
			}
			if d.RuleID == "" || d.Reason == "" || len(d.Argv) == 0 || len(d.Commands) == 0 {
				t.Fatalf("incomplete decision record: %+v", d)
			}
		})
	}
}

func TestDecideRecordsEverySubcommand(t *testing.T) {
	e, lookPath := fixture(t)
	d := e.Decide([]string{"sh", "-c", "git status && git push; rm -rf /tmp/x"}, lookPath)
	if d.Effect != "deny" || d.RuleID != "no-rm-rf" {
		t.Fatalf("top = %s %s, want deny no-rm-rf", d.Effect, d.RuleID)
	}
	var got []string
	for _, c := range d.Commands {
		got = append(got, c.Effect+":"+c.RuleID+":"+filepath.Base(c.Argv[0]))
	}
	want := "allow:allow:git:git approve:push-needs-approval:git deny:no-rm-rf:rm"
	if strings.Join(got, " ") != want {
		t.Fatalf("Commands = %v, want %s", got, want)
	}
	real, _ := filepath.EvalSymlinks(mustLook(t, "rm"))
	if d.Argv[0] != real {
		t.Fatalf("Argv[0] = %s, want the real path %s", d.Argv[0], real)
	}
}

func mustLook(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %v", err)
		}
		t.Skip(err)
	}
	return p
}

func TestNewRejectsBadRules(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*config.Commands)
	}{
		{"bad decision", func(c *config.Commands) { c.Rules[0].Decision = "maybe" }},
		{"missing id", func(c *config.Commands) { c.Rules[0].ID = "" }},
		{"duplicate id", func(c *config.Commands) { c.Rules[1].ID = c.Rules[0].ID }},
		{"empty prefix", func(c *config.Commands) { c.Rules[0].Prefix = nil }},
		{"example does not match", func(c *config.Commands) { c.Rules[0].Match = append(c.Rules[0].Match, []string{"rm", "x"}) }},
		{"not_match example matches", func(c *config.Commands) {
			c.Rules[1].NotMatch = append(c.Rules[1].NotMatch, []string{"git", "push", "--force"})
		}},
		{"allow rule example with extra flags before", func(c *config.Commands) {
			c.Rules[2].Match = append(c.Rules[2].Match, []string{"go", "-C", ".", "test"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := policy()
			tc.mod(&c)
			_, err := cmdrule.New(c)
			if err == nil {
				t.Fatal("New accepted a bad policy")
			}
			if agentos.ErrorCode(err) != agentos.EINVALID {
				t.Fatalf("code = %s, want invalid", agentos.ErrorCode(err))
			}
		})
	}
	if _, err := cmdrule.New(policy()); err != nil {
		t.Fatalf("good policy refused: %v", err)
	}
}

func TestCheckExamples(t *testing.T) {
	e, err := cmdrule.New(policy())
	if err != nil {
		t.Fatal(err)
	}
	if fails := e.CheckExamples(); len(fails) != 0 {
		t.Fatalf("CheckExamples = %v", fails)
	}
}

func TestPathLookup(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "tool"), []byte("#!/bin/sh\n"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644))
	look := cmdrule.PathLookup("relative:"+dir, "/nowhere")
	if p, err := look("tool"); err != nil || p != filepath.Join(dir, "tool") {
		t.Fatalf("look(tool) = %q, %v", p, err)
	}
	if _, err := look("data"); err == nil {
		t.Fatal("found a non-executable file")
	}
	look = cmdrule.PathLookup("", dir)
	if p, err := look("./tool"); err != nil || p != filepath.Join(dir, "tool") {
		t.Fatalf("look(./tool) = %q, %v", p, err)
	}
	if _, err := look("tool"); err == nil {
		t.Fatal("a bare name was found without PATH")
	}
}

func TestEmptyAndDefault(t *testing.T) {
	e, err := cmdrule.New(config.Commands{})
	if err != nil {
		t.Fatal(err)
	}
	if d := e.Decide(nil, nil); d.Effect != "deny" {
		t.Fatalf("empty argv: %s", d.Effect)
	}
	if d := e.Decide([]string{"true"}, nil); d.Effect != "deny" || d.RuleID != cmdrule.RuleDefault {
		t.Fatalf("no policy: %s %s, want deny by default", d.Effect, d.RuleID)
	}
}

func TestScriptOf(t *testing.T) {
	for argv, want := range map[string]string{
		"sh s.sh": "s.sh", "bash -e -o pipefail ./b.sh x": "./b.sh", "/usr/bin/python3 -u gen.py": "gen.py",
		"python3.12 -W ignore t.py": "t.py", "python3 -m pkg.tool": "pkg/tool", "node -r x.js app.js": "app.js",
		"perl -w x.pl": "x.pl", ". ./env.sh": "./env.sh", "source env.sh": "env.sh", "bash -- s.sh": "s.sh",
		"cat s.sh": "", "sh": "", "env sh s.sh": "", "grep -q x f": "",
	} {
		if got := cmdrule.ScriptOf(strings.Fields(argv)); got != want {
			t.Errorf("ScriptOf(%q) = %q, want %q", argv, got, want)
		}
	}
}

// TestHumanOnlyVerbs: `agentos approve|reject|answer` is never allowed to a
// governed command, even with agentos on the allowlist, through wrappers,
// global flags or a shell; other agentos verbs follow the policy.
func TestHumanOnlyVerbs(t *testing.T) {
	dir := t.TempDir()
	ag := filepath.Join(dir, "agentos")
	if err := os.WriteFile(ag, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e, err := cmdrule.New(config.Commands{Allow: []string{"agentos", "env", "sh"}})
	if err != nil {
		t.Fatal(err)
	}
	lookPath := func(name string) (string, error) {
		if name == "agentos" || name == ag {
			return ag, nil
		}
		return exec.LookPath(name)
	}
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"agentos", "task", "list"}, "allow"},
		{[]string{"agentos", "review", "t1"}, "allow"},
		{[]string{"agentos", "approve", "t1", "--plan", "sha256:x"}, "deny"},
		{[]string{"agentos", "-C", ".", "reject", "t1", "--reason", "x"}, "deny"},
		{[]string{"agentos", "--as", "alice", "answer", "t1", "--set", "v=1"}, "deny"},
		{[]string{"env", "agentos", "approve", "t1"}, "deny"},
		{[]string{ag, "approve", "t1"}, "deny"},
		{[]string{"sh", "-c", "agentos approve t1 --plan x"}, "deny"},
		{[]string{"sh", "-c", "v=approve; agentos $v t1"}, "deny"},
		{[]string{"agentos", "token", "create", "--name", "me", "--role", "admin"}, "deny"},
		{[]string{"sh", "-c", "agentos -C . token list"}, "deny"},
		{[]string{"agentos", "mcp", "pin", "fs", "--hash", "sha256:00", "--", "srv"}, "deny"},
		{[]string{"sh", "-c", "agentos -C . mcp --actor x pin fs -- srv"}, "deny"},
		{[]string{"sh", "-c", "v=pin; agentos mcp $v fs"}, "deny"},
		{[]string{"agentos", "mcp", "proxy", "--name", "fs", "--", "srv"}, "allow"},
	} {
		d := e.Decide(tc.argv, lookPath)
		if d.Effect != tc.want {
			t.Errorf("%q: %s (%s: %s), want %s", tc.argv, d.Effect, d.RuleID, d.Reason, tc.want)
		}
		if tc.want == "deny" && d.RuleID != cmdrule.RuleHumanOnly && !strings.HasPrefix(d.RuleID, "shell") {
			t.Errorf("%q: denied by %s, want %s", tc.argv, d.RuleID, cmdrule.RuleHumanOnly)
		}
	}
}
