package policy_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"runtime"
	"slices"
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

func zipOf(t testing.TB, files map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(files[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tgzOf(t testing.TB, name string, data []byte) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// A secret a command encoded or packed is still found, and the finding
// says where; what was there before in the same form is not new.
func TestScanSecretsEncodedAndPacked(t *testing.T) {
	env := []byte("GITHUB_TOKEN=" + ghToken + "\n")
	b64 := base64.StdEncoding.EncodeToString(env)
	inner := zipOf(t, map[string][]byte{"deep/.env": env})
	cases := []struct {
		name  string
		ch    policy.Change
		rules []string
		in    []string
	}{
		{"base64 line", policy.Change{Path: "cfg.txt", New: []byte("blob: " + b64 + "\n")}, []string{"github-token"}, []string{"base64"}},
		{"base64 url alphabet, unpadded", policy.Change{Path: "u.txt", New: []byte(base64.RawURLEncoding.EncodeToString(env))}, []string{"github-token"}, []string{"base64"}},
		{"hex", policy.Change{Path: "h.txt", New: []byte("k=" + hex.EncodeToString([]byte("AKIAZ7Q3XK4PLM2N8RTV")) + "\n")}, []string{"aws-access-key-id"}, []string{"hex"}},
		{"zip member", policy.Change{Path: "out.zip", New: zipOf(t, map[string][]byte{"README": []byte("hi\n"), "secrets/.env": env})}, []string{"github-token"}, []string{"zip member secrets/.env"}},
		{"tar.gz member", policy.Change{Path: "out.tgz", New: tgzOf(t, "keys/id.txt", env)}, []string{"github-token"}, []string{"gzip > tar member keys/id.txt"}},
		{"base64 of a zip in a zip", policy.Change{Path: "n.zip", New: zipOf(t, map[string][]byte{"b.txt": []byte(base64.StdEncoding.EncodeToString(inner))})}, []string{"github-token"}, []string{"zip member b.txt > base64 > zip member deep/.env"}},
		{"already there encoded", policy.Change{Path: "old.txt", Old: []byte("a: " + b64 + "\n"), New: []byte("b: " + b64 + "\n")}, nil, nil},
		{"an identifier is not base64", policy.Change{Path: "x.go", New: []byte("func TestThisIsAVeryLongIdentifierName(t *testing.T) {}\n")}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := policy.ScanSecrets(redact.Default(), []policy.Change{tc.ch})
			if tc.rules == nil {
				if len(got) != 0 {
					t.Fatalf("findings = %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || !slices.Equal(got[0].Rules, tc.rules) || !slices.Equal(got[0].In, tc.in) {
				t.Fatalf("findings = %+v, want rules %v in %v", got, tc.rules, tc.in)
			}
			if strings.Contains(got[0].String(), ghToken) {
				t.Fatalf("the finding names the value: %s", got[0])
			}
		})
	}
}

// Archive bombs cost neither memory nor time beyond the bounds, and what
// lies beyond them is a finding (unscanned), not a pass.
func TestScanSecretsBoundsArchives(t *testing.T) {
	// One member of 32 MB of zeros: a few kB compressed.
	var big bytes.Buffer
	zw := zip.NewWriter(&big)
	w, _ := zw.Create("zeros.bin")
	zeros := make([]byte, 1<<20)
	for range 32 {
		w.Write(zeros)
	}
	w, _ = zw.Create("after.env")
	w.Write([]byte("GITHUB_TOKEN=" + ghToken + "\n"))
	zw.Close()
	if big.Len() > 1<<20 {
		t.Fatalf("the bomb is %d bytes", big.Len())
	}
	// 5000 empty members.
	many := map[string][]byte{}
	for i := range 5000 {
		many[fmt.Sprintf("m%04d", i)] = nil
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	got := policy.ScanSecrets(redact.Default(), []policy.Change{{Path: "bomb.zip", New: big.Bytes()}, {Path: "many.zip", New: zipOf(t, many)}})
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if len(got) != 2 {
		t.Fatalf("findings = %+v", got)
	}
	if !slices.Equal(got[0].Rules, []string{"github-token", policy.UnscannedRule}) || !strings.Contains(strings.Join(got[0].In, ";"), "zip member zeros.bin: more than 16 MB decompressed") {
		t.Errorf("bomb: %+v", got[0])
	}
	if !slices.Equal(got[1].Rules, []string{policy.UnscannedRule}) || !strings.Contains(strings.Join(got[1].In, ";"), "more than 4096 archive members") {
		t.Errorf("many: %+v", got[1])
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 200<<20 {
		t.Errorf("the scan allocated %d MB", alloc>>20)
	}
}

// An encoded secret meets the policy's secret rules like a plain one, and
// so does an archive the scan could not read.
func TestEvaluateDiffEncoded(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte("GITHUB_TOKEN=" + ghToken))
	in := input(agentos.ModeSemiAuto, plan(agentos.Step{Kind: agentos.StepExec, Argv: []string{"sh", "-c", "base64 .env > out.b64"}, Paths: []string{"out.b64"}}))
	e := mustEngine(t, "gates:\n  - {id: secrets, when: step.secrets, effect: deny}\n")
	found, res := e.EvaluateDiff(in, []policy.Change{{Path: "out.b64", New: []byte(b64 + "\n")}, {Path: "x.zip", New: []byte("PK\x03\x04 not really a zip")}})
	if len(found) != 2 || res.Effect != agentos.EffectDeny || len(res.Decisions) != 2 {
		t.Fatalf("found %+v, effect %s, decisions %+v", found, res.Effect, res.Decisions)
	}
	if !strings.Contains(res.Decisions[0].Reason, "out.b64 adds github-token (in base64)") || !strings.Contains(res.Decisions[1].Reason, "x.zip adds unscanned-archive") {
		t.Errorf("reasons = %q / %q", res.Decisions[0].Reason, res.Decisions[1].Reason)
	}
}
