package cmdrule_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
)

// hookPolicy is a policy in the style of a peer's command-safety rules
// (Codex's "safe commands" translated into agentos.yaml): read-only tools
// allowed, git read verbs allowed by rules, git branch listing only,
// base64 without an output file, sed -n for printing.
func hookPolicy() config.Commands {
	zero := 0
	return config.Commands{
		Allow: []string{"cat", "ls", "grep", "head", "tail", "wc", "sort", "uniq", "echo", "printf", "find", "awk",
			"tee", "rm", "cp", "mv", "mkdir", "touch", "go", "make", "printenv", "env", "xargs", "timeout", "nice",
			"tar", "dd", "jq", "diff", "chmod", "true", "stat", "nohup", "setsid", "cut", "tr", "seq", "sleep", "date", "rg"},
		Rules: []config.CommandRule{
			{ID: "git-read", Prefix: []string{"git", "status|diff|log|show"}, Decision: "allow",
				Match: [][]string{{"git", "status"}, {"git", "-C", ".", "status"}, {"git", "log", "--oneline"}}, NotMatch: [][]string{{"git", "push"}}},
			{ID: "git-branch-list", Prefix: []string{"git", "branch"}, Decision: "allow",
				Flags: []string{"-a", "-r", "-v", "-vv", "--list", "--show-current", "--all", "--remotes", "--verbose"}, MaxArgs: &zero,
				Match:    [][]string{{"git", "branch"}, {"git", "branch", "-a"}, {"git", "branch", "--show-current"}},
				NotMatch: [][]string{{"git", "branch", "-f", "main", "HEAD~1"}, {"git", "branch", "-D", "x"}, {"git", "branch", "new"}}},
			{ID: "git-push", Prefix: []string{"git", "push"}, Decision: "approve"},
			{ID: "base64", Prefix: []string{"base64"}, Decision: "allow", NotFlags: []string{"-o", "--output"},
				Match: [][]string{{"base64", "f"}, {"base64", "-d", "f"}}, NotMatch: [][]string{{"base64", "-oFILE"}, {"base64", "--output=x"}, {"base64", "--out", "x"}}},
			{ID: "sed-print", Prefix: []string{"sed", "-n"}, Decision: "allow", Match: [][]string{{"sed", "-n", "1p", "f"}}},
			{ID: "sed-inplace", Prefix: []string{"sed", "-i"}, Decision: "allow"},
			{ID: "no-rm-rf", Prefix: []string{"rm", "-rf"}, Decision: "deny"},
			{ID: "no-sort-output", Prefix: []string{"sort", "--output"}, Decision: "deny",
				Match: [][]string{{"sort", "--output=x"}, {"sort", "--out=x"}}},
			{ID: "curl", Prefix: []string{"curl"}, Decision: "approve"},
		},
	}
}

