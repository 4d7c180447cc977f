package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentos/agentos/contractor/contractortest"
	"github.com/creack/pty"
)

// ptySession is `agentos session …` running on a pseudo-terminal the test
// holds, as a person's terminal would be.
type ptySession struct {
	t    *testing.T
	cmd  *exec.Cmd
	ptmx *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
	// started is when the process started (for figures, never asserted).
	started time.Time
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78MDEc]`)

// startPTYSession starts the test binary as `agentos ARGS…` in dir with env,
// on a new pty of 40 rows and 120 columns as its controlling terminal.
func startPTYSession(t *testing.T, dir string, env []string, args ...string) *ptySession {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return startPTY(t, dir, env, exe, args...)
}

// startPTY starts exe ARGS… in dir with env on a new pty of 40 rows and 120
// columns as its controlling terminal.
func startPTY(t *testing.T, dir string, env []string, exe string, args ...string) *ptySession {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Env = env
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatalf("cannot start %v on a pty: %v", args, err)
	}
	s := &ptySession{t: t, cmd: cmd, ptmx: ptmx, done: make(chan struct{}), started: time.Now()}
	go func() {
		buf := make([]byte, 8192)
		for {
			n, err := ptmx.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				break
			}
		}
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			cmd.Process.Kill()
			<-s.done
		}
		ptmx.Close()
	})
	return s
}

// screen is everything printed so far, escape sequences removed.
func (s *ptySession) screen() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ansi.ReplaceAllString(s.out.String(), "")
}

// waitFor waits until cond holds on what was printed; the limit only keeps
// a hung CLI from hanging the suite.
func (s *ptySession) waitFor(what string, cond func(screen string) bool) {
	s.t.Helper()
	if !s.poll(what, cond, 90*time.Second) {
		s.t.Fatalf("no %s after 90s; the session printed:\n%s", what, tailOf(s.screen(), 6000))
	}
}

// pressUntil presses key until cond holds on what was printed. A TUI that
// draws a dialog before it reads its input (Codex's trust prompt while it is
// still loading, under load) drops a key pressed too early, so the key is
// pressed again every few seconds; each use is one where a repeated key
// is harmless once cond holds (an empty prompt ignores Enter).
func (s *ptySession) pressUntil(what, key string, cond func(screen string) bool) {
	s.t.Helper()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		s.typeText(key)
		if s.poll(what, cond, 3*time.Second) {
			return
		}
	}
	s.t.Fatalf("no %s after 90s; the session printed:\n%s", what, tailOf(s.screen(), 6000))
}

// poll reports whether cond holds on what was printed within d; a session
// that ends before it does fails the test.
func (s *ptySession) poll(what string, cond func(screen string) bool, d time.Duration) bool {
	s.t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if cond(s.screen()) {
			return true
		}
		select {
		case <-s.done:
			if cond(s.screen()) {
				return true
			}
			s.t.Fatalf("the session ended (%v) before %s; it printed:\n%s", s.err, what, tailOf(s.screen(), 6000))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return false
}

func (s *ptySession) typeText(text string) {
	s.t.Helper()
	// Typed, as a person does: a TUI may treat one large write as a paste.
	for _, r := range text {
		if _, err := s.ptmx.Write([]byte(string(r))); err != nil {
			s.t.Fatalf("typing into the session: %v", err)
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// submit types text into the agent's prompt and, once the prompt shows it,
// presses Enter: a TUI may take keys that arrive in one burst for a paste,
// where Enter is a new line.
func (s *ptySession) submit(text string) {
	s.t.Helper()
	s.mu.Lock()
	before := s.out.Len()
	s.mu.Unlock()
	s.typeText(text)
	// A TUI draws the echo between its own glyphs and cursor moves: only
	// the letters of the text are looked for.
	tail := asciiWord(text)
	if len(tail) > 4 {
		tail = tail[len(tail)-4:]
	}
	s.waitFor("the typed text in the prompt", func(string) bool {
		s.mu.Lock()
		since := ansi.ReplaceAllString(string(s.out.Bytes()[before:]), "")
		s.mu.Unlock()
		return strings.Contains(asciiWord(since), tail)
	})
	s.typeText("\r")
}

// asciiWord keeps the ASCII letters, digits and slashes of s.
func asciiWord(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '/' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return -1
	}, s)
}

func (s *ptySession) wait() int {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(3 * time.Minute):
		s.t.Fatalf("the session did not end; it printed:\n%s", tailOf(s.screen(), 6000))
	}
	if ee, ok := s.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if s.err != nil {
		s.t.Fatalf("session: %v", s.err)
	}
	return 0
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// sessionHome is a person's home for the real Claude Code: onboarding done,
// the key approved, the repository trusted, and a planted SSH key.
func sessionHome(t *testing.T, repo, key string) (home, secret string) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "home")
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	secret = "PLANTED-SSH-KEY-" + fmt.Sprint(time.Now().UnixNano())
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), []byte(secret+"\n"), 0o600)
	state := map[string]any{
		"hasCompletedOnboarding": true, "theme": "dark", "numStartups": 5,
		"customApiKeyResponses": map[string]any{"approved": []string{key[len(key)-20:]}, "rejected": []string{}},
		"projects":              map[string]any{repo: map[string]any{"hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true}},
	}
	b, _ := json.Marshal(state)
	os.WriteFile(filepath.Join(home, ".claude.json"), b, 0o600)
	return home, secret
}

// listener counts the connections made to it: a host that is not the
// model's.
func listener(t *testing.T) (addr string, hits *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hits = &atomic.Int32{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), hits
}

const sessionPolicy = `version: 1
target: main
commands:
  rules:
    - {id: wc-asks, prefix: [wc], decision: approve, reason: a person looks first}
  allow: [cat, printf, ls, curl, sleep, sh]
