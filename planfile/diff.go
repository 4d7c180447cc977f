package planfile

import (
	"strconv"
	"strings"
)

// completeClippedDiff puts back the blank lines that YAML's default (clip)
// chomping drops from a diff pasted under `diff: |`: a block scalar loses its
// trailing empty lines, and git ends a diff with one in two places.
//
//   - A text hunk whose last lines are blank context: git prints " ",
//     editors trim it to "", YAML drops it, and the hunk ends short of what
//     its header counts.
//   - A binary patch ("GIT binary patch"): every literal or delta block ends
//     with an empty line, and the last one is dropped.
//
// git refuses both as corrupt. The diff is changed only when the repair is the
// one possible reading, and then only at its end (YAML drops nothing else):
// the last hunk is short by the same number k of old and new lines, every
// line read so far fits the hunk, and no "\ No newline" marker has ended a
// side — only blank lines are dropped and a blank hunk line is context, so
// the missing lines are k blank context lines; or the diff ends inside a
// binary block after its data. Anything else is returned unchanged for git to
// judge.
func completeClippedDiff(diff string) string {
	const (
		outside = iota
		hunk
		binary     // after "GIT binary patch": "literal N" or "delta N" next
		binaryData // inside a block, until an empty line
	)
	state := outside
	var oldLeft, newLeft int
	ended, data := false, false
	for line := range strings.Lines(diff) {
		l := strings.TrimSuffix(line, "\n")
		switch state {
		case hunk:
			kind := byte(' ')
			if l != "" {
				kind = l[0]
			}
			switch kind {
			case ' ':
				oldLeft--
				newLeft--
			case '-':
				oldLeft--
			case '+':
				newLeft--
			case '\\':
				// "\ No newline at end of file": a side of the file ends
				// here, so no context line (on both sides) can follow.
				ended = true
				continue
			default:
				return diff // the header counts more lines than are there: not ours to guess
			}
			if oldLeft < 0 || newLeft < 0 {
				return diff
			}
			if oldLeft == 0 && newLeft == 0 {
				state = outside
			}
			continue
		case binaryData:
			if l == "" {
				state = binary
			} else {
				data = true
			}
			continue
		case binary:
			if strings.HasPrefix(l, "literal ") || strings.HasPrefix(l, "delta ") {
				state, data = binaryData, false
				continue
			}
			state = outside
		}
		switch {
		case strings.HasPrefix(l, "@@ "):
			o, n, ok := hunkCounts(l)
			if !ok {
				return diff
			}
			oldLeft, newLeft, ended = o, n, false
			if o+n > 0 {
				state = hunk
			}
		case l == "GIT binary patch":
			state = binary
		}
	}
	var missing string
	switch {
	case state == hunk && !ended && oldLeft == newLeft && oldLeft > 0:
		missing = strings.Repeat(" \n", oldLeft)
	case state == binaryData && data:
		missing = "\n"
	default:
		return diff
	}
	if !strings.HasSuffix(diff, "\n") {
		diff += "\n"
	}
	return diff + missing
}

// hunkCounts reads the old and new line counts of "@@ -a[,b] +c[,d] @@".
func hunkCounts(h string) (int, int, bool) {
	f := strings.Fields(h)
	if len(f) < 4 || f[3] != "@@" || !strings.HasPrefix(f[1], "-") || !strings.HasPrefix(f[2], "+") {
		return 0, 0, false
	}
	o, ok1 := rangeCount(f[1][1:])
	n, ok2 := rangeCount(f[2][1:])
	return o, n, ok1 && ok2
}

func rangeCount(r string) (int, bool) {
	start, count, found := strings.Cut(r, ",")
	if _, err := strconv.Atoi(start); err != nil {
		return 0, false
	}
	if !found {
		return 1, true
	}
	n, err := strconv.Atoi(count)
	return n, err == nil && n >= 0
}
