//go:build linux

package sandbox_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agentos/agentos/sandbox"
)

// The red line through the real CLI: `agentos sandbox run` with a policy,
// against deny-rule dodges and writes to protected paths.

var (
	buildOnce  sync.Once
	agentosBin string
	buildErr   error
)

func agentosBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "agentos-bin-")
		if err != nil {
			buildErr = err
			return
		}
		agentosBin = filepath.Join(dir, "agentos")
		out, err := exec.Command("go", "build", "-o", agentosBin, "github.com/agentos/agentos/cmd/agentos").CombinedOutput()
		if err != nil {
			buildErr = err
			agentosBin = string(out)
		}
	})
	if buildErr != nil {
		t.Skipf("cannot build agentos (the tree may be mid-change): %v\n%s", buildErr, agentosBin)
	}
	return agentosBin
}

const cliPolicy = `version: 1
commands:
  allow: [rm, cat, git, ls, "true", echo]
  rules:
    - id: no-rm-rf
      prefix: [rm, -rf]
      decision: deny
      reason: recursive forced delete
      match: [[rm, -rf, x]]
sandbox:
  require: true
`

func cliRepo(t *testing.T) string {
	t.Helper()
	if !sandbox.Check().OK() {
		unavailable(t, "sandbox unavailable here: %v", sandbox.Check().Missing(false))
	}
	repo := filepath.Join(t.TempDir(), "repo")
	for _, args := range [][]string{{"init", "-q", repo}, {"-C", repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "x"}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Skipf("git: %v %s", err, out)
		}
	}
	must(t, os.WriteFile(filepath.Join(repo, "agentos.yaml"), []byte(cliPolicy), 0o644))
	commitPolicy(t, repo)
	must(t, os.MkdirAll(filepath.Join(repo, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(repo, "sub", "keep"), []byte("keep"), 0o644))
	rm, err := exec.LookPath("rm")
	must(t, err)
	must(t, os.Symlink(rm, filepath.Join(repo, "myrm")))
	return repo
}

