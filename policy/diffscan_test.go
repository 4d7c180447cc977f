package policy_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/policy"
	"github.com/agentos/agentos/redact"
)

const ghToken = "ghp_R8xQ2mK9vL4nP7tY1wE5zC3bH6jF0dS8aG2u"

func TestScanSecrets(t *testing.T) {
	bin := append([]byte("\x89PNG\x00\x00"), []byte("AKIAZ7Q3XK4PLM2N8RTV\x00\xff")...)
	changes := []policy.Change{
		{Path: "out.txt", New: []byte("GITHUB_TOKEN=" + ghToken + "\n")},
		{Path: "moved.txt", Old: []byte("k = " + ghToken + "\n"), New: []byte("key = " + ghToken + "\n")}, // already there
		{Path: "img.bin", New: bin},
		{Path: "clean.go", New: []byte("password := os.Getenv(\"PW\")\n")},
		{Path: "gone.txt", Old: []byte(ghToken)},
	}
	got := policy.ScanSecrets(redact.Default(), changes)
	if len(got) != 2 || got[0].Path != "out.txt" || got[1].Path != "img.bin" {
		t.Fatalf("findings = %+v, want out.txt and img.bin", got)
	}
	if got[0].Rules[0] != "github-token" || got[1].Rules[0] != "aws-access-key-id" {
		t.Errorf("rules = %v, %v", got[0].Rules, got[1].Rules)
	}
}

func TestEvaluateDiffFollowsThePolicy(t *testing.T) {
	changes := []policy.Change{{Path: "config/out.txt", New: []byte(ghToken)}, {Path: "testdata/key.txt", New: []byte(ghToken)}}
	in := input(agentos.ModeSemiAuto, plan(agentos.Step{Kind: agentos.StepExec, Argv: []string{"cp", ".env", "out.txt"}, Paths: []string{"config"}}))
	cases := []struct {
		name   string
		gates  string
		effect agentos.Effect
		hits   int
	}{
		{"the default rule holds both", policy.DefaultGatesYAML, agentos.EffectRequireApproval, 2},
		{"deny", "gates:\n  - {id: secrets, when: step.secrets, effect: deny}\n", agentos.EffectDeny, 2},
		{"a narrower rule lets testdata through", "gates:\n  - {id: secrets, when: 'step.secrets && !glob(step.path, \"testdata/**\")', effect: require_approval}\n", agentos.EffectRequireApproval, 1},
		{"a plan-level rule", "gates:\n  - {id: no-secrets, when: plan.secrets, effect: deny}\n", agentos.EffectDeny, 1},
		{"no secret rule", "gates:\n  - {id: big, when: plan.lines_changed > 0, effect: deny}\n", agentos.EffectAllow, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			found, res := mustEngine(t, tc.gates).EvaluateDiff(in, changes)
			if len(found) != 2 {
				t.Fatalf("findings = %+v", found)
			}
			if res.Effect != tc.effect || len(res.Decisions) != tc.hits {
				t.Fatalf("effect %s with %d decisions %+v, want %s with %d", res.Effect, len(res.Decisions), res.Decisions, tc.effect, tc.hits)
			}
			for _, d := range res.Decisions {
				if !strings.HasPrefix(d.Reason, policy.DiffPrefix) || strings.Contains(d.Reason, ghToken) || !strings.Contains(d.Reason, "adds github-token") {
					t.Errorf("reason = %q", d.Reason)
				}
			}
		})
	}
}

// BenchmarkScanSecrets is the final-diff scan of a 1 MB diff over 50
// files, one with a token: "dense" has a rule's hint ("key") on every line
// (the worst case: every line is matched), "sparse" on one line in 20.
func BenchmarkScanSecrets(b *testing.B) {
	hinted := "\tif err := s.store.Save(ctx, key, value); err != nil { return fmt.Errorf(\"save %s: %w\", key, err) }\n"
	plain := "\tif err := s.store.Save(ctx, name, value); err != nil { return fmt.Errorf(\"save %s: %w\", name, err) }\n"
	for _, bc := range []struct {
		name  string
		every int
	}{{"dense", 1}, {"sparse", 20}} {
		b.Run(bc.name, func(b *testing.B) {
			var changes []policy.Change
			for i := range 50 {
				var buf bytes.Buffer
				for n := 0; buf.Len() < 1<<20/50; n++ {
					if n%bc.every == 0 {
						buf.WriteString(hinted)
					} else {
						buf.WriteString(plain)
					}
				}
				if i == 25 {
					buf.WriteString("token = " + ghToken + "\n")
				}
				changes = append(changes, policy.Change{Path: "f.go", New: buf.Bytes()})
			}
			r := redact.Default()
			b.SetBytes(1 << 20)
			b.ReportAllocs()
			for b.Loop() {
				if len(policy.ScanSecrets(r, changes)) != 1 {
					b.Fatal("want one finding")
				}
			}
		})
	}
}
