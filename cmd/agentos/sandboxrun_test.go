package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The light path of `agentos sandbox run` (cli/sandboxrun's init takes the
// process over before the rest of agentos initialises) against the full
// command tree: the same command line gives the same stdout, stderr and
// exit code either way. Which path ran is judged by the Go runtime's init
// trace (package cli initialised or not), not by AgentOS.

const lightPolicy = `version: 1
commands:
  allow: ["true", echo, sh, sleep, rm, git, nosuchcmd]
  rules:
    - id: no-rm-rf
      prefix: [rm, -rf]
      decision: deny
      reason: recursive forced delete
      match: [[rm, -rf, x]]
    - id: push-needs-a-person
      prefix: [git, push]
      decision: approve
      reason: publishing
      match: [[git, push]]
redact:
  patterns: ['hush-[0-9]+']
sandbox:
  require: true
`

func gitIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@e", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@e", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// lightRepo is a repository with lightPolicy committed.
func lightRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but no git")
		}
		t.Skip("no git")
	}
	repo := filepath.Join(t.TempDir(), "repo")
	os.MkdirAll(repo, 0o755)
	gitIn(t, repo, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(repo, "agentos.yaml"), []byte(lightPolicy), 0o644)
	gitIn(t, repo, "add", "agentos.yaml")
	gitIn(t, repo, "commit", "-q", "-m", "policy")
	return repo
}

type runOutcome struct {
	stdout, stderr string
	code           int
	light          bool // package cli was never initialised
}

// runAgentos runs the agentos of the scripts (this test binary) in dir.
func runAgentos(t *testing.T, dir string, full bool, args ...string) runOutcome {
	t.Helper()
	cmd := exec.Command("agentos", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1", "NO_COLOR=1")
	if full {
		cmd.Env = append(cmd.Env, "AGENTOS_SANDBOX_RUN_FULL=1")
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	o := runOutcome{stdout: stdout.String(), code: cmd.ProcessState.ExitCode(), light: true}
	var rest []string
	for _, line := range strings.SplitAfter(stderr.String(), "\n") {
		if strings.HasPrefix(line, "init ") {
			if strings.HasPrefix(line, "init github.com/agentos/agentos/cli @") {
				o.light = false
			}
			continue
		}
		rest = append(rest, line)
	}
	o.stderr = strings.Join(rest, "")
	return o
}

func TestSandboxRunLightPathMatchesFull(t *testing.T) {
	repo := lightRepo(t)
	sub := filepath.Join(repo, "sub")
	os.MkdirAll(sub, 0o755)
	elsewhere := t.TempDir()
	cases := []struct {
		name  string
		dir   string
		args  []string
		light bool // the light path takes it over
	}{
		{"allowed", repo, []string{"sandbox", "run", "--", "echo", "hi"}, true},
		{"allowed without --", repo, []string{"sandbox", "run", "echo", "hi"}, true},
		{"from a subdirectory", sub, []string{"sandbox", "run", "--", "sh", "-c", "pwd"}, true},
		{"-C", elsewhere, []string{"-C", repo, "sandbox", "run", "--", "sh", "-c", "pwd"}, true},
		{"--repo=", elsewhere, []string{"--repo=" + repo, "sandbox", "run", "--", "true"}, true},
		{"denied", repo, []string{"sandbox", "run", "--", "rm", "-rf", "x"}, true},
		{"not allowed", repo, []string{"sandbox", "run", "--", "cat", "agentos.yaml"}, true},
		{"needs approval", repo, []string{"sandbox", "run", "--", "git", "push"}, true},
		{"missing executable", repo, []string{"sandbox", "run", "--", "nosuchcmd"}, true},
		{"non-zero exit", repo, []string{"sandbox", "run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"}, true},
		{"redacted error", repo, []string{"sandbox", "run", "--", "sh", "-c", "exit 4", "hush-123"}, true},
		{"timeout", repo, []string{"sandbox", "run", "--timeout", "300ms", "--", "sleep", "5"}, true},
		{"--timeout=", repo, []string{"sandbox", "run", "--timeout=1m", "--", "true"}, true},
		{"--network", repo, []string{"sandbox", "run", "--network", "--", "echo", "net"}, true},
		{"--allow-tcp bad", repo, []string{"sandbox", "run", "--allow-tcp", "nope", "--", "true"}, true},
		{"write outside", repo, []string{"sandbox", "run", "--", "sh", "-c", "echo x > /etc/agentos-x"}, true},
		// The full command tree's shapes: the light path steps aside.
		{"bad flag", repo, []string{"sandbox", "run", "--bogus", "--", "true"}, false},
		{"flag after CMD", repo, []string{"sandbox", "run", "echo", "--network"}, false},
		{"bad duration", repo, []string{"sandbox", "run", "--timeout", "soon", "--", "true"}, false},
		{"no command", repo, []string{"sandbox", "run", "--"}, false},
		{"help", repo, []string{"sandbox", "run", "--help"}, false},
		{"other global flag", repo, []string{"--debug", "sandbox", "run", "--", "true"}, false},
		{"not a repository", elsewhere, []string{"sandbox", "run", "--", "true"}, false},
	}
	check := func(t *testing.T, dir string, light bool, args []string) {
		t.Helper()
		got, want := runAgentos(t, dir, false, args...), runAgentos(t, dir, true, args...)
		if want.light {
			t.Fatalf("AGENTOS_SANDBOX_RUN_FULL=1 still took the light path")
		}
		if got.light != light {
			t.Errorf("light path taken: %v, want %v", got.light, light)
		}
		if got.stdout != want.stdout || got.stderr != want.stderr || got.code != want.code {
			t.Errorf("light path:\n  exit %d\n  stdout %q\n  stderr %q\nfull command tree:\n  exit %d\n  stdout %q\n  stderr %q",
				got.code, got.stdout, got.stderr, want.code, want.stdout, want.stderr)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, c.dir, c.light, c.args) })
	}
	// The working tree's policy is not the one in force: both say so.
	t.Run("uncommitted policy", func(t *testing.T) {
		os.WriteFile(filepath.Join(repo, "agentos.yaml"), []byte(strings.Replace(lightPolicy, "sleep, ", "sleep, cat, ", 1)), 0o644)
		check(t, repo, true, []string{"sandbox", "run", "--", "cat", "agentos.yaml"})
	})
	// No policy committed: the embedded defaults, which the full command
	// tree renders.
	t.Run("embedded defaults", func(t *testing.T) {
		gitIn(t, repo, "rm", "-q", "--cached", "agentos.yaml")
		gitIn(t, repo, "commit", "-q", "-m", "no policy")
		check(t, repo, false, []string{"sandbox", "run", "--", "true"})
	})
}