// commitPolicy commits agentos.yaml: only the committed policy governs.
func commitPolicy(t *testing.T, repo string) {
	t.Helper()
	for _, args := range [][]string{{"-C", repo, "add", "agentos.yaml"}, {"-C", repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "policy"}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
}

func runCLI(t *testing.T, repo string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(agentosBinary(t), args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("agentos %s -> exit %d\n%s", strings.Join(args, " "), code, out)
	return string(out), code
}

// policyCache is the policy cached in .git for the repository's HEAD.
func policyCache(t *testing.T, repo string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output()
	must(t, err)
	b, err := os.ReadFile(filepath.Join(repo, ".git", "agentos", "committed", strings.TrimSpace(string(out))+".policy"))
	must(t, err)
	return string(b)
}

func TestCLISandboxCheck(t *testing.T) {
	repo := cliRepo(t)
	out, code := runCLI(t, repo, nil, "sandbox", "check", "--json")
	var rep sandbox.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if code != 0 || !rep.OK() {
		t.Fatalf("check: exit %d, report %+v", code, rep)
	}
}

func TestCLISandboxRunEscapes(t *testing.T) {
	repo := cliRepo(t)
	home := filepath.Join(t.TempDir(), "home")
	must(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	must(t, os.WriteFile(filepath.Join(home, ".ssh", "id_rsa"), []byte("PRIVATE KEY"), 0o600))
	before, _ := os.ReadFile(filepath.Join(repo, ".git", "config"))
	// The policy in force as cached by commit in .git (gitrepo/fastref.go):
	// warmed by a first run, and never writable from inside.
	runCLI(t, repo, nil, "sandbox", "run", "--", "true")
	cached := policyCache(t, repo)
	cases := []struct {
		name string
		argv []string
	}{
		{"deny rule", []string{"rm", "-rf", "sub"}},
		{"full path", []string{"/usr/bin/rm", "-rf", "sub"}},
		{"symlinked binary", []string{"./myrm", "-rf", "sub"}},
		{"env wrapper", []string{"env", "rm", "-fr", "sub"}},
		{"timeout wrapper", []string{"timeout", "5", "rm", "-r", "-f", "sub"}},
		{"sh -c chain", []string{"sh", "-c", "true && rm -rf sub"}},
		{"command substitution", []string{"sh", "-c", "echo $(rm -rf sub)"}},
		{"sudo", []string{"sudo", "rm", "sub/keep"}},
		{"policy file", []string{"sh", "-c", "echo 'sandbox: {require: false}' >> agentos.yaml"}},
		{"git hooks", []string{"sh", "-c", "echo evil > .git/hooks/pre-commit"}},
		{"git config", []string{"git", "config", "core.hooksPath", "/tmp"}},
		{"policy cache", []string{"sh", "-c", "for f in .git/agentos/committed/*.policy; do printf 'ok\\nversion: 1\\nsandbox: {require: false}\\n' > $f; done"}},
		{"ssh key under HOME", []string{"cat", filepath.Join(home, ".ssh", "id_rsa")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runCLI(t, repo, []string{"HOME=" + home}, append([]string{"sandbox", "run", "--"}, tc.argv...)...)
			if code == 0 {
				t.Fatal("escape attempt succeeded (exit 0)")
			}
			if strings.Contains(out, "PRIVATE KEY") {
				t.Fatal("secret leaked")
			}
			if _, err := os.Stat(filepath.Join(repo, "sub", "keep")); err != nil {
				t.Fatal("sub/keep was deleted")
			}
			if data, _ := os.ReadFile(filepath.Join(repo, "agentos.yaml")); string(data) != cliPolicy {
				t.Fatal("agentos.yaml changed")
			}
			if after, _ := os.ReadFile(filepath.Join(repo, ".git", "config")); string(after) != string(before) {
				t.Fatal(".git/config changed")
			}
			if _, err := os.Stat(filepath.Join(repo, ".git", "hooks", "pre-commit")); err == nil {
				t.Fatal("hook planted")
			}
			if now := policyCache(t, repo); now != cached {
				t.Fatalf("the policy cache changed: %q, was %q", now, cached)
			}
		})
	}
	t.Run("allowed command runs and writes the worktree", func(t *testing.T) {
		out, code := runCLI(t, repo, nil, "sandbox", "run", "--", "sh", "-c", "echo ok > made && cat made && rm sub/keep")
		if code != 0 || !strings.Contains(out, "ok") {
			t.Fatalf("exit %d: %s", code, out)
		}
		if _, err := os.Stat(filepath.Join(repo, "sub", "keep")); err == nil {
			t.Fatal("allowed rm did not run")
		}
	})
}

// TestCLISandboxRunAllowTCP: `agentos sandbox run --allow-tcp` opens exactly
// the destination named, on top of sandbox.allow_tcp.
func TestCLISandboxRunAllowTCP(t *testing.T) {
	repo := cliRepo(t)
	if m := sandbox.Check().MissingAllowTCP(); len(m) > 0 {
		t.Skipf("TCP allowlist unavailable here: %v", m)
	}
	a, other := newEchoServer(t), newEchoServer(t)
	exe := testExe(t)
	policy := fmt.Sprintf("version: 1\ncommands:\n  allow: [%q]\nexec:\n  env_allow: [%s]\nsandbox:\n  require: true\n  read_only: [%q]\n  allow_tcp: [%q]\n",
		filepath.Base(exe), probeEnv, filepath.Dir(exe), other.addr())
	must(t, os.WriteFile(filepath.Join(repo, "agentos.yaml"), []byte(policy), 0o644))
	commitPolicy(t, repo)
	env := []string{probeEnv + "=echo"}

	out, code := runCLI(t, repo, env, "sandbox", "run", "--allow-tcp", a.addr(), "--", exe, a.addr())
	if code != 0 || !strings.Contains(out, "ESCAPED") {
		t.Fatalf("--allow-tcp %s: exit %d, want the exchange to succeed", a.addr(), code)
	}
	out, code = runCLI(t, repo, env, "sandbox", "run", "--", exe, other.addr())
	if code != 0 || !strings.Contains(out, "ESCAPED") {
		t.Fatalf("sandbox.allow_tcp %s: exit %d, want the exchange to succeed", other.addr(), code)
	}
	_, code = runCLI(t, repo, env, "sandbox", "run", "--", exe, a.addr())
	if code == 0 {
		t.Fatal("reached a destination that neither --allow-tcp nor sandbox.allow_tcp names")
	}
	out, code = runCLI(t, repo, nil, "sandbox", "check")
	if code != 0 || !strings.Contains(out, "tcp allowlist") {
		t.Fatalf("sandbox check does not report the TCP allowlist: exit %d", code)
	}
}
