package agentos

import (
	"strings"
	"testing"
)

func TestHead(t *testing.T) {
	long := strings.Repeat("x", 40)
	for _, tc := range []struct {
		s    string
		n    int
		want string // the kept head
	}{
		{"short", 16, "short"},
		{"a€" + long, 3, "a"},  // the cut falls inside € (3 bytes): back to its start
		{"a€" + long, 4, "a€"}, // on a boundary
		// Text that is not UTF-8 before the cut is kept as it is, not cut
		// away to nothing.
		{"\xff\xfe" + long, 10, "\xff\xfe" + long[:8]},
	} {
		got := Head(tc.s, tc.n)
		if tc.s == tc.want {
			if got != tc.s {
				t.Errorf("Head(%q, %d) = %q, want it whole", tc.s, tc.n, got)
			}
			continue
		}
		head, rest, ok := strings.Cut(got, "…")
		if !ok || head != tc.want || !strings.Contains(rest, BlobHash(tc.s)) || !strings.Contains(rest, "bytes") {
			t.Errorf("Head(%q, %d) = %q, want head %q with the size and digest", tc.s, tc.n, got, tc.want)
		}
	}
}