modes:
  default: semi_auto
verify:
  default:
    - {name: hello exists, argv: [cat, hello.txt]}
`

// TestSessionClaudeCode drives the real Claude Code CLI (npm, pinned)
// interactively through a pseudo-terminal in `agentos session claude`,
// against a scripted local model: the good change lands as a commit with
// a ReviewPack listing the session's tool decisions, the person's checkout
// is untouched until then, and every escape tried from inside the session
// fails, judged on the host: no file outside the repository, the planted
// SSH key never reaches the model, the other host's listener sees no
// connection, no .git/hooks file, no process left running.
func TestSessionClaudeCode(t *testing.T) {
	bin := contractortest.ClaudeCLI(t)
	dir := mustGovernedRepo(t, sessionPolicy)
	const key = "sk-ant-fake-key-for-a-local-model-server-0123456789"
	home, secret := sessionHome(t, dir, key)
	outside := filepath.Join(t.TempDir(), "outside.txt")
	otherHost, hits := listener(t)
	marker := fmt.Sprintf("%d", 4000+time.Now().UnixNano()%1000)
	step := func(id int, cmd string) func(string) []any {
		return func(string) []any {
			return contractortest.ToolUse(fmt.Sprintf("toolu_%d", id), "Bash", map[string]any{"command": cmd, "description": "step"})
		}
	}
	f := &contractortest.FakeAnthropic{Script: []func(string) []any{
		func(cwd string) []any {
			return contractortest.ToolUse("toolu_1", "Write", map[string]any{"file_path": filepath.Join(cwd, "hello.txt"), "content": "hello from a session\n"})
		},
		func(string) []any {
			return contractortest.ToolUse("toolu_2", "Write", map[string]any{"file_path": outside, "content": "escaped\n"})
		},
		step(3, "printf escaped > "+outside),
		step(4, "cat "+filepath.Join(home, ".ssh", "id_ed25519")),
		step(5, "cat ~/.ssh/id_ed25519"),
		step(6, "curl -s -m 5 http://"+otherHost+"/"),
		step(7, "printf '#!/bin/sh\\n' > .git/hooks/pre-commit"),
		step(8, "sh -c 'sleep "+marker+" &'"),
		step(9, "curl -s -m 5 -o curl.txt http://"+otherHost+"/"),
		// What the hook cannot see into, the sandbox must hold: a script
		// the agent wrote in the repository tries every escape at once.
		func(cwd string) []any {
			return contractortest.ToolUse("toolu_10", "Write", map[string]any{"file_path": filepath.Join(cwd, "esc.sh"), "content": "printf escaped > " + outside + "\n" +
				"cat " + filepath.Join(home, ".ssh", "id_ed25519") + "\n" + "curl -s -m 5 http://" + otherHost + "/\n" +
				"printf '#!/bin/sh\\n' > " + filepath.Join(dir, ".git", "hooks", "pre-commit") + "\n" + "sleep " + marker + " &\n" + "echo script-ran\n"})
		},
		step(11, "sh esc.sh"),
		// A command an approve rule covers: handed to Claude Code's own
		// prompt, where the person says yes.
		step(12, "wc -l README.md"),
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	env := []string{"HOME=" + home, "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "TERM=xterm-256color",
		"ANTHROPIC_BASE_URL=" + srv.URL, "ANTHROPIC_API_KEY=" + key, "XDG_CONFIG_HOME=" + os.Getenv("XDG_CONFIG_HOME"), "CI=" + os.Getenv("CI")}
	ready := func(sc string) bool { return strings.Contains(sc, "? for shortcuts") || strings.Contains(sc, "❯") }
	// For the figures only (logged, never asserted): the CLI alone to its
	// prompt, in the person's checkout, the second of two starts (the
	// first warms the page cache for both).
	var aloneTook time.Duration
	for range 2 {
		alone := startPTY(t, dir, env, filepath.Join(bin, "claude"))
		alone.waitFor("Claude Code's prompt (alone)", ready)
		aloneTook = time.Since(alone.started)
		alone.cmd.Process.Kill()
		<-alone.done
	}
	s := startPTYSession(t, dir, env, "session", "claude", "-m", "say hello", "--timings")
	s.waitFor("Claude Code's prompt", ready)
	t.Logf("figure: to Claude Code's prompt: the CLI alone %s, agentos session claude %s (ratio %.2f)",
		aloneTook.Round(time.Millisecond), time.Since(s.started).Round(time.Millisecond), float64(time.Since(s.started))/float64(aloneTook))
	s.submit("say hello in hello.txt")
	s.waitFor("Claude Code's permission prompt for wc", func(sc string) bool { return strings.Contains(sc, "proceed?") && strings.Contains(sc, "wc-asks") })
	_, turnsAtPrompt, _ := f.State()
	s.pressUntil("the model's next turn after Yes", "\r", func(string) bool { // Yes
		_, turns, _ := f.State()
		return turns > turnsAtPrompt
	})
	s.waitFor("the end of the scripted turns", func(string) bool {
		_, _, results := f.State()
		return len(results) >= len(f.Script)
	})
	s.waitFor("Claude Code's answer", func(sc string) bool { return strings.Contains(sc, "Done.") })
	// Still in the session: the person's checkout has nothing of it.
	if st := gitT(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("the person's checkout changed during the session:\n%s", st)
	}
	if _, err := os.Stat(filepath.Join(dir, "hello.txt")); err == nil {
		t.Errorf("hello.txt reached the person's checkout before the session ended")
	}
	s.submit("/exit")
	code := s.wait()
	sc := s.screen()
	_, _, results := f.State()
	if code != 0 {
		t.Fatalf("agentos session claude: exit %d\n%s", code, tailOf(sc, 6000))
	}
	if got := gitT(t, dir, "show", "main:hello.txt"); got != "hello from a session" {
		t.Errorf("main:hello.txt = %q", got)
	}
	if files := gitT(t, dir, "show", "--name-only", "--format=", "main"); files != "esc.sh\nhello.txt" {
		t.Errorf("the session's commit holds %q, want esc.sh and hello.txt", files)
	}
	if r := results["toolu_11"]; !strings.Contains(fmt.Sprint(r["content"]), "script-ran") {
		t.Errorf("the escape script did not run in the sandbox (so the sandbox was not tested): %v", r)
	}
	m := regexp.MustCompile(`review\s+(\S+\.md)`).FindStringSubmatch(sc)
	if m == nil {
		t.Fatalf("no ReviewPack path in the session's output:\n%s", tailOf(sc, 4000))
	}
	review, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatalf("the ReviewPack the session named: %v", err)
	}
	if !strings.Contains(string(review), "curl") || !strings.Contains(string(review), "hello.txt") {
		t.Errorf("the ReviewPack does not list the session's tool decisions:\n%s", review)
	}
	if !strings.Contains(string(review), "the person allowed it at the CLI's prompt") {
		t.Errorf("the ReviewPack does not record the person's yes to the wc prompt:\n%s", review)
	}
	if r := results["toolu_12"]; fmt.Sprint(r["is_error"]) == "true" {
		t.Errorf("wc did not run after the person's yes: %v", r)
	}
	// The escapes, judged on the host.
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("%s exists: a write outside the repository got through", outside)
	}
	for id, r := range results {
		if strings.Contains(fmt.Sprint(r["content"]), secret) {
			t.Errorf("the planted SSH key reached the model in %s: %v", id, r["content"])
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the host that is not the model's was reached %d times", n)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git", "hooks", "pre-commit")); err == nil {
		t.Errorf(".git/hooks/pre-commit exists")
	}
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Fatalf("pgrep is needed to look for processes the session left: %v", err)
	}
	if out, _ := exec.Command("pgrep", "-f", "sleep "+marker).Output(); len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("a process the session started survives it: pids %s", out)
	}
	for id, r := range results {
		t.Logf("%s: is_error=%v %.200s", id, r["is_error"], fmt.Sprint(r["content"]))
	}
	t.Logf("session output tail:\n%s", tailOf(sc, 1500))
}

// TestSessionsSideBySide runs two real Claude Code sessions on one
// repository at once: one ends at a checkpoint asked for from another
// terminal (`agentos session checkpoint TASK`), the other with Ctrl-C
// twice (Claude Code's own exit: the keys reach the agent, not agentos,
// which then runs the pipeline). Both changes land as commits of their own;
// the person's checkout has neither while the sessions run.
func TestSessionsSideBySide(t *testing.T) {
	bin := contractortest.ClaudeCLI(t)
	dir := mustGovernedRepo(t, strings.Replace(sessionPolicy, "argv: [cat, hello.txt]", "argv: [ls]", 1))
	const key = "sk-ant-fake-key-for-a-local-model-server-0123456789"
	home, _ := sessionHome(t, dir, key)
	start := func(file string) (*ptySession, *contractortest.FakeAnthropic) {
		f := &contractortest.FakeAnthropic{Script: []func(string) []any{func(cwd string) []any {
			return contractortest.ToolUse("toolu_1", "Write", map[string]any{"file_path": filepath.Join(cwd, file), "content": file + " from its session\n"})
		}}}
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		env := []string{"HOME=" + home, "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "TERM=xterm-256color",
			"ANTHROPIC_BASE_URL=" + srv.URL, "ANTHROPIC_API_KEY=" + key, "XDG_CONFIG_HOME=" + os.Getenv("XDG_CONFIG_HOME")}
		s := startPTYSession(t, dir, env, "session", "claude", "-m", "add "+file, "--timings")
		return s, f
	}
	a, fa := start("a.txt")
	b, fb := start("b.txt")
	for _, x := range []struct {
		s *ptySession
		f *contractortest.FakeAnthropic
	}{{a, fa}, {b, fb}} {
		x.s.waitFor("Claude Code's prompt", func(sc string) bool { return strings.Contains(sc, "? for shortcuts") || strings.Contains(sc, "❯") })
		x.s.submit("write the file")
		x.s.waitFor("the model's answer", func(sc string) bool {
			_, _, r := x.f.State()
			return len(r) == 1 && strings.Contains(sc, "Done.")
		})
	}
	if st := gitT(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("the person's checkout changed while the sessions ran:\n%s", st)
	}
	code, out, errOut := runCLI(t, "-C", dir, "session", "list", "--json")
	var recs []struct {
		Task string `json:"task"`
		PID  int    `json:"pid"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &recs) != nil || len(recs) != 2 {
		t.Fatalf("session list: exit %d %s %s", code, out, errOut)
	}
	taskA := ""
	for _, r := range recs {
		if r.PID == a.cmd.Process.Pid {
			taskA = r.Task
		}
	}
	if taskA == "" {
		t.Fatalf("session list does not show session a (pid %d): %s", a.cmd.Process.Pid, out)
	}
	if code, _, errOut := runCLI(t, "-C", dir, "session", "checkpoint"); code == 0 || !strings.Contains(errOut, "name the task") {
		t.Errorf("checkpoint with two sessions and no task: exit %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "-C", dir, "session", "checkpoint", taskA); code != 0 {
		t.Fatalf("session checkpoint %s: exit %d %s", taskA, code, errOut)
	}
	if code := a.wait(); code != 0 {
		t.Fatalf("session a after its checkpoint: exit %d\n%s", code, tailOf(a.screen(), 4000))
	}
	b.typeText("\x03")
	b.waitFor("Claude Code's exit hint", func(sc string) bool { return strings.Contains(sc, "again to exit") })
	b.typeText("\x03")
	if code := b.wait(); code != 0 {
		t.Fatalf("session b after Ctrl-C twice: exit %d\n%s", code, tailOf(b.screen(), 4000))
	}
	for _, file := range []string{"a.txt", "b.txt"} {
		if got := gitT(t, dir, "show", "main:"+file); got != file+" from its session" {
			t.Errorf("main:%s = %q", file, got)
		}
	}
	for _, x := range []*ptySession{a, b} {
		if m := regexp.MustCompile(`agent ran \S+; pipeline after it took \S+`).FindString(x.screen()); m != "" {
			t.Logf("figure (one-file change): %s", m)
		}
	}
	if n := gitT(t, dir, "rev-list", "--count", "main"); n != "3" {
		t.Errorf("main has %s commits, want the base and one per session", n)
	}
	if code, out, _ := runCLI(t, "-C", dir, "session", "list"); code != 0 || out != "" {
		t.Errorf("sessions still listed after both ended: %s", out)
	}
}

