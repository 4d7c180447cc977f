package cli

import (
	"bytes"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentos/agentos/policy"
	_ "modernc.org/sqlite"
)

// gateRepo is a git repository initialised for AgentOS with the default
// gates, three approvers and extra policy text.
func gateRepo(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	policyText := "version: 1\ntarget: main\napprovers: [ann, bob, cy]\nsandbox: {require: false}\ncommands: {allow: [\"true\"]}\n" +
		signersYAML(t, dir, "ann", "bob", "cy", "dave") + policy.DefaultGatesYAML + extra
	mustWrite(t, filepath.Join(dir, "agentos.yaml"), policyText)
	mustWrite(t, filepath.Join(dir, ".gitignore"), ".agentos/\n")
	mustWrite(t, filepath.Join(dir, "README.md"), "hello\n")
	mustStore(t, dir)
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "init")
	return dir
}

func mustWrite(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=ann", "-c", "user.email=ann@example.com"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func writePlan(t *testing.T, dir, name, path, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	mustWrite(t, p, "version: 1\ngoal: change "+path+"\nsteps:\n  - write:\n      path: "+path+"\n      content: "+strconvQuote(content)+"\nverify:\n  - argv: [\"true\"]\n")
	return p
}

func strconvQuote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "\n", `\n`) + `"`
}

type result struct {
	code           int
	stdout, stderr string
}

func agentosIn(t *testing.T, dir string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(append([]string{"-C", dir}, args...), strings.NewReader(""), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

var approveHint = regexp.MustCompile("agentos approve (t[a-z0-9]+) --plan (sha256:[0-9a-f]{64})")

// runAwaiting runs a plan that must stop for approval and returns task and hash.
func runAwaiting(t *testing.T, dir, plan string, extra ...string) (string, string) {
	t.Helper()
	r := agentosIn(t, dir, append([]string{"run", "--plan", plan, "--as", "ann", "--signing-key", keyOf(dir, "ann")}, extra...)...)
	if r.code != ExitAwaitingApproval {
		t.Fatalf("run exit = %d, want %d\nstderr: %s", r.code, ExitAwaitingApproval, r.stderr)
	}
	m := approveHint.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("run stderr names no `agentos approve TASK --plan HASH`: %s", r.stderr)
	}
	return m[1], m[2]
}

func TestApproveFlow(t *testing.T) {
	dir := gateRepo(t, "")
	if r := agentosIn(t, dir, "run", "--plan", writePlan(t, dir, "docs.yaml", "docs/a.md", "hi\n"), "--as", "ann", "--signing-key", keyOf(dir, "ann")); r.code != 0 {
		t.Fatalf("ungated plan: exit %d, want 0\n%s", r.code, r.stderr)
	}
	task, hash := runAwaiting(t, dir, writePlan(t, dir, "ci.yaml", ".github/workflows/ci.yml", "on: push\n"))

	explain := agentosIn(t, dir, "policy", "explain", task)
	if explain.code != 0 || !regexp.MustCompile(`ci-config\s+require_approval\s+step\s+steps 1`).MatchString(explain.stdout) {
		t.Errorf("policy explain: exit %d, want ci-config matched on step 1:\n%s%s", explain.code, explain.stdout, explain.stderr)
	}
	other := "sha256:" + strings.Repeat("0", 64)
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string
	}{
		{"wrong hash", []string{"approve", task, "--plan", other, "--signing-key", keyOf(dir, "bob")}, nil, ExitFailed, "is not the current plan"},
		{"no hash", []string{"approve", task, "--signing-key", keyOf(dir, "bob")}, nil, ExitUsage, "--plan is required"},
		{"not an approver", []string{"approve", task, "--plan", hash, "--signing-key", keyOf(dir, "dave")}, nil, ExitFailed, "not an approver"},
		{"agent identity", []string{"approve", task, "--plan", hash, "--as", "agent:planner"}, nil, ExitFailed, "agent identity"},
		{"inside an agent session", []string{"approve", task, "--plan", hash, "--signing-key", keyOf(dir, "bob")}, map[string]string{"AGENTOS_HOOK": "x"}, ExitFailed, "agent session"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := agentosIn(t, dir, tc.args...)
			if r.code != tc.wantCode || !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", r.code, r.stderr, tc.wantCode, tc.wantErr)
			}
		})
	}
	r := agentosIn(t, dir, "approve", task, "--plan", hash, "--signing-key", keyOf(dir, "bob"), "--comment", "ok, db_password=\"Tr0ub4dor&3x\"")
	if r.code != 0 || !strings.Contains(r.stdout, "committed") {
		t.Fatalf("approve: exit %d, want 0 and committed\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Redaction: the secret in the comment is stored nowhere.
	db, err := sql.Open("sqlite", filepath.Join(dir, ".agentos", "agentos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`SELECT count(*) FROM audit WHERE data LIKE '%Tr0ub4dor%'`, `SELECT count(*) FROM approvals WHERE comment LIKE '%Tr0ub4dor%'`} {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s = %d, %v; want 0 (redacted)", q, n, err)
		}
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'approval' AND data LIKE '%REDACTED%'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("redacted approval events = %d, %v; want 1", n, err)
	}
}