// TestUnconfinedCorpus: command lines an agent sends to a hook in a
// person's session, with the decision the hook's analysis must reach
// (before the path checks the caller adds), and, for lines whose danger
// is a file, the file that must be reported as written.
func TestUnconfinedCorpus(t *testing.T) {
	for _, p := range []string{"sort", "sed", "awk", "find", "base64", "git", "tee", "xargs", "nohup", "setsid", "printenv", "curl"} {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true but %s is not installed (.ci/run installs it)", p)
			}
			t.Skipf("%s not installed", p)
		}
	}
	e, err := cmdrule.New(hookPolicy())
	if err != nil {
		t.Fatal(err)
	}
	u := e.Unconfined()
	// ripgrep is rarely installed: a program named rg (a copy of true)
	// stands in, since rg's options are known by its name.
	rg := filepath.Join(t.TempDir(), "rg")
	tr, _ := exec.LookPath("true")
	if b, err := os.ReadFile(tr); err != nil || os.WriteFile(rg, b, 0o755) != nil {
		t.Fatal("cannot make a stand-in rg")
	}
	lookPath := func(name string) (string, error) {
		if name == "rg" {
			return rg, nil
		}
		return exec.LookPath(name)
	}
	cases := []struct {
		line  string
		want  string
		write string // a path Paths must list as written ("" none required)
	}{
		// The first bullet.
		{`f=/home/u/.ssh/id_rsa; cat "$f"`, "deny", ""},
		{`for f in /etc/*; do cat "$f"; done`, "deny", ""},
		{`d=/tmp; sort -o "$d/x" policy.txt`, "deny", ""},
		{`d=/tmp/outside; find "$d" -delete`, "deny", ""},
		{`nohup tail -f /dev/null &`, "deny", ""},
		{`echo $SECRET`, "deny", ""},
		{`sort -o agentos.yaml policy.txt`, "allow", "agentos.yaml"},
		{`sort -o .agentos/hooks.jsonl /dev/null`, "allow", ".agentos/hooks.jsonl"},
		// Codex's looser cases.
		{`sed -n '1p;w ~/.bashrc' file.txt`, "deny", ""},
		{`sed -n '1p;w out.txt' file.txt`, "allow", "out.txt"},
		{`sed -n '1w .git/hooks/pre-commit' file.txt`, "allow", ".git/hooks/pre-commit"},
		{`base64 -oFILE in.txt`, "deny", ""},
		{`base64 -o/tmp/x in.txt`, "deny", ""},
		{`base64 --output=x in.txt`, "deny", ""},
		{`base64 in.txt`, "allow", ""},
		{`git branch -f main HEAD~1`, "deny", ""},
		{`git branch -D main`, "deny", ""},
		{`git branch newbranch`, "deny", ""},
		{`git branch`, "allow", ""},
		{`git branch -a`, "allow", ""},
		{`git -C . status`, "allow", ""},
		{`git --no-pager log --oneline`, "allow", ""},
		{`git status|cat`, "allow", ""},
		{`git push origin main`, "approve", ""},
		{`git -c core.hooksPath=/tmp status`, "deny", ""},
		{`rg --pre=./pwn TODO .`, "deny", ""},
		{`rg --pre ./pwn TODO .`, "deny", ""},
		{`rg --hostname-bin=./pwn -n TODO`, "deny", ""},
		{`rg -n TODO src`, "allow", ""},
		// Attached values and abbreviations.
		{`sort --out=agentos.yaml x`, "deny", ""},
		{`sort -oagentos.yaml x`, "allow", "agentos.yaml"},
		{`sort -T .git x`, "allow", ".git"},
		{`sort --compress-program=sh x`, "deny", ""},
		{`tee .git/hooks/pre-commit`, "allow", ".git/hooks/pre-commit"},
		{`echo hi > .agentos/hooks.jsonl`, "allow", ".agentos/hooks.jsonl"},
		{`echo hi >> "$OUT"`, "deny", ""},
		{`cat < /etc/passwd`, "allow", ""},
		{`cp a.txt agentos.yaml`, "allow", "agentos.yaml"},
		{`mv x .git/config`, "allow", ".git/config"},
		{`dd if=a of=agentos.yaml`, "allow", "agentos.yaml"},
		{`tar -xf a.tar`, "allow", "."},
		{`tar -xf a.tar -C "$D"`, "deny", ""},
		{`tar -cf out.tar src`, "allow", "out.tar"},
		// find.
		{`find . -delete`, "allow", "."},
		{`find src -name '*.o' -delete`, "allow", "src"},
		{`find . -fprint agentos.yaml`, "allow", "agentos.yaml"},
		{`find . -fls /tmp/list`, "allow", "/tmp/list"},
		{`find . -exec cat {} +`, "allow", "."},
		{`find "$HOME" -name id_rsa`, "deny", ""},
		{`find . -name '*.go'`, "allow", ""},
		// awk.
		{`awk '{print > "agentos.yaml"}' f`, "allow", "agentos.yaml"},
		{`awk '{print $1 > out}' f`, "deny", ""},
		{`awk 'BEGIN{system("id")}'`, "deny", ""},
		{`awk 'BEGIN{print ENVIRON["API_TOKEN"]}'`, "deny", ""},
		{`awk '$3 > 100 {print $1}' f`, "allow", ""},
		// Unresolvable paths.
		{`cat $(echo /etc/passwd)`, "deny", ""},
		{"cat `ls`", "deny", ""},
		{`cat ~/.aws/credentials`, "deny", ""},
		{`cat /etc/*.conf`, "deny", ""},
		{`cat ../*`, "deny", ""},
		{`cat .*`, "deny", ""},
		{`cat *.go`, "allow", ""},
		{`ls {a,.git}/x`, "deny", ""},
		{`echo "$HOME"`, "allow", ""},
		{`git ls-files | xargs cat`, "deny", ""},
		{`ls | xargs -n1 echo`, "allow", ""},
		{`cat x | xargs rm`, "deny", ""},
		// Background and detached processes.
		{`sleep 100 &`, "deny", ""},
		{`setsid sleep 100`, "deny", ""},
		{`nohup go run .`, "deny", ""},
		{`timeout 5 nohup sleep 1`, "deny", ""},
		{`env nohup sleep 1`, "deny", ""},
		{`sleep 1; disown`, "deny", ""},
		{`timeout 5 go test ./...`, "allow", ""},
		{`nice -n 5 env A=1 go test ./...`, "allow", ""},
		// Secret environment.
		{`echo $API_TOKEN`, "deny", ""},
		{`echo "${AWS_SECRET_ACCESS_KEY}"`, "deny", ""},
		{`printenv AWS_SECRET_ACCESS_KEY`, "deny", ""},
		{`printenv`, "deny", ""},
		{`env`, "deny", ""},
		{`env | grep KEY`, "deny", ""},
		{`set`, "deny", ""},
		{`export -p`, "deny", ""},
		{`echo ${!A*}`, "deny", ""},
		{`printenv PATH`, "allow", ""},
		{`echo $PWD`, "allow", ""},
		// Directory changes.
		{`cd .git && echo x > hooks/pre-commit`, "allow", "hooks/pre-commit"},
		{`cd`, "deny", ""},
		{`cd "$D" && ls`, "deny", ""},
		{`for d in a b; do cd $d; done`, "deny", ""},
		// Interpreters fed code.
		{`python3 <<< 'import os'`, "deny", ""},
		{`bash <<< 'rm -rf /'`, "deny", ""},
		{`sh -c "$CMD"`, "deny", ""},
		{`eval "$X"`, "deny", ""},
		// Ordinary work.
		{`go test ./... && go vet ./...`, "allow", ""},
		{`grep -rn TODO . | head -20`, "allow", ""},
		{`ls -la src`, "allow", ""},
		{`echo ok > out.txt`, "allow", "out.txt"},
		{`curl https://example.com`, "approve", ""},
	}
	if len(cases) < 60 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.line, func(t *testing.T) {
			d := u.Decide([]string{"/bin/sh", "-c", tc.line}, lookPath)
			if d.Effect != tc.want {
				t.Fatalf("%s: %s by %s (%s), want %s", tc.line, d.Effect, d.RuleID, d.Reason, tc.want)
			}
			if tc.write != "" && !slices.ContainsFunc(d.Paths, func(p cmdrule.PathUse) bool { return p.Path == tc.write && p.Write }) {
				t.Fatalf("%s: paths %+v do not list %s as written", tc.line, d.Paths, tc.write)
			}
		})
	}
}