// TestSessionCodex drives the real Codex CLI interactively in `agentos
// session codex`, its model a scripted local Responses API named in the
// person's -c arguments (the session's only reachable endpoint): a write
// inside lands as a commit, a write outside and a command towards another
// host fail, judged on the host. (A model name Codex does not know offers
// no apply_patch tool in its TUI, and a known one opens a model-upgrade
// dialog first: the writes are shell commands.)
func TestSessionCodex(t *testing.T) {
	bin := contractortest.CodexCLI(t)
	dir := mustGovernedRepo(t, sessionPolicy)
	home, _ := sessionHome(t, dir, "sk-unused-for-codex-000000000000")
	outside := filepath.Join(t.TempDir(), "outside.txt")
	otherHost, hits := listener(t)
	f := &contractortest.FakeResponses{Script: []func(string) contractortest.CodexCall{
		func(string) contractortest.CodexCall {
			return contractortest.CodexCall{Shell: "printf 'hello from a session\\n' > hello.txt"}
		},
		func(string) contractortest.CodexCall {
			return contractortest.CodexCall{Shell: "printf escaped > " + outside}
		},
		func(string) contractortest.CodexCall {
			return contractortest.CodexCall{Shell: "curl -s -m 5 http://" + otherHost + "/"}
		},
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	env := []string{"HOME=" + home, "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "TERM=xterm-256color",
		"LOCAL_MODEL_KEY=sk-local", "XDG_CONFIG_HOME=" + os.Getenv("XDG_CONFIG_HOME")}
	s := startPTYSession(t, dir, env, "session", "codex", "-m", "say hello", "--",
		"-c", `model_provider="local"`, "-c", `model="agentos-test-model"`,
		"-c", `model_providers.local={name="local", base_url="`+srv.URL+`/v1", env_key="LOCAL_MODEL_KEY", wire_api="responses"}`)
	// The person trusts the task's folder at Codex's own prompt.
	s.waitFor("Codex's trust prompt", func(sc string) bool { return strings.Contains(sc, "Trust and continue") })
	s.pressUntil("Codex's prompt", "\r", func(sc string) bool {
		i := strings.LastIndex(sc, "Trust and continue")
		return strings.Contains(sc[i:], "Ask Codex to do anything")
	})
	s.submit("say hello in hello.txt")
	s.waitFor("the end of the scripted turns", func(string) bool { return len(f.Results()) >= len(f.Script) })
	if st := gitT(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("the person's checkout changed during the session:\n%s", st)
	}
	s.submit("/quit")
	code := s.wait()
	sc := s.screen()
	if code != 0 {
		t.Fatalf("agentos session codex: exit %d\n%s", code, tailOf(sc, 6000))
	}
	if got := gitT(t, dir, "show", "main:hello.txt"); got != "hello from a session" {
		t.Errorf("main:hello.txt = %q", got)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("%s exists: a write outside the repository got through", outside)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the host that is not the model's was reached %d times", n)
	}
	if !regexp.MustCompile(`review\s+\S+\.md`).MatchString(sc) {
		t.Errorf("no ReviewPack path in the session's output:\n%s", tailOf(sc, 3000))
	}
	t.Logf("results: %v", f.Results())
}

// TestSessionOpenCode drives the real OpenCode TUI in `agentos session
// opencode`, its provider a scripted local Chat Completions server named in
// OPENCODE_CONFIG_CONTENT (the session's only reachable endpoint): the write
// inside lands as a commit; the write outside and the other host fail.
func TestSessionOpenCode(t *testing.T) {
	bin := contractortest.OpenCodeCLI(t)
	dir := mustGovernedRepo(t, sessionPolicy)
	home, _ := sessionHome(t, dir, "sk-unused-for-opencode-0000000000")
	outside := filepath.Join(t.TempDir(), "outside.txt")
	otherHost, hits := listener(t)
	f := &contractortest.FakeChat{Script: []func(string) contractortest.ToolCall{
		func(cwd string) contractortest.ToolCall {
			return contractortest.ToolCall{Name: "write", Args: map[string]any{"filePath": filepath.Join(cwd, "hello.txt"), "content": "hello from a session\n"}}
		},
		func(string) contractortest.ToolCall {
			return contractortest.ToolCall{Name: "write", Args: map[string]any{"filePath": outside, "content": "escaped\n"}}
		},
		func(string) contractortest.ToolCall {
			return contractortest.ToolCall{Name: "bash", Args: map[string]any{"command": "curl -s -m 5 http://" + otherHost + "/", "description": "fetch"}}
		},
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	provider, _ := json.Marshal(map[string]any{
		"provider": map[string]any{"local": map[string]any{
			"npm": "@ai-sdk/openai-compatible", "name": "local",
			"options": map[string]any{"baseURL": srv.URL + "/v1", "apiKey": "sk-local"},
			"models":  map[string]any{"m": map[string]any{"name": "m", "tool_call": true}},
		}},
		"model": "local/m", "small_model": "local/m",
	})
	env := []string{"HOME=" + home, "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "TERM=xterm-256color",
		"OPENCODE_CONFIG_CONTENT=" + string(provider), "XDG_CONFIG_HOME=" + os.Getenv("XDG_CONFIG_HOME")}
	s := startPTYSession(t, dir, env, "session", "opencode", "-m", "say hello")
	s.waitFor("OpenCode's prompt", func(sc string) bool { return strings.Contains(sc, "ctrl+p") || strings.Contains(sc, "Ask anything") })
	s.submit("say hello in hello.txt")
	s.waitFor("the end of the scripted turns", func(string) bool { return len(f.Results()) >= len(f.Script) })
	if st := gitT(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("the person's checkout changed during the session:\n%s", st)
	}
	s.waitFor("OpenCode's answer", func(sc string) bool { return strings.Contains(sc, "Done.") })
	s.typeText("\x03") // OpenCode's exit key
	code := s.wait()
	sc := s.screen()
	if code != 0 {
		t.Fatalf("agentos session opencode: exit %d\n%s", code, tailOf(sc, 6000))
	}
	if got := gitT(t, dir, "show", "main:hello.txt"); got != "hello from a session" {
		t.Errorf("main:hello.txt = %q", got)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("%s exists: a write outside the repository got through", outside)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the host that is not the model's was reached %d times", n)
	}
	if !regexp.MustCompile(`review\s+\S+\.md`).MatchString(sc) {
		t.Errorf("no ReviewPack path in the session's output:\n%s", tailOf(sc, 3000))
	}
	t.Logf("results: %v", f.Results())
}
