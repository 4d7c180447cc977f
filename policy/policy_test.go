package policy_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/policy"
)

func mustConfig(tb testing.TB, body string) *config.Config {
	tb.Helper()
	c, err := config.Parse([]byte("version: 1\n"+body), "agentos.yaml")
	if err != nil {
		tb.Fatalf("config.Parse: %v", err)
	}
	return c
}

func mustEngine(tb testing.TB, body string) *policy.Engine {
	tb.Helper()
	e, err := policy.Load(mustConfig(tb, body))
	if err != nil {
		tb.Fatalf("policy.Load: %v", err)
	}
	return e
}

func plan(steps ...agentos.Step) agentos.Plan {
	p := agentos.Plan{Version: 1, ID: "p1", Task: "t1", BaseCommit: "abc", PolicyHash: "sha256:x", Steps: steps}
	p.Hash = p.ComputeHash()
	return p
}

func input(mode agentos.Mode, p agentos.Plan) policy.Input {
	return policy.Input{
		Task:   agentos.Task{ID: "t1", Mode: mode, Labels: []string{"docs"}, Submitter: agentos.Human("ann")},
		Intent: &agentos.Intent{ID: "i1", Kind: "fix", Risk: "low"},
		Plan:   p,
	}
}

func write(path, content string) agentos.Step {
	return agentos.Step{Kind: agentos.StepWrite, Path: path, Content: content}
}

func TestDefaultGatesLoad(t *testing.T) {
	e := mustEngine(t, policy.DefaultGatesYAML)
	res := e.CheckExamples()
	if len(res) < 10 {
		t.Fatalf("CheckExamples ran %d examples, want every default rule's examples (>= 10)", len(res))
	}
	for _, r := range res {
		if !r.OK {
			t.Errorf("default rule %s %s example %d: %s", r.RuleID, r.Kind, r.Index+1, r.Problem)
		}
	}
}

