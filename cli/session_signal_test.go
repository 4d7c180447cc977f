package cli

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestSessionSignalEndsTask: SIGTERM, SIGHUP (the terminal closed) and
// SIGINT sent to `agentos session claude` while its agent runs end the
// session's task cancelled by that signal, with its ReviewPack, no lease
// and no process of the agent left, the person's checkout untouched, and
// the documented exit code (128 + the signal). The agent here is a stand-in
// that prints a line and sleeps: what is tested is AgentOS's end of the
// session, not the agent.
func TestSessionSignalEndsTask(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := mustGovernedRepo(t, sessionPolicy)
			bin := t.TempDir()
			marker := fmt.Sprint(7000 + int(sig))
			os.WriteFile(filepath.Join(bin, "claude"), []byte("#!/bin/sh\necho stand-in agent ready\nexec sleep "+marker+"\n"), 0o755)
			home := filepath.Join(t.TempDir(), "home")
			os.MkdirAll(home, 0o700)
			env := []string{"HOME=" + home, "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "TERM=xterm-256color",
				"ANTHROPIC_API_KEY=sk-ant-fake", "CI=" + os.Getenv("CI")}
			head := gitT(t, dir, "rev-parse", "main")
			s := startPTYSession(t, dir, env, "session", "claude", "-m", "a session stopped by "+sig.String())
			s.waitFor("the agent", func(sc string) bool { return strings.Contains(sc, "stand-in agent ready") })
			s.cmd.Process.Signal(sig)
			code := s.wait()
			if code != 128+int(sig) {
				t.Errorf("exit %d after %s, want %d:\n%s", code, sig, 128+int(sig), tailOf(s.screen(), 3000))
			}
			db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, ".agentos", "agentos.db")+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var id, state string
			if err := db.QueryRow(`SELECT id, state FROM tasks ORDER BY created_at DESC LIMIT 1`).Scan(&id, &state); err != nil {
				t.Fatalf("no task of the session: %v\n%s", err, tailOf(s.screen(), 3000))
			}
			if state != "cancelled" {
				t.Errorf("the session's task is %s after %s, want cancelled:\n%s", state, sig, tailOf(s.screen(), 3000))
			}
			var n int
			db.QueryRow(`SELECT count(*) FROM audit WHERE task = ? AND kind = 'task.transition' AND data LIKE ?`, id, "%"+sigName(sig)+"%").Scan(&n)
			if n == 0 {
				t.Errorf("the cancellation does not name %s in the audit", sigName(sig))
			}
			db.QueryRow(`SELECT count(*) FROM locks`).Scan(&n)
			if n != 0 {
				t.Errorf("%d lease(s) left after the session stopped", n)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, ".agentos", "reviews", id+"-*.json")); len(m) == 0 {
				t.Errorf("no ReviewPack of %s after %s", id, sig)
			}
			if out, _ := exec.Command("pgrep", "-f", "sleep "+marker).Output(); len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("the agent's process outlived the session: pids %s", out)
			}
			if got := gitT(t, dir, "rev-parse", "main"); got != head {
				t.Errorf("main moved: %s, was %s", got, head)
			}
			if st := gitT(t, dir, "status", "--porcelain"); st != "" {
				t.Errorf("the person's checkout changed:\n%s", st)
			}
		})
	}
}

func sigName(s syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT"}[s]
}

// TestSessionRedacts: a token in a session's goal reaches neither the
// commit message on the target, nor the store's bytes, nor the
// ReviewPacks, nor what AgentOS prints after the agent exits.
func TestSessionRedacts(t *testing.T) {
	const token = "ghp_R8xQ2mK9vL4nP7tY1wE5zC3bH6jF0dS8aG2u"
	dir := mustGovernedRepo(t, sessionPolicy)
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "claude"), []byte("#!/bin/sh\nprintf 'hello\\n' > hello.txt\necho stand-in agent done\n"), 0o755)
	home := filepath.Join(t.TempDir(), "home")
	os.MkdirAll(home, 0o700)
	env := []string{"HOME=" + home, "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "TERM=xterm-256color",
		"ANTHROPIC_API_KEY=sk-ant-fake", "CI=" + os.Getenv("CI")}
	s := startPTYSession(t, dir, env, "session", "claude", "-m", "rotate "+token+" today")
	if code := s.wait(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, tailOf(s.screen(), 3000))
	}
	if got := gitT(t, dir, "show", "main:hello.txt"); got != "hello" {
		t.Fatalf("the session did not commit (so nothing was tested): main:hello.txt = %q", got)
	}
	if log := gitT(t, dir, "log", "--format=%B", "main"); strings.Contains(log, token) || !strings.Contains(log, "REDACTED") {
		t.Errorf("the commit message holds the token, or is not the session's goal:\n%s", log)
	}
	if strings.Contains(s.screen(), token) {
		t.Errorf("agentos printed the token:\n%s", tailOf(s.screen(), 3000))
	}
	files, _ := filepath.Glob(filepath.Join(dir, ".agentos", "agentos.db*"))
	reviews, _ := filepath.Glob(filepath.Join(dir, ".agentos", "reviews", "*"))
	for _, f := range append(files, reviews...) {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), token) {
			t.Errorf("%s holds the token", f)
		}
	}
}

// TestSessionSecretsGate: a file with a secret that the session's agent
// wrote is found in the final diff before commit: the secrets gate holds
// the change for a person, the target stays where it was, and the finding
// is named, and the secret is in nothing AgentOS printed (the store keeps the held change itself, as for any plan that
// writes content: a person's approval applies it).
func TestSessionSecretsGate(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	dir := mustGovernedRepo(t, sessionPolicy+"gates:\n  - {id: secrets, when: step.secrets, effect: require_approval, message: the change holds what looks like a secret}\n")
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "claude"), []byte("#!/bin/sh\nprintf 'hello\\n' > hello.txt\nprintf 'aws_secret_access_key = "+secret+"\\n' > deploy.env\n"), 0o755)
	home := filepath.Join(t.TempDir(), "home")
	os.MkdirAll(home, 0o700)
	env := []string{"HOME=" + home, "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "TERM=xterm-256color",
		"ANTHROPIC_API_KEY=sk-ant-fake", "CI=" + os.Getenv("CI")}
	head := gitT(t, dir, "rev-parse", "main")
	s := startPTYSession(t, dir, env, "session", "claude", "-m", "deploy settings")
	code := s.wait()
	if code != 4 {
		t.Errorf("exit %d, want 4 (awaiting approval):\n%s", code, tailOf(s.screen(), 3000))
	}
	if got := gitT(t, dir, "rev-parse", "main"); got != head {
		t.Errorf("main moved to %s: the secret was committed", got)
	}
	if !strings.Contains(s.screen(), "secrets") {
		t.Errorf("the secrets gate is not named:\n%s", tailOf(s.screen(), 3000))
	}
	if strings.Contains(s.screen(), secret) {
		t.Errorf("agentos printed the secret")
	}
	_, list, _ := runCLI(t, "-C", dir, "task", "list", "--jq", ".[0].id")
	id := strings.TrimSpace(list)
	code, explain, errOut := runCLI(t, "-C", dir, "policy", "explain", id)
	if code != 0 || !regexp.MustCompile(`secrets +require_approval +step +steps 1 .*deploy\.env`).MatchString(explain) || strings.Contains(explain, secret) {
		t.Errorf("policy explain %s (exit %d) does not show the secrets gate holding it, or shows the secret:\n%s%s", id, code, explain, errOut)
	}
}
