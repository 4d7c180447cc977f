package contractor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/sandbox"
)

// The test binary doubles as the hook program and as a fake contractor that
// behaves like Claude Code: it reads its --settings file, asks the hook
// before every tool call, and only does what the hook allowed.
func TestMain(m *testing.M) {
	if sandbox.IsHelper() {
		os.Exit(sandbox.HelperMain())
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "__hook", "__hook_codex":
			sock := ""
			if len(os.Args) > 3 && os.Args[2] == "--socket" {
				sock = os.Args[3]
			}
			proto := ProtocolClaude
			if os.Args[1] == "__hook_codex" {
				proto = ProtocolCodex
			}
			HookAs(proto, os.Stdin, os.Stdout, sock, nil)
			os.Exit(0)
		case "__fake":
			os.Exit(fakeContractor(os.Args[2:]))
		}
	}
	os.Exit(m.Run())
}

type fakeCall struct {
	Tool  string            `json:"tool"`
	Input map[string]string `json:"input"`
}

func fakeContractor(args []string) int {
	var settings string
	for i, a := range args {
		if a == "--settings" && i+1 < len(args) {
			settings = args[i+1]
		}
	}
	b, err := os.ReadFile(settings)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake: no settings:", err)
		return 9
	}
	var s struct {
		Hooks struct {
			PreToolUse []struct {
				Hooks []struct{ Command string } `json:"hooks"`
			} `json:"PreToolUse"`
		} `json:"hooks"`
	}
	json.Unmarshal(b, &s)
	hook := s.Hooks.PreToolUse[0].Hooks[0].Command
	var script []fakeCall
	json.Unmarshal([]byte(os.Getenv("FAKE_SCRIPT")), &script)
	cwd, _ := os.Getwd()
	for _, c := range script {
		ti, _ := json.Marshal(c.Input)
		in, _ := json.Marshal(map[string]any{"hook_event_name": "PreToolUse", "cwd": cwd, "tool_name": c.Tool, "tool_input": json.RawMessage(ti)})
		cmd := exec.Command("/bin/sh", "-c", hook)
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake: hook failed:", err)
			continue
		}
		var o HookOutput
		json.Unmarshal(out, &o)
		fmt.Printf("%s %s: %s\n", c.Tool, o.HookSpecificOutput.PermissionDecision, o.HookSpecificOutput.PermissionDecisionReason)
		if o.HookSpecificOutput.PermissionDecision != "allow" {
			continue
		}
		switch c.Tool {
		case "Write":
			os.WriteFile(c.Input["file_path"], []byte(c.Input["content"]), 0o644)
		case "Bash":
			sh := exec.Command("/bin/sh", "-c", c.Input["command"])
			sh.Stdout, sh.Stderr = os.Stdout, os.Stderr
			sh.Run()
		}
	}
	return 0
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// mustRepo makes a repository with a text file to edit, one to delete, one
// to rename and a binary file, and returns its root and base commit.
func mustRepo(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	os.MkdirAll(dir, 0o755)
	git(t, dir, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(dir, "edit.txt"), []byte("one\ntwo\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "gone.txt"), []byte("bye\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "old.txt"), []byte(strings.Repeat("rename me\n", 20)), 0o644)
	os.WriteFile(filepath.Join(dir, "bin.dat"), []byte{0, 1, 2, 3, 255}, 0o644)
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "base")
	return dir, git(t, dir, "rev-parse", "HEAD")
}