// TestSandboxRunStartsBeforeTheHeavyPackages: `agentos sandbox run` takes
// over before the command tree, the policy language, the stores, the model
// clients and telemetry initialise (issue 13: the start overhead). Judged
// by the Go runtime's init trace.
func TestSandboxRunStartsBeforeTheHeavyPackages(t *testing.T) {
	repo := lightRepo(t)
	o := runAgentos(t, repo, false, "sandbox", "run", "--", "true")
	trace := runAgentosTrace(t, repo)
	if o.code != 0 && !strings.Contains(o.stderr, "sandbox") {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	for _, pkg := range []string{
		"github.com/agentos/agentos/cli",
		"github.com/agentos/agentos/policy",
		"github.com/agentos/agentos/coordinator",
		"github.com/agentos/agentos/postgres",
		"github.com/openai/openai-go/v3",
		"github.com/spf13/cobra",
		"google.golang.org/grpc",
		"modernc.org/sqlite",
		"github.com/modelcontextprotocol/go-sdk/mcp",
		"github.com/google/cel-go/cel",
	} {
		if strings.Contains(trace, "init "+pkg+" @") {
			t.Errorf("package %s was initialised before `sandbox run` took over", pkg)
		}
	}
	if !strings.Contains(trace, "init github.com/agentos/agentos/sandbox @") {
		t.Fatalf("no init trace:\n%s", trace)
	}
}

func runAgentosTrace(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command("agentos", "sandbox", "run", "--", "true")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, _ := cmd.CombinedOutput()
	return string(out)
}
