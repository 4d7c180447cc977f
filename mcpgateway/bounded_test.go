package mcpgateway

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A name the client chooses (its own, an unlisted tool's) is kept whole up
// to MaxClientName bytes, then cut on a rune boundary with its length.
func TestBounded(t *testing.T) {
	if got := bounded("claude-code 2.1"); got != "claude-code 2.1" {
		t.Errorf("a short name changed: %q", got)
	}
	long := strings.Repeat("é", 1<<20) // 2 MiB, two bytes a rune
	got := bounded(long)
	if len(got) > MaxClientName+32 || !utf8.ValidString(got) || !strings.HasSuffix(got, "… (2097152 bytes)") {
		t.Errorf("bounded(2 MiB) = %d bytes, valid UTF-8 %v, ends %q", len(got), utf8.ValidString(got), got[len(got)-24:])
	}
}