func testExe(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestRunFakeContractor(t *testing.T) {
	repo, base := mustRepo(t)
	outside := filepath.Join(filepath.Dir(repo), "outside.txt")
	script := []fakeCall{
		{"Write", map[string]string{"file_path": "WT/new.txt", "content": "new file\n"}},
		{"Write", map[string]string{"file_path": outside, "content": "escaped\n"}},
		{"Write", map[string]string{"file_path": "WT/../outside2.txt", "content": "escaped\n"}},
		{"Write", map[string]string{"file_path": "WT/.git/hooks/pre-commit", "content": "#!/bin/sh\n"}},
		{"Bash", map[string]string{"command": "curl -s http://127.0.0.1:9/ -o stolen.txt"}},
		{"Bash", map[string]string{"command": "printf 'one\\nTWO\\n' > edit.txt && rm gone.txt && mv old.txt renamed.txt"}},
		{"Bash", map[string]string{"command": "printf '\\000\\001\\002\\003\\376' > bin.dat"}},
		{"Bash", map[string]string{"command": "echo leak > " + outside}},
		{"WebFetch", map[string]string{"url": "http://example.com"}},
	}
	// Paths in the script are relative to the scratch worktree, which Run
	// creates: the fake sees WT replaced through its cwd.
	for i := range script {
		if p, ok := script[i].Input["file_path"]; ok && strings.HasPrefix(p, "WT/") {
			script[i].Input["file_path"] = "./" + strings.TrimPrefix(p, "WT/")
		}
	}
	js, _ := json.Marshal(script)
	exe := testExe(t)
	var transcript bytes.Buffer
	res, err := Run(t.Context(), Spec{
		Name:       "claude",
		Repo:       repo,
		Base:       base,
		Prompt:     "do the thing",
		IntentID:   "int-1",
		Argv:       []string{exe, "__fake", "--settings", "{settings}", "{prompt}"},
		Env:        map[string]string{"FAKE_SCRIPT": string(js)},
		Rules:      Rules{Allow: []string{"printf", "rm", "mv", "ls"}},
		HookArgv:   []string{exe, "__hook"},
		StateDir:   filepath.Join(filepath.Dir(repo), "state"),
		Timeout:    time.Minute,
		Transcript: &transcript,
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, transcript.String())
	}
	t.Logf("transcript (exit %d, unconfined %v):\n%s", res.ExitCode, res.Unconfined, transcript.String())
	if len(sandbox.Check().Missing(true)) == 0 && res.Unconfined {
		t.Errorf("the contractor ran unconfined on a machine that can confine")
	}
	if res.ExitCode != 0 {
		t.Fatalf("the fake contractor exited %d", res.ExitCode)
	}

	for _, p := range []string{outside, filepath.Join(filepath.Dir(repo), "outside2.txt")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written: a write outside the worktree got through", p)
		}
	}
	if st := git(t, repo, "status", "--porcelain"); st != "" {
		t.Errorf("the user's tree changed:\n%s", st)
	}
	if _, err := os.Stat(res.Worktree); err == nil {
		t.Errorf("the scratch worktree %s was not removed", res.Worktree)
	}

	// Decisions: every call recorded, in order, with the right verdict.
	wantAllow := []bool{true, false, false, false, false, true, true, false, false}
	if len(res.Decisions) != len(wantAllow) {
		t.Fatalf("decisions = %d, want %d: %+v", len(res.Decisions), len(wantAllow), res.Decisions)
	}
	for i, d := range res.Decisions {
		if d.Allow != wantAllow[i] || d.Seq == 0 || d.Reason == "" {
			t.Errorf("decision %d (%s %s%s) allow = %v, want %v: %s", i, d.Tool, d.Path, d.Command, d.Allow, wantAllow[i], d.Reason)
		}
	}
	if !strings.Contains(res.Decisions[4].Reason, "curl is not in the command allowlist") {
		t.Errorf("curl decision reason = %q", res.Decisions[4].Reason)
	}
	if !strings.Contains(res.Decisions[3].Reason, "protected") {
		t.Errorf(".git write reason = %q", res.Decisions[3].Reason)
	}
	if len(res.Commands) != 4 || res.Commands[0].Allowed || !res.Commands[1].Allowed {
		t.Errorf("commands = %+v, want the 4 Bash calls with their verdicts", res.Commands)
	}

	// Steps: one patch per changed file, hashed, for the intent.
	got := map[string]agentos.Step{}
	for _, s := range res.Steps {
		if s.Kind != agentos.StepPatch || s.IntentID != "int-1" || s.DiffHash != canonjson.Sum([]byte(s.Diff)) {
			t.Errorf("step %+v: want a patch for int-1 with DiffHash = Sum(diff)", s.Paths)
		}
		got[strings.Join(s.Paths, ",")] = s
	}
	for _, want := range []string{"new.txt", "edit.txt", "gone.txt", "old.txt,renamed.txt", "bin.dat"} {
		if _, ok := got[want]; !ok {
			t.Errorf("no patch step for %s; got %v", want, slices.Collect(mapKeys(got)))
		}
	}
	if len(got) != 5 {
		t.Errorf("got %d steps, want 5: %v", len(got), slices.Collect(mapKeys(got)))
	}
	if d := got["bin.dat"].Diff; !strings.Contains(d, "GIT binary patch") {
		t.Errorf("bin.dat diff is not a binary patch:\n%s", d)
	}
	if d := got["old.txt,renamed.txt"].Diff; !strings.Contains(d, "rename from old.txt") {
		t.Errorf("rename diff:\n%s", d)
	}

	// The patches reproduce the contractor's tree on a fresh checkout.
	check := filepath.Join(t.TempDir(), "check")
	git(t, repo, "worktree", "add", "--detach", "-q", check, base)
	for _, s := range res.Steps {
		cmd := exec.Command("git", "apply", "--binary", "--index", "-")
		cmd.Dir = check
		cmd.Stdin = strings.NewReader(s.Diff)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git apply %v: %v\n%s", s.Paths, err, out)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(check, "edit.txt")); string(b) != "one\nTWO\n" {
		t.Errorf("edit.txt after applying = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(check, "bin.dat")); !bytes.Equal(b, []byte{0, 1, 2, 3, 254}) {
		t.Errorf("bin.dat after applying = %v", b)
	}
	if _, err := os.Stat(filepath.Join(check, "gone.txt")); err == nil {
		t.Errorf("gone.txt still exists after applying")
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestRunRefusesUngovernedSetup(t *testing.T) {
	repo, base := mustRepo(t)
	_, err := Run(t.Context(), Spec{Name: "claude", Repo: repo, Base: base, StateDir: filepath.Join(filepath.Dir(repo), "s"),
		HookArgv: []string{"/nonexistent/agentos", "hook", "claude"}, Argv: []string{"/bin/true"}})
	if err == nil || !strings.Contains(err.Error(), "ungoverned") {
		t.Fatalf("Run with a missing hook program: %v, want a refusal", err)
	}
	_, err = Run(t.Context(), Spec{Name: "claude", Repo: repo, Base: base, StateDir: filepath.Join(filepath.Dir(repo), "s"),
		HookArgv: []string{testExe(t), "__hook"}, Argv: []string{"no-such-agent-cli"}, Getenv: func(string) string { return "/usr/bin:/bin" }})
	if agentos.ErrorCode(err) != agentos.ENOTFOUND || !strings.Contains(err.Error(), "docs/planners.md") {
		t.Fatalf("Run with a missing CLI: %v, want not_found with a hint", err)
	}
	if st := git(t, repo, "worktree", "list"); strings.Count(st, "\n") != 0 {
		t.Errorf("scratch worktrees left behind:\n%s", st)
	}
}

func TestHookFailsClosed(t *testing.T) {
	var out bytes.Buffer
	d, err := Hook(strings.NewReader(`{"tool_name":"Bash","tool_input":{"command":"ls"}}`), &out, "/nonexistent/sock", nil)
	if err == nil || d.Allow || !strings.Contains(out.String(), `"permissionDecision":"deny"`) {
		t.Errorf("Hook with an unreachable socket: %v %+v %s; want a deny", err, d, out.String())
	}
	out.Reset()
	Hook(strings.NewReader(`not json`), &out, "", &Rules{Worktree: "/w", Allow: []string{"ls"}})
	if !strings.Contains(out.String(), `"deny"`) {
		t.Errorf("Hook with bad input printed %s; want a deny", out.String())
	}
	out.Reset()
	d, err = Hook(strings.NewReader(`{"tool_name":"Bash","tool_input":{"command":"ls"},"cwd":"/w"}`), &out, "", &Rules{Worktree: "/w", Allow: []string{"ls"}})
	if err != nil || !d.Allow || !strings.Contains(out.String(), `"hookEventName":"PreToolUse"`) || !strings.Contains(out.String(), `"allow"`) {
		t.Errorf("Hook local allow: %v %s", err, out.String())
	}
}

func TestHookCodexProtocol(t *testing.T) {
	rules := &Rules{Worktree: "/w", Allow: []string{"ls"}}
	var out bytes.Buffer
	d, err := HookAs(ProtocolCodex, strings.NewReader(`{"tool_name":"Bash","tool_input":{"command":"ls"},"cwd":"/w"}`), &out, "", rules)
	if err != nil || !d.Allow || out.Len() != 0 {
		t.Errorf("codex allow: %v %+v, printed %q; want no output (Codex refuses permissionDecision allow)", err, d, out.String())
	}
	out.Reset()
	d, _ = HookAs(ProtocolCodex, strings.NewReader(`{"tool_name":"Bash","tool_input":{"command":"curl x"},"cwd":"/w"}`), &out, "", rules)
	var o HookOutput
	if json.Unmarshal(out.Bytes(), &o) != nil || d.Allow || o.HookSpecificOutput.PermissionDecision != "deny" || o.HookSpecificOutput.PermissionDecisionReason == "" {
		t.Errorf("codex deny printed %q; want the deny JSON with a reason", out.String())
	}
}

func TestDecide(t *testing.T) {
	wt := t.TempDir()
	os.MkdirAll(filepath.Join(wt, "sub"), 0o755)
	os.Symlink("/etc", filepath.Join(wt, "link"))
	r := Rules{Worktree: wt, Allow: []string{"go", "ls", "cat", "grep"}}
	in := func(tool string, kv ...string) HookInput {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		b, _ := json.Marshal(m)
		return HookInput{ToolName: tool, ToolInput: b, Cwd: wt}
	}
	cases := []struct {
		name  string
		in    HookInput
		allow bool
		rule  string
	}{
		{"bash allowed", in("Bash", "command", "go test ./... && ls -la | grep x"), true, "command.allowlist"},
		{"bash builtin", in("Bash", "command", "cd sub && echo hi > out.txt"), true, "command.allowlist"},
		{"bash denied program", in("Bash", "command", "ls; curl http://x"), false, "command.allowlist"},
		{"bash in substitution", in("Bash", "command", "echo $(wget http://x)"), false, "command.allowlist"},
		{"bash dynamic name", in("Bash", "command", "$CMD --flag"), false, "command.dynamic"},
		{"bash eval", in("Bash", "command", "eval 'rm -rf /'"), false, "command.indirect"},
		{"bash absolute program", in("Bash", "command", "/usr/bin/ls"), true, "command.allowlist"},
		{"bash outside arg", in("Bash", "command", "cat /etc/passwd"), false, "path.arg"},
		{"bash dotdot arg", in("Bash", "command", "cat ../../secret"), false, "path.arg"},
		{"bash outside redirect", in("Bash", "command", "echo x > /tmp/x"), false, "path.redirect"},
		{"bash devnull", in("Bash", "command", "ls 2>/dev/null >&2"), true, "command.allowlist"},
		{"bash unparsable", in("Bash", "command", "ls ("), false, "command.parse"},
		{"bash tilde", in("Bash", "command", "cd ~ && ls"), false, "path.arg"},
		{"bash home var", in("Bash", "command", "cat $HOME/.claude/settings.json"), false, "path.arg"},
		{"bash home braces", in("Bash", "command", "ls ${HOME}"), false, "path.arg"},
		{"bash dynamic cd", in("Bash", "command", "cd $(echo /tmp)"), false, "path.arg"},
		{"bash other var ok", in("Bash", "command", "ls $FOO"), true, "command.allowlist"},
		{"bash cd inside", in("Bash", "command", "cd sub && ls"), true, "command.allowlist"},
		{"write inside", in("Write", "file_path", filepath.Join(wt, "sub", "a.go")), true, "path.write"},
		{"write relative", in("Write", "file_path", "sub/new/a.go"), true, "path.write"},
		{"write outside", in("Write", "file_path", filepath.Join(wt, "..", "x")), false, "path.write"},
		{"write through symlink", in("Write", "file_path", filepath.Join(wt, "link", "passwd")), false, "path.write"},
		{"write .git", in("Edit", "file_path", filepath.Join(wt, ".git", "config")), false, "path.write"},
		{"write policy", in("Write", "file_path", filepath.Join(wt, "agentos.yaml")), false, "path.write"},
		{"read outside", in("Read", "file_path", "/etc/shadow"), false, "path.read"},
		{"grep no path", in("Grep", "pattern", "x"), true, "path.read"},
		{"webfetch", in("WebFetch", "url", "http://x"), false, "tool.network"},
		{"mcp tool", in("mcp__x__y"), false, "tool.unknown"},
		{"todo", in("TodoWrite"), true, "tool.innocuous"},
		{"codex patch inside", in("apply_patch", "command", "*** Begin Patch\n*** Add File: sub/a.txt\n+x\n*** End Patch"), true, "path.write"},
		{"codex patch outside", in("apply_patch", "command", "*** Begin Patch\n*** Update File: ../x.txt\n*** End Patch"), false, "path.write"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(r, tc.in)
			if d.Allow != tc.allow || d.Rule != tc.rule {
				t.Errorf("Decide = allow %v rule %s (%s), want allow %v rule %s", d.Allow, d.Rule, d.Reason, tc.allow, tc.rule)
			}
		})
	}
	withRule := r
	withRule.CommandRule = func(argv []string) (bool, string, string) {
		if argv[0] == "go" && len(argv) > 1 && argv[1] == "get" {
			return false, "no-go-get", "needs network"
		}
		return true, "ok", ""
	}
	if d := Decide(withRule, in("Bash", "command", "go get x")); d.Allow || d.Rule != "no-go-get" {
		t.Errorf("CommandRule not consulted: %+v", d)
	}

	eng, err := cmdrule.New(config.Commands{Allow: []string{"go", "ls"}, Rules: []config.CommandRule{{ID: "no-go-get", Prefix: []string{"go", "get"}, Decision: "deny", Reason: "needs network"}}})
	if err != nil {
		t.Fatal(err)
	}
	withEngine := Rules{Worktree: wt, Shell: ShellRule(eng)}
	for _, tc := range []struct {
		cmd   string
		allow bool
	}{{"go test ./... && ls", true}, {"go get example.com/x", false}, {"ls | grep x", false}, {"echo $(id)", false}, {"ls > /tmp/out", false}, {"ls ~/.claude", false}, {"cd ~ && ls", false}} {
		if d := Decide(withEngine, in("Bash", "command", tc.cmd)); d.Allow != tc.allow {
			t.Errorf("with cmdrule, %q: allow = %v (%s: %s), want %v", tc.cmd, d.Allow, d.Rule, d.Reason, tc.allow)
		}
	}
}

// TestContractorSeesOnlyItsFiles: with the agentos binary (the hook) and the
// contractor CLI each in a home-like directory holding a planted key and
// notes, the contractor can run both programs but read nothing next to
// them. Judged by what the contractor left in its worktree: the patch steps
// that would be committed.
func TestContractorSeesOnlyItsFiles(t *testing.T) {
	if !sandbox.Check().OK() {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but the sandbox is unavailable: %v", sandbox.Check().Missing(false))
		}
		t.Skipf("sandbox unavailable: %v", sandbox.Check().Missing(false))
	}
	repo, base := mustRepo(t)
	home := t.TempDir()
	cliDir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	must(os.WriteFile(filepath.Join(home, ".ssh", "id_rsa"), []byte("-----BEGIN OPENSSH PRIVATE KEY----- planted\n"), 0o600))
	must(os.WriteFile(filepath.Join(home, "notes.txt"), []byte("home-notes-secret\n"), 0o644))
	must(os.WriteFile(filepath.Join(cliDir, "neighbour.txt"), []byte("cli-neighbour-secret\n"), 0o644))
	bin, err := os.ReadFile(testExe(t))
	must(err)
	agentosBin := filepath.Join(home, "agentos")
	must(os.WriteFile(agentosBin, bin, 0o755))
	agent := filepath.Join(cliDir, "agent")
	must(os.WriteFile(agent, []byte(fmt.Sprintf(`#!/bin/sh
cat %[1]s/.ssh/id_rsa %[1]s/notes.txt %[2]s/neighbour.txt > stolen.txt 2>&1
ls -a %[1]s %[2]s >> stolen.txt 2>&1
# Both programs it was given still run.
%[3]s __fake >/dev/null 2>&1; echo "hook=$?" >> stolen.txt
echo ran >> stolen.txt
`, home, cliDir, agentosBin)), 0o755))
	res, err := Run(t.Context(), Spec{
		Name: "custom", Repo: repo, Base: base, Prompt: "steal",
		Argv:     []string{agent},
		HookArgv: []string{agentosBin, "__hook"},
		StateDir: filepath.Join(filepath.Dir(repo), "state"),
		Require:  true,
		Timeout:  time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	var diffs strings.Builder
	for _, s := range res.Steps {
		diffs.WriteString(s.Diff)
	}
	t.Logf("what the contractor left:\n%s", diffs.String())
	if !strings.Contains(diffs.String(), "+ran") || !strings.Contains(diffs.String(), "+hook=9") {
		t.Fatalf("the contractor did not run to the end, or could not run the hook program: %q", diffs.String())
	}
	// The secrets' contents, and their names as a listing prints them.
	for _, secret := range []string{"PRIVATE KEY", "home-notes-secret", "cli-neighbour-secret", "\n+neighbour.txt\n", "\n+notes.txt\n", "\n+.ssh\n"} {
		if strings.Contains(diffs.String(), secret) {
			t.Errorf("the contractor read %q next to a program it runs", secret)
		}
	}
}

func TestInstallFilesOfAnNpmCLI(t *testing.T) {
	root := t.TempDir()
	nm := filepath.Join(root, "node_modules")
	for _, d := range []string{".bin", "@openai/codex/bin", "@openai/codex-linux-x64/vendor", "@openai/unrelated", "dep", "other"} {
		if err := os.MkdirAll(filepath.Join(nm, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(nm, "@openai/codex/package.json"), []byte(`{"dependencies":{"dep":"1"},"optionalDependencies":{"@openai/codex-linux-x64":"1","@openai/codex-darwin-arm64":"1"}}`), 0o644)
	os.WriteFile(filepath.Join(nm, "@openai/codex/bin/codex.js"), []byte("#!/usr/bin/env node\n"), 0o755)
	os.Symlink("../@openai/codex/bin/codex.js", filepath.Join(nm, ".bin", "codex"))
	got := installFiles(filepath.Join(nm, ".bin", "codex"))
	want := []string{filepath.Join(nm, ".bin", "codex"), filepath.Join(nm, "@openai/codex/bin/codex.js"),
		filepath.Join(nm, "@openai/codex"), filepath.Join(nm, "dep"), filepath.Join(nm, "@openai/codex-linux-x64")}
	if !slices.Equal(got, want) {
		t.Fatalf("installFiles = %q\nwant %q", got, want)
	}
}

// TestDecideSession: the hook in a person's session (hook mode): the
// fail-closed analysis with path checks from every directory a line may
// cd into, "ask" for what needs a person (a deny where nobody answers),
// every tool decided, and messages that speak of the repository.
func TestDecideSession(t *testing.T) {
	wt := t.TempDir()
	os.MkdirAll(filepath.Join(wt, "sub"), 0o755)
	os.WriteFile(filepath.Join(wt, "a.txt"), []byte("a\n"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(wt, "zz-link"))
	eng, err := cmdrule.New(config.Commands{
		Allow: []string{"cat", "sort", "ls", "echo", "find", "sed"},
		Rules: []config.CommandRule{{ID: "wc-asks", Prefix: []string{"wc"}, Decision: "approve"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	session := Rules{Worktree: wt, Engine: eng, Session: true}
	contract := Rules{Worktree: wt, Engine: eng}
	in := func(tool string, kv ...string) HookInput {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		b, _ := json.Marshal(m)
		return HookInput{ToolName: tool, ToolInput: b, Cwd: wt, PermissionMode: "default"}
	}
	bypass := in("Bash", "command", "wc -l a.txt")
	bypass.PermissionMode = "bypassPermissions"
	cases := []struct {
		name   string
		r      Rules
		in     HookInput
		want   string // allow | deny | ask
		reason string // a substring of the reason
	}{
		{"policy rewrite", session, in("Bash", "command", "sort -o agentos.yaml a.txt"), "ask", "a person's decision"},
		{"policy rewrite, absolute", session, in("Bash", "command", "sort -o "+filepath.Join(wt, "agentos.yaml")+" a.txt"), "ask", "a person's decision"},
		{"policy rewrite, dotted", session, in("Bash", "command", "sort -o ./sub/..//agentos.yaml a.txt"), "ask", "a person's decision"},
		{"state rewrite, attached", session, in("Bash", "command", "sort -o.agentos/hooks.jsonl a.txt"), "ask", "a person's decision"},
		{"policy rewrite by redirection", session, in("Bash", "command", "echo x > agentos.yaml"), "ask", "a person's decision"},
		{"policy rewrite and an outside write", session, in("Bash", "command", "sort -o agentos.yaml a.txt && sort -o /tmp/x a.txt"), "deny", "outside the repository"},
		{"policy rewrite in full_auto", Rules{Worktree: wt, Engine: eng, Session: true, NoAsk: true}, in("Bash", "command", "sort -o agentos.yaml a.txt"), "deny", "nobody answers"},
		{"policy rewrite for a contractor", contract, in("Bash", "command", "sort -o agentos.yaml a.txt"), "deny", "is protected"},
		{"policy Write", session, in("Write", "file_path", filepath.Join(wt, "agentos.yaml")), "ask", "a person's decision"},
		{"policy Write for a contractor", contract, in("Write", "file_path", filepath.Join(wt, "agentos.yaml")), "deny", "is protected"},
		{"state Edit", session, in("Edit", "file_path", ".agentos/hooks.jsonl"), "ask", "a person's decision"},
		{"attached outside", session, in("Bash", "command", "sort -o/tmp/x a.txt"), "deny", "outside the repository"},
		{"cd into .git", session, in("Bash", "command", "cd sub && cd ../.git && echo x > hooks/pre-commit"), "deny", ""},
		{"glob through a symlink", session, in("Bash", "command", "cat zz-*"), "deny", "outside the repository"},
		{"glob inside", session, in("Bash", "command", "cat a.*"), "allow", ""},
		{"sed w outside", session, in("Bash", "command", "sed -n '1w /tmp/x' a.txt"), "deny", "sed w"},
		{"variable", session, in("Bash", "command", `f=/etc/passwd; cat "$f"`), "deny", "only known at run time"},
		{"hook settings", session, in("Write", "file_path", filepath.Join(wt, ".claude", "settings.json")), "deny", "wires the agent's hooks"},
		{"hook settings by shell", session, in("Bash", "command", "echo '{}' > .claude/settings.local.json"), "deny", "wires the agent's hooks"},
		{"approve asks", session, in("Bash", "command", "wc -l a.txt"), "ask", "approval"},
		{"approve under bypassPermissions", session, bypass, "deny", "nobody answers"},
		{"approve in full_auto", Rules{Worktree: wt, Engine: eng, Session: true, NoAsk: true}, in("Bash", "command", "wc -l a.txt"), "deny", "nobody answers"},
		{"approve for a contractor", contract, in("Bash", "command", "wc -l a.txt"), "deny", "contractor cannot get"},
		{"codex exec_command", session, in("exec_command", "cmd", "cat /etc/shadow"), "deny", "outside"},
		{"codex view_image outside", session, in("view_image", "path", "/etc/hostname"), "deny", "outside"},
		{"codex view_image inside", session, in("view_image", "path", "a.txt"), "allow", ""},
		{"write_stdin poll", session, in("write_stdin", "chars", ""), "allow", ""},
		{"write_stdin typing", session, in("write_stdin", "chars", "y\n"), "ask", "typing"},
		{"write_stdin typing, contractor", contract, in("write_stdin", "chars", "y\n"), "deny", "typing"},
		{"web in a session", session, in("WebFetch", "url", "http://x"), "ask", "network"},
		{"unknown tool", session, in("mcp__x__write"), "deny", "unknown tools are denied"},
		{"outside message, session", session, in("Read", "file_path", "/etc/shadow"), "deny", "outside the repository"},
		{"outside message, contractor", contract, in("Read", "file_path", "/etc/shadow"), "deny", "scratch worktree"},
		{"ordinary", session, in("Bash", "command", "ls -la sub && cat a.txt | sort"), "allow", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.r, tc.in)
			got := "deny"
			if d.Allow {
				got = "allow"
			} else if d.Ask {
				got = "ask"
			}
			if got != tc.want || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Decide = %s (%s: %s), want %s with %q", got, d.Rule, d.Reason, tc.want, tc.reason)
			}
			if tc.r.Session && strings.Contains(d.Reason, "contractor") {
				t.Errorf("a person's session got a contractor's message: %s", d.Reason)
			}
		})
	}
	var out bytes.Buffer
	raw, _ := json.Marshal(in("Bash", "command", "wc -l a.txt"))
	d, _ := HookAs(ProtocolClaude, bytes.NewReader(raw), &out, "", &session)
	if !d.Ask || !strings.Contains(out.String(), `"permissionDecision":"ask"`) {
		t.Errorf("claude ask printed %s", out.String())
	}
	out.Reset()
	d, _ = HookAs(ProtocolCodex, bytes.NewReader(raw), &out, "", &session)
	if d.Ask || !strings.Contains(out.String(), `"permissionDecision":"deny"`) {
		t.Errorf("codex ask printed %s; want a deny (Codex's PreToolUse cannot ask)", out.String())
	}
}

// TestDecideNeedsAPerson: agentos approve|reject|answer and a git commit
// that would carry a changed agentos.yaml (or .agentos) need a person: the
// CLI's prompt in a person's session, a deny for contractors and where
// nobody answers prompts.
func TestDecideNeedsAPerson(t *testing.T) {
	wt := t.TempDir()
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"config", "user.name", "T"}, {"config", "user.email", "t@t"}} {
		git(t, wt, args...)
	}
	os.WriteFile(filepath.Join(wt, "agentos.yaml"), []byte("version: 1\n"), 0o644)
	os.WriteFile(filepath.Join(wt, "a.txt"), []byte("a\n"), 0o644)
	os.MkdirAll(filepath.Join(wt, ".agentos"), 0o755)
	os.WriteFile(filepath.Join(wt, ".agentos", ".gitignore"), []byte("*\n"), 0o644)
	os.WriteFile(filepath.Join(wt, ".agentos", "agentos.db"), []byte("store\n"), 0o644)
	git(t, wt, "add", "agentos.yaml", "a.txt")
	git(t, wt, "commit", "-q", "-m", "base")
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "agentos"), []byte("#!/bin/sh\n"), 0o755)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	eng, err := cmdrule.New(config.Commands{Allow: []string{"git", "agentos", "echo"}})
	if err != nil {
		t.Fatal(err)
	}
	session := Rules{Worktree: wt, Engine: eng, Session: true}
	fullAuto := Rules{Worktree: wt, Engine: eng, Session: true, NoAsk: true}
	contract := Rules{Worktree: wt, Engine: eng}
	bash := func(cmd string) HookInput {
		b, _ := json.Marshal(map[string]string{"command": cmd})
		return HookInput{ToolName: "Bash", ToolInput: b, Cwd: wt, PermissionMode: "default"}
	}
	verdict := func(d Decision) string {
		switch {
		case d.Allow:
			return "allow"
		case d.Ask:
			return "ask"
		}
		return "deny"
	}
	check := func(name string, r Rules, cmd, want string) {
		t.Helper()
		if d := Decide(r, bash(cmd)); verdict(d) != want {
			t.Errorf("%s: %q = %s (%s: %s), want %s", name, cmd, verdict(d), d.Rule, d.Reason, want)
		}
	}
	check("clean tree", session, "git commit -qam x", "allow")
	for _, verb := range []string{"agentos approve t1", "agentos -C . reject t1", "agentos answer t1 --set a=b"} {
		check("session", session, verb, "ask")
		check("full_auto", fullAuto, verb, "deny")
		check("contractor", contract, verb, "deny")
	}
	check("human verb beside a denied command", session, "agentos approve t1; echo x > /tmp/x", "deny")
	os.WriteFile(filepath.Join(wt, "agentos.yaml"), []byte("version: 1\ncommands: {allow: [curl]}\n"), 0o644)
	for _, cmd := range []string{"git commit -qam x", "git -C . commit -q -m x agentos.yaml", "echo ok && git commit -qam x"} {
		check("session", session, cmd, "ask")
		check("full_auto", fullAuto, cmd, "deny")
		check("contractor", contract, cmd, "deny")
	}
	check("not a commit", session, "git status", "allow")
	git(t, wt, "checkout", "agentos.yaml")
	git(t, wt, "add", "-f", ".agentos/agentos.db")
	check("staged state", session, "git commit -qm x", "ask")
}