func TestTwoOfThreeAndStaleBase(t *testing.T) {
	dir := gateRepo(t, "")
	pol := filepath.Join(dir, "agentos.yaml")
	b, _ := os.ReadFile(pol)
	mustWrite(t, pol, strings.Replace(string(b), "    message: the plan changes CI configuration\n", "    message: the plan changes CI configuration\n    approvals: 2\n", 1))
	git(t, dir, "commit", "-q", "-am", "two approvals for CI")
	task, hash := runAwaiting(t, dir, writePlan(t, dir, "ci.yaml", ".github/workflows/ci.yml", "on: push\n"))

	if r := agentosIn(t, dir, "approve", task, "--plan", hash, "--signing-key", keyOf(dir, "bob")); r.code != ExitAwaitingApproval || !strings.Contains(r.stderr, "1 more approval") {
		t.Fatalf("first approval: exit %d, want 4 and 1 more needed\n%s", r.code, r.stderr)
	}
	if r := agentosIn(t, dir, "approve", task, "--plan", hash, "--signing-key", keyOf(dir, "bob")); r.code != ExitAwaitingApproval {
		t.Fatalf("same approver twice: exit %d, want 4 (counted once)\n%s", r.code, r.stderr)
	}
	// The base moves: bob's approval is stale and no longer counts.
	mustWrite(t, filepath.Join(dir, "README.md"), "moved\n")
	git(t, dir, "commit", "-q", "-am", "base moves")
	r := agentosIn(t, dir, "approve", task, "--plan", hash, "--signing-key", keyOf(dir, "cy"))
	if r.code != ExitAwaitingApproval || !strings.Contains(r.stderr, "approval by human:bob is stale: the base moved") {
		t.Fatalf("approval after the base moved: exit %d, want 4 naming bob's stale approval\n%s", r.code, r.stderr)
	}
	r = agentosIn(t, dir, "approve", task, "--plan", hash, "--signing-key", keyOf(dir, "bob"))
	if r.code != 0 || !strings.Contains(r.stdout, "committed") {
		t.Fatalf("re-approval: exit %d, want 0 and committed\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestFullAutoAndReject(t *testing.T) {
	dir := gateRepo(t, `
auto_approve:
  - id: lint-workflows
    rules: [ci-config]
    when: plan.paths.all(p, glob(p, ".github/workflows/lint*.yml"))
`)
	r := agentosIn(t, dir, "run", "--mode", "full_auto", "--as", "ann", "--signing-key", keyOf(dir, "ann"), "--plan", writePlan(t, dir, "ci.yaml", ".github/workflows/ci.yml", "on: push\n"))
	if r.code != ExitFailed || !strings.Contains(r.stderr, "no auto_approve rule covers ci-config") {
		t.Fatalf("full_auto without a standing rule: exit %d, want 1\n%s", r.code, r.stderr)
	}
	r = agentosIn(t, dir, "run", "--mode", "full_auto", "--as", "ann", "--signing-key", keyOf(dir, "ann"), "--plan", writePlan(t, dir, "lint.yaml", ".github/workflows/lint.yml", "on: push\n"))
	if r.code != 0 {
		t.Fatalf("full_auto with a standing rule: exit %d, want 0\n%s", r.code, r.stderr)
	}
	task, _ := runAwaiting(t, dir, writePlan(t, dir, "ci2.yaml", ".gitlab-ci.yml", "stages: [test]\n"))
	if r := agentosIn(t, dir, "reject", task, "--signing-key", keyOf(dir, "cy"), "--reason", "we do not use GitLab"); r.code != 0 || !strings.Contains(r.stdout, "rejected") {
		t.Fatalf("reject: exit %d, want 0 and rejected\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestPolicyTestCommand(t *testing.T) {
	dir := gateRepo(t, "")
	if r := agentosIn(t, dir, "policy", "test"); r.code != 0 || !strings.Contains(r.stdout, "ok    ci-config match 1") {
		t.Fatalf("policy test: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	pol := filepath.Join(dir, "agentos.yaml")
	b, _ := os.ReadFile(pol)
	mustWrite(t, pol, string(b)+"  - id: wrong\n    when: glob(step.path, \"*.go\")\n    effect: allow\n    match:\n      - {kind: write, path: main.rs}\n")
	if r := agentosIn(t, dir, "policy", "test"); r.code != ExitFailed || !strings.Contains(r.stdout, "FAIL  wrong match 1") {
		t.Fatalf("policy test with a failing example: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Command rules' examples are run too.
	mustWrite(t, pol, strings.Replace(string(b), "commands: {allow: [\"true\"]}", "commands: {allow: [\"true\", git], rules: [{id: no-push, prefix: [git, push], decision: deny, match: [[git, pull]]}]}", 1))
	if r := agentosIn(t, dir, "policy", "test"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "no-push") {
		t.Fatalf("policy test with a failing command example: exit %d, want failure naming no-push\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestStaleAfterMemoryChanged(t *testing.T) {
	dir := gateRepo(t, "")
	pol := filepath.Join(dir, "agentos.yaml")
	b, _ := os.ReadFile(pol)
	mustWrite(t, pol, strings.Replace(string(b), "    message: the plan changes CI configuration\n", "    message: the plan changes CI configuration\n    approvals: 2\n", 1))
	git(t, dir, "commit", "-q", "-am", "two approvals for CI")
	task, hash := runAwaiting(t, dir, writePlan(t, dir, "ci.yaml", ".github/workflows/ci.yml", "on: push\n"))
	if r := agentosIn(t, dir, "approve", task, "--plan", hash, "--signing-key", keyOf(dir, "bob")); r.code != ExitAwaitingApproval {
		t.Fatalf("first approval: exit %d, want 4\n%s", r.code, r.stderr)
	}
	// What the memory says about the plan's paths changes after bob approved.
	if r := agentosIn(t, dir, "memory", "add", "CI workflows must pin actions by SHA", "--kind", "convention", "--scope", ".github/workflows/**"); r.code != 0 {
		t.Fatalf("memory add: exit %d\n%s", r.code, r.stderr)
	}
	r := agentosIn(t, dir, "approve", task, "--plan", hash, "--signing-key", keyOf(dir, "cy"))
	if r.code != ExitAwaitingApproval || !strings.Contains(r.stderr, "approval by human:bob is stale: the memory changed") {
		t.Fatalf("approval after the memory changed: exit %d, want 4 naming bob's stale approval\n%s", r.code, r.stderr)
	}
}