// TestConfinedUnchanged: the same engine without Unconfined leaves what
// the sandbox confines to the sandbox (plan steps keep working).
func TestConfinedUnchanged(t *testing.T) {
	e, err := cmdrule.New(hookPolicy())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{`for f in *.go; do cat "$f"; done`, `sleep 1 &`, `echo $API_TOKEN`, `cat x | xargs wc`} {
		if d := e.Decide([]string{"/bin/sh", "-c", line}, nil); d.Effect != "allow" {
			t.Errorf("confined %q: %s by %s (%s), want allow", line, d.Effect, d.RuleID, d.Reason)
		}
	}
}

func TestRuleLanguage(t *testing.T) {
	zero := 1
	bad := []config.CommandRule{
		{ID: "x", Prefix: []string{"git", "branch"}, Decision: "allow", Flags: []string{"--list"}, MaxArgs: &zero,
			Match: [][]string{{"git", "branch", "-f", "main"}}},
	}
	if _, err := cmdrule.New(config.Commands{Rules: bad}); err == nil || !strings.Contains(err.Error(), "does not match its example") {
		t.Fatalf("a flags rule whose example it refuses loaded: %v", err)
	}
	neg := -1
	for _, r := range []config.CommandRule{
		{ID: "x", Prefix: []string{"git"}, Decision: "allow", Flags: []string{"list"}},
		{ID: "x", Prefix: []string{"git"}, Decision: "allow", MaxArgs: &neg},
	} {
		if _, err := cmdrule.New(config.Commands{Rules: []config.CommandRule{r}}); err == nil {
			t.Errorf("rule %+v loaded", r)
		}
	}
	alts := []config.CommandRule{{ID: "py", Prefix: []string{"python|python3", "-m", "pytest|unittest"}, Decision: "allow",
		Match: [][]string{{"python3", "-m", "pytest"}, {"python", "-m", "unittest"}}, NotMatch: [][]string{{"python3", "-m", "http.server"}}}}
	if _, err := cmdrule.New(config.Commands{Rules: alts}); err != nil {
		t.Fatalf("alternatives: %v", err)
	}
}

// TestDenyRuleAttachedValue: a deny rule written against an option holds
// when the value is attached or the long option abbreviated, in plan steps
// as in hooks (Codex's base64 -oFILE case).
func TestDenyRuleAttachedValue(t *testing.T) {
	e, err := cmdrule.New(config.Commands{Allow: []string{"sort", "base64"}, Rules: []config.CommandRule{
		{ID: "no-sort-o", Prefix: []string{"sort", "-o"}, Decision: "deny"},
		{ID: "no-base64-out", Prefix: []string{"base64", "--output"}, Decision: "deny"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{{"sort", "-o/tmp/x", "f"}, {"sort", "-uo/tmp/x", "f"}, {"sort", "-oFILE", "f"}, {"base64", "--out=x", "f"}, {"base64", "--output=x"}} {
		if d := e.Decide(argv, nil); d.Effect != cmdrule.Deny {
			t.Errorf("%q: %s by %s, want deny", argv, d.Effect, d.RuleID)
		}
	}
	if d := e.Decide([]string{"sort", "-u", "f"}, nil); d.Effect != cmdrule.Allow {
		t.Errorf("sort -u: %s by %s", d.Effect, d.RuleID)
	}
}
