package agentos_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
)

// Bytes that are not UTF-8 survive the plan's canonical JSON (what is hashed
// and stored) and come back identical; valid UTF-8, NUL included, keeps the
// plain field so existing plan hashes do not move.
func TestStepBytesRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, content, diff string
		wantKey             string // the JSON key that must carry the bytes
	}{
		{"text", "hello {{ .Name }}\n", "", `"content":"hello {{ .Name }}\n"`},
		{"NUL is valid UTF-8", "a\x00b", "", `"content":"a\u0000b"`},
		{"invalid UTF-8 content", "\x89PNG\r\n\x1a\n\x00\xff\xfe", "", `"content_base64":"iVBORw0KGgoA//4="`},
		{"invalid UTF-8 diff", "", "+caf\xe9\n", `"diff_base64":"K2NhZukK"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := agentos.Plan{ID: "p1", Steps: []agentos.Step{{Kind: agentos.StepWrite, Path: "f", Content: tc.content, Diff: tc.diff}}}
			b, hash, err := canonjson.Digest(p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tc.wantKey) {
				t.Errorf("canonical JSON %s lacks %s", b, tc.wantKey)
			}
			var back agentos.Plan
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if got := back.Steps[0]; got.Content != tc.content || got.Diff != tc.diff {
				t.Errorf("round trip: content %q diff %q, want %q %q", got.Content, got.Diff, tc.content, tc.diff)
			}
			if got := back.ComputeHash(); got != p.ComputeHash() || got != hash {
				t.Errorf("hash after round trip = %s, want %s", got, hash)
			}
		})
	}
	// Two contents that differ only in invalid bytes hash differently (with
	// plain JSON strings both would read as U+FFFD).
	a := agentos.Plan{Steps: []agentos.Step{{Content: "\xff"}}}
	b := agentos.Plan{Steps: []agentos.Step{{Content: "\xfe"}}}
	if a.ComputeHash() == b.ComputeHash() {
		t.Error("\\xff and \\xfe content hash the same")
	}
	var s agentos.Step
	if err := json.Unmarshal([]byte(`{"kind":"write","content":"x","content_base64":"eA=="}`), &s); err == nil {
		t.Error("a step with both content and content_base64 decoded")
	}
}

// The byte-safe step codec against plain struct encoding, on a 50-step text
// plan: run both in one `go test -bench PlanHash` and compare.
func BenchmarkPlanHash(b *testing.B) {
	p := agentos.Plan{ID: "p1", Goal: "g"}
	for i := range 50 {
		p.Steps = append(p.Steps, agentos.Step{Kind: agentos.StepWrite, Path: "f" + strings.Repeat("x", i%7), Content: strings.Repeat("line {{ .Name }}\n", 40), IntentID: "i"})
	}
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p.ComputeHash()
		}
	})
	plain := withoutCodec(p)
	if canonjson.MustDigest(plain) != p.ComputeHash() {
		b.Fatal("the codec changed a text plan's hash")
	}
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			canonjson.MustDigest(plain)
		}
	})
}

type plainStep agentos.Step // a Step's fields, without its codec

// withoutCodec is p as it encoded before Step had a codec.
func withoutCodec(p agentos.Plan) any {
	plain := struct {
		agentos.Plan
		Hash  string      `json:"hash,omitempty"`
		Steps []plainStep `json:"steps"`
	}{Plan: p}
	for _, s := range p.Steps {
		plain.Steps = append(plain.Steps, plainStep(s))
	}
	return plain
}

// A plan whose bytes are all UTF-8 hashes as it did before the codec, so
// stored plans, approvals and AgentOS-Plan trailers keep verifying.
func TestTextPlanHashUnchanged(t *testing.T) {
	p := agentos.Plan{ID: "p1", Goal: "g", Steps: []agentos.Step{
		{Kind: agentos.StepWrite, Path: "a", Content: "héllo\x00 {{ .Name }} ${{ x }}\n<&>", IntentID: "i"},
		{Kind: agentos.StepPatch, Diff: "+x\n", DiffHash: "sha256:1", Paths: []string{"a"}},
		{Kind: agentos.StepExec, Argv: []string{"go", "test"}, Env: map[string]string{"A": "b"}, TimeoutMS: 5},
	}}
	if got, want := p.ComputeHash(), canonjson.MustDigest(withoutCodec(p)); got != want {
		t.Errorf("hash with the codec = %s, without = %s", got, want)
	}
}
