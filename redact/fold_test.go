package redact

import (
	"runtime"
	"strings"
	"testing"
)

// Hints are found in any case without a lower-cased copy of the text, in
// one pass over a run of the hint's first byte.
func TestIndexFold(t *testing.T) {
	for _, c := range []struct {
		s, hint string
		want    int
	}{
		{"", "key", -1}, {"ke", "key", -1}, {"KEY", "key", 0}, {"a kEy", "key", 2},
		{"xxxxxxox", "xox", 5}, {"XXXXXOX", "xox", 4}, {"xXxXo", "xox", -1}, {"sk-", "sk-", 0}, {"://", "://", 0},
	} {
		if got := indexFold(c.s, c.hint); got != c.want {
			t.Errorf("indexFold(%q, %q) = %d, want %d", c.s, c.hint, got, c.want)
		}
	}
	big := strings.Repeat("x", 8<<20)
	if got := indexFold(big+"XoX", "xox"); got != len(big) {
		t.Fatalf("indexFold over a run of the first byte = %d", got)
	}
}

// A large file with a hint on every line is scanned in linear time: the
// hint's search reads the content about once per hint, however many lines
// hold it (a search started again at each line read the rest of the
// content for the case of the first byte that never occurs: "G" below).
func TestSegmentsReadContentOnce(t *testing.T) {
	content := strings.Repeat("\tx := abcdefghij // gh\n", 20000)
	read := 0
	segmentsScanned = func(n int) { read += n }
	defer func() { segmentsScanned = nil }()
	var rule Rule
	for _, r := range builtin() {
		if r.ID == "github-token" {
			rule = r
		}
	}
	if len(rule.Hints) != 1 || rule.Hints[0] != "gh" {
		t.Fatalf("github-token hints %q, want [gh]", rule.Hints)
	}
	segs := rule.segments(content)
	if len(segs) != 1 || segs[0] != strings.TrimSuffix(content, "\n") {
		t.Fatalf("segments: %d, want the whole content as one", len(segs))
	}
	if read > 2*len(content) {
		t.Fatalf("finding the hint on %d lines read %d bytes, %.0f× the content; want at most 2×", 20000, read, float64(read)/float64(len(content)))
	}
	// Touching lines are merged as they are found: no list of a span per
	// line (16 MiB for a million lines, and as much again while it grew).
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rule.segments(content)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<10 {
		t.Fatalf("segments of %d hinted lines allocated %d bytes, want under 16 KiB", 20000, got)
	}
}

// Redaction finds a key in any case, the Kelvin sign included (it
// lower-cases to k and (?i) matches it as k), and a large body with
// nothing to redact comes back as it was.
func TestRedactFoldedHints(t *testing.T) {
	for _, in := range []string{"PASSWORD=hunter2hunter2", "Api_Key: 's3cr3t-value-1'", "api_\u212Aey=abcdefgh12345"} {
		if out := String(in); !strings.Contains(out, "[REDACTED:") {
			t.Errorf("String(%q) = %q, want it redacted", in, out)
		}
	}
	big := strings.Repeat("xox ", 1<<18)
	if out := String(big); out != big {
		t.Fatal("a body with nothing to redact changed")
	}
}

// Redacting a large body with nothing to redact copies nothing: it used to
// allocate a lower-cased copy and, per hinted rule, a replaced copy.
func TestRedactLargeBodyCopiesNothing(t *testing.T) {
	body := strings.Repeat("x", 16<<20) + " key "
	String("warm up: compile the rules")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out := String(body)
	runtime.ReadMemStats(&after)
	if out != body {
		t.Fatal("the body changed")
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("redacting a 16 MiB body allocated %.1f MiB, want under 1 MiB", float64(got)/(1<<20))
	}
}
