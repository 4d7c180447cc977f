package agentos

import (
	"strings"
	"testing"

	"github.com/agentos/agentos/canonjson"
)

// TestPlanHashStreamed: a plan with large bodies hashes to exactly what the
// whole canonical encoding hashes to (the contract every stored plan was
// hashed under), whatever the bytes: escapes, U+2028, HTML characters,
// invalid UTF-8 (content_base64), runes cut at every piece boundary.
func TestPlanHashStreamed(t *testing.T) {
	big := func(unit string) string { return strings.Repeat(unit, StreamMin/len(unit)+3) }
	bodies := map[string]string{
		"ascii":      big("x"),
		"escapes":    big("a\"b\\c\n\t\x00\x1f<>&\u2028\u2029é€😀"),
		"multibyte":  "y" + big("€"), // runes straddle every 64 KiB piece
		"invalid":    big("ok\xff\xfe"),
		"truncated":  big("é")[1:],
		"emoji-tail": big("😀") + "\xf0\x9f",
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			p := Plan{Version: 1, ID: "p1", Task: "t1", Goal: "g", Steps: []Step{
				{Kind: StepWrite, Path: "a", Content: body, IntentID: "i"},
				{Kind: StepPatch, Diff: body, Paths: []string{"b"}, IntentID: "i"},
				{Kind: StepWrite, Path: "small", Content: "small\n", IntentID: "i"},
			}, Verify: []Check{{Argv: []string{"true"}}}}
			want := canonjson.MustDigest(p)
			if got := p.ComputeHash(); got != want {
				t.Fatalf("streamed hash %s, whole encoding %s", got, want)
			}
			if p.Steps[0].Content != body || p.Steps[1].Diff != body {
				t.Fatal("ComputeHash changed the caller's plan")
			}
			q := p
			q.Steps = append([]Step{}, p.Steps...)
			q.Steps[0].Content = body[:len(body)-1] + "!"
			if q.ComputeHash() == want {
				t.Fatal("a changed last byte kept the hash")
			}
		})
	}
}