func TestDefaultGates(t *testing.T) {
	e := mustEngine(t, policy.DefaultGatesYAML)
	var dels []agentos.Step
	for i := range 12 {
		dels = append(dels, agentos.Step{Kind: agentos.StepDelete, Path: fmt.Sprintf("f%d", i)})
	}
	bigDiff := "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,1 +1,900 @@\n" + strings.Repeat("+x\n", 900)
	tests := []struct {
		name      string
		steps     []agentos.Step
		want      agentos.Effect
		wantRules []string
	}{
		{"plain source change", []agentos.Step{write("src/a.go", "package a\n")}, agentos.EffectAllow, []string{"default"}},
		{"ci workflow", []agentos.Step{write(".github/workflows/ci.yml", "on: push\n")}, agentos.EffectRequireApproval, []string{"ci-config"}},
		{"policy file", []agentos.Step{write("agentos.yaml", "version: 1\n")}, agentos.EffectRequireApproval, []string{policy.PolicyFileRule}},
		{"policy file via rename", []agentos.Step{{Kind: agentos.StepRename, From: "x.yaml", To: "agentos.yaml"}}, agentos.EffectRequireApproval, []string{policy.PolicyFileRule}},
		{"many deletions", dels, agentos.EffectRequireApproval, []string{"many-deletions"}},
		{"binary", []agentos.Step{write("a.bin", "a\x00b")}, agentos.EffectRequireApproval, []string{"binary-files"}},
		{"secret", []agentos.Step{write("k.pem", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n")}, agentos.EffectRequireApproval, []string{"secrets"}},
		{"large diff", []agentos.Step{{Kind: agentos.StepPatch, Paths: []string{"x"}, Diff: bigDiff}}, agentos.EffectRequireApproval, []string{"large-diff"}},
		{"deny beats approval", []agentos.Step{write(".github/workflows/x.yml", "a"), write(".git/config", "b")}, agentos.EffectDeny, []string{"protected-paths", "ci-config"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := e.Evaluate(input(agentos.ModeSemiAuto, plan(tc.steps...)))
			if res.Effect != tc.want {
				t.Errorf("Effect = %s, want %s (decisions %+v)", res.Effect, tc.want, res.Decisions)
			}
			var got []string
			for _, d := range res.Decisions {
				if !slices.Contains(got, d.RuleID) {
					got = append(got, d.RuleID)
				}
				if d.PolicyHash != e.Hash() {
					t.Errorf("decision %s PolicyHash = %q, want %q", d.RuleID, d.PolicyHash, e.Hash())
				}
			}
			sort.Strings(got)
			want := slices.Clone(tc.wantRules)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("rules = %v, want %v", got, want)
			}
		})
	}
}

func TestStrictestWinsAndSteps(t *testing.T) {
	e := mustEngine(t, `
gates:
  - id: docs-ok
    when: glob(step.path, "docs/**")
    effect: allow
    message: docs
  - id: go-review
    when: glob(step.path, "*.go")
    effect: require_approval
    message: go code
    approvers: [ann, bob, cy]
    approvals: 2
  - id: no-rm
    when: step.kind == "exec" && step.argv.exists(a, a == "rm")
    effect: deny
    message: no rm
  - id: labelled
    when: '"docs" in task.labels && plan.steps > 1'
    effect: allow
`)
	p := plan(write("docs/a.md", "x"), write("pkg/b.go", "package b"))
	res := e.Evaluate(input(agentos.ModeSemiAuto, p))
	if res.Effect != agentos.EffectRequireApproval {
		t.Fatalf("Effect = %s, want require_approval", res.Effect)
	}
	want := []agentos.GateDecision{
		{RuleID: "docs-ok", Effect: agentos.EffectAllow, Reason: "docs (step 1: write docs/a.md)", Step: 0, PolicyHash: e.Hash()},
		{RuleID: "go-review", Effect: agentos.EffectRequireApproval, Reason: "go code (step 2: write pkg/b.go)", Step: 1, PolicyHash: e.Hash()},
		{RuleID: "labelled", Effect: agentos.EffectAllow, Reason: "matched labelled", Step: -1, PolicyHash: e.Hash()},
	}
	if !slices.Equal(res.Decisions, want) {
		t.Errorf("Decisions =\n%+v\nwant\n%+v", res.Decisions, want)
	}
	if len(res.Requirements) != 1 || res.Requirements[0].RuleID != "go-review" || res.Requirements[0].Approvals != 2 ||
		!slices.Equal(res.Requirements[0].Approvers, []agentos.Actor{"human:ann", "human:bob", "human:cy"}) {
		t.Errorf("Requirements = %+v, want go-review 2 of ann, bob, cy", res.Requirements)
	}
	res = e.Evaluate(input(agentos.ModeSemiAuto, plan(write("pkg/b.go", "x"), agentos.Step{Kind: agentos.StepExec, Argv: []string{"rm", "-rf", "x"}})))
	if res.Effect != agentos.EffectDeny {
		t.Errorf("Effect with rm = %s, want deny", res.Effect)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, gates string
		wantIn      []string
	}{
		{"undeclared", `
gates:
  - id: typo
    when: step.pth == "x"
    effect: deny`, []string{"gates[0] (typo)", "1:", "unknown name"}},
		{"not bool", `
gates:
  - id: ok
    when: "true"
    effect: allow
  - id: num
    when: plan.steps + 1
    effect: deny`, []string{"gates[1] (num)", "want bool"}},
		{"syntax", `
gates:
  - id: broken
    when: step.kind == 
    effect: deny`, []string{"gates[0] (broken)", "1:"}},
		{"wrong arg type", `
gates:
  - id: glob-int
    when: glob(step.size, "x")
    effect: deny`, []string{"gates[0] (glob-int)", "found no matching overload"}},
		{"failing example", `
gates:
  - id: ci
    when: glob(step.path, ".github/**")
    effect: require_approval
    match:
      - {kind: write, path: .gitlab-ci.yml}`, []string{"gate ci", "match example 1", "does not match"}},
		{"auto approve of policy file", `
gates: []
auto_approve:
  - id: all
    rules: [builtin.policy-file]
    when: "true"`, []string{"auto_approve[0] (all)", "never be auto-approved"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Load(mustConfig(t, tc.gates))
			if agentos.ErrorCode(err) != agentos.EINVALID {
				t.Fatalf("Load error = %v (code %q), want code %q", err, agentos.ErrorCode(err), agentos.EINVALID)
			}
			for _, w := range tc.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load error = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	for name, body := range map[string]string{
		"bad effect":      "gates:\n  - {id: a, when: 'true', effect: maybe}\n",
		"agent approver":  "gates:\n  - {id: a, when: 'true', effect: require_approval, approvers: ['agent:bot']}\n",
		"n exceeds m":     "gates:\n  - {id: a, when: 'true', effect: require_approval, approvers: [ann], approvals: 2}\n",
		"duplicate id":    "gates:\n  - {id: a, when: 'true', effect: allow}\n  - {id: a, when: 'true', effect: deny}\n",
		"reserved id":     "gates:\n  - {id: builtin.x, when: 'true', effect: allow}\n",
		"bad redact":      "redact:\n  patterns: ['(']\n",
		"unknown example": "gates:\n  - {id: a, when: 'true', effect: allow, match: [{kinds: write}]}\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse([]byte("version: 1\n"+body), "agentos.yaml")
			if agentos.ErrorCode(err) != agentos.EINVALID {
				t.Errorf("Parse error = %v, want code %q", err, agentos.EINVALID)
			}
		})
	}
}

func TestRuntimeErrorFailsClosed(t *testing.T) {
	e := mustEngine(t, `
gates:
  - id: second-arg
    when: step.kind == "exec" && step.argv[1] == "push"
    effect: allow
`)
	res := e.Evaluate(input(agentos.ModeSemiAuto, plan(agentos.Step{Kind: agentos.StepExec, Argv: []string{"git"}})))
	if res.Effect != agentos.EffectRequireApproval || len(res.Requirements) != 1 {
		t.Errorf("Effect = %s, requirements %v; want require_approval with one requirement for the failing rule", res.Effect, res.Requirements)
	}
	if res.Rules[0].Error == "" {
		t.Errorf("Rules[0].Error is empty, want the evaluation error")
	}
}

func TestAutoApprove(t *testing.T) {
	e := mustEngine(t, policy.DefaultGatesYAML+`
auto_approve:
  - id: docs-bulk
    rules: [large-diff, many-deletions]
    when: plan.paths.all(p, glob(p, "docs/**"))
  - id: vendored-binaries
    when: glob(step.path, "vendor/**")
`)
	big := strings.Repeat("line\n", 900)
	tests := []struct {
		name      string
		mode      agentos.Mode
		steps     []agentos.Step
		wantAuto  bool
		wantRules []string // auto rules recorded
		wantLeft  []string
	}{
		{"docs large diff in full_auto", agentos.ModeFullAuto, []agentos.Step{write("docs/big.md", big)}, true, []string{"docs-bulk"}, nil},
		{"src large diff in full_auto", agentos.ModeFullAuto, []agentos.Step{write("src/big.go", big)}, false, nil, []string{"large-diff"}},
		{"vendored binary", agentos.ModeFullAuto, []agentos.Step{write("vendor/x.so", "\x00\x01")}, true, []string{"vendored-binaries"}, nil},
		{"binary outside vendor", agentos.ModeFullAuto, []agentos.Step{write("vendor/x.so", "\x00"), write("bin/y", "\x00")}, false, nil, []string{"binary-files"}},
		{"policy file never", agentos.ModeFullAuto, []agentos.Step{write("agentos.yaml", "version: 1\n")}, false, nil, []string{policy.PolicyFileRule}},
		{"semi_auto ignores standing rules", agentos.ModeSemiAuto, []agentos.Step{write("docs/big.md", big)}, false, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := e.Evaluate(input(tc.mode, plan(tc.steps...)))
			if res.Effect != agentos.EffectRequireApproval {
				t.Fatalf("Effect = %s, want require_approval", res.Effect)
			}
			if res.AutoApproved != tc.wantAuto {
				t.Errorf("AutoApproved = %v, want %v (%+v)", res.AutoApproved, tc.wantAuto, res)
			}
			var got []string
			for _, a := range res.AutoApprovals {
				got = append(got, a.AutoRuleID)
			}
			if tc.wantAuto && !slices.Equal(got, tc.wantRules) {
				t.Errorf("auto rules = %v, want %v", got, tc.wantRules)
			}
			if !slices.Equal(res.Uncovered, tc.wantLeft) {
				t.Errorf("Uncovered = %v, want %v", res.Uncovered, tc.wantLeft)
			}
		})
	}
}

func TestVariablesAreDeclared(t *testing.T) {
	// Every documented variable compiles and resolves to a value of its
	// declared type on a real plan.
	for _, v := range policy.Variables {
		t.Run(v.Name, func(t *testing.T) {
			expr := fmt.Sprintf("type(%s) == type(%s)", v.Name, v.Name)
			e := mustEngine(t, fmt.Sprintf("gates:\n  - {id: v, when: %q, effect: allow}\n", expr))
			res := e.Evaluate(input(agentos.ModeSemiAuto, plan(write("a", "b"))))
			if res.Rules[0].Error != "" || !res.Rules[0].Matched {
				t.Errorf("%s: matched=%v error=%q", v.Name, res.Rules[0].Matched, res.Rules[0].Error)
			}
		})
	}
}

func TestGlobOnLiteralList(t *testing.T) {
	e := mustEngine(t, `
gates:
  - id: lit
    when: glob(["a/b.go", "c.txt"], "*.txt") && !glob(["a/b.go"], "*.txt")
    effect: allow
`)
	if res := e.Evaluate(input(agentos.ModeSemiAuto, plan(write("x", "y")))); !res.Rules[0].Matched || res.Rules[0].Error != "" {
		t.Errorf("rule lit: matched=%v error=%q, want matched", res.Rules[0].Matched, res.Rules[0].Error)
	}
}

func TestFacts(t *testing.T) {
	diff := "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n-old\n+new\n ctx\n" +
		"diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n" +
		"diff --git a/img.png b/img.png\nGIT binary patch\nliteral 3\n"
	f := policy.Facts(0, agentos.Step{Kind: agentos.StepPatch, Diff: diff}, nil)
	if f.LinesAdded != 1 || f.LinesRemoved != 2 || f.FilesDeleted != 1 || !f.Binary {
		t.Errorf("Facts = %+v, want +1 -2, 1 deleted, binary", f)
	}
	if !slices.Equal(f.Paths, []string{"a.txt", "gone.txt", "img.png"}) {
		t.Errorf("Paths = %v, want the three files of the diff", f.Paths)
	}
	if f.Added != "new\n" {
		t.Errorf("Added = %q, want %q", f.Added, "new\n")
	}
	w := policy.Facts(2, write("x", "a\nb\nc"), nil)
	if w.LinesAdded != 3 || w.Binary || w.Index != 2 {
		t.Errorf("write Facts = %+v, want 3 lines, not binary, index 2", w)
	}
}

// A write is binary by git's rule (a NUL early on) or when its bytes are not
// UTF-8 (a !!binary write need not hold a NUL); a character cut at git's
// 8000-byte window is not.
func TestBinaryWrite(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          bool
	}{
		{"text", "héllo {{ .Name }}\n", false},
		{"NUL", "a\x00b", true},
		{"not UTF-8, no NUL", "caf\xe9\n", true},
		{"NUL after the window", strings.Repeat("a", 8000) + "\x00", false},
		{"a character cut by the window", strings.Repeat("a", 7999) + "é", false},
		{"not UTF-8 inside the window", strings.Repeat("a", 7998) + "\xff" + "é", true},
	} {
		if got := policy.Facts(0, write("f", tc.content), nil).Binary; got != tc.want {
			t.Errorf("%s: Binary = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		path, pattern string
		want          bool
	}{
		{".github/workflows/ci.yml", ".github/workflows/**", true},
		{".github/workflows/sub/ci.yml", ".github/workflows/*", false},
		{".github/workflows/sub/ci.yml", ".github/**/ci.yml", true},
		{".github/ci.yml", ".github/**/ci.yml", true},
		{".ci/a/b", ".ci/", true},
		{".cix/a", ".ci/", false},
		{".ci", ".ci/", true},
		{"x/.ci/a", ".ci/", false},
		{"deep/dir/key.pem", "*.pem", true},
		{"key.pem.txt", "*.pem", false},
		{"src/a.go", "src/*.go", true},
		{"src/x/a.go", "src/*.go", false},
		{"./src/a.go", "src/a.go", true},
		{"a", "**", true},
		{"a", "[", false},
	}
	for _, tc := range tests {
		if got := policy.Glob(tc.path, tc.pattern); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.path, tc.pattern, got, tc.want)
		}
	}
}

// BenchmarkEvaluate50Rules measures a plan of 20 steps against 50 rules (45
// per-step, 5 per-plan) and reports the time per step, including the fact
// extraction (diff scan, secret scan) every evaluation does.
func BenchmarkEvaluate50Rules(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("gates:\n")
	for i := range 45 {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&sb, "  - {id: r%d, when: 'glob(step.paths, \"dir%d/**\")', effect: require_approval}\n", i, i)
		case 1:
			fmt.Fprintf(&sb, "  - {id: r%d, when: 'step.kind == \"exec\" && step.argv.exists(a, a == \"cmd%d\")', effect: deny}\n", i, i)
		case 2:
			fmt.Fprintf(&sb, "  - {id: r%d, when: 'step.lines_added + step.lines_removed > %d', effect: require_approval}\n", i, 1000+i)
		case 3:
			fmt.Fprintf(&sb, "  - {id: r%d, when: 'step.path.startsWith(\"gen%d/\") && !step.binary', effect: allow}\n", i, i)
		case 4:
			fmt.Fprintf(&sb, "  - {id: r%d, when: 'step.secrets || step.path.endsWith(\".k%d\")', effect: require_approval}\n", i, i)
		}
	}
	for i := range 5 {
		fmt.Fprintf(&sb, "  - {id: p%d, when: 'plan.files_deleted > %d || \"l%d\" in task.labels', effect: require_approval}\n", i, 10+i, i)
	}
	e := mustEngine(b, sb.String())
	var steps []agentos.Step
	for i := range 20 {
		if i%4 == 3 {
			steps = append(steps, agentos.Step{Kind: agentos.StepExec, Argv: []string{"go", "test", "./..."}})
			continue
		}
		steps = append(steps, write(fmt.Sprintf("src/pkg%d/file.go", i), "package p\n\nfunc F() int { return 1 }\n"))
	}
	in := input(agentos.ModeSemiAuto, plan(steps...))
	b.ReportAllocs()
	var durs []time.Duration
	for b.Loop() {
		start := time.Now()
		res := e.Evaluate(in)
		durs = append(durs, time.Since(start)/time.Duration(len(steps)))
		if res.Effect != agentos.EffectAllow {
			b.Fatalf("Effect = %s, want allow", res.Effect)
		}
	}
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "median-ns/step")
}
