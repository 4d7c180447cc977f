package coordinator

import (
	"strconv"
	"strings"

	"github.com/agentos/agentos"
)

// fileChange is one file a unified diff touches.
type fileChange struct {
	Old, New string // "" for /dev/null
}

// parseDiff lists the files a unified diff (as `git diff` prints it) touches.
// It reads only headers; git itself applies the hunks.
func parseDiff(diff string) ([]fileChange, error) {
	var out []fileChange
	var cur *fileChange
	lines := strings.Split(diff, "\n")
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "diff --git "):
			out = append(out, fileChange{})
			cur = &out[len(out)-1]
			// a/X b/Y: used when no ---/+++ follow (pure renames, mode changes).
			rest := strings.TrimPrefix(l, "diff --git ")
			if i := strings.Index(rest, " b/"); i > 0 && strings.HasPrefix(rest, "a/") {
				cur.Old, cur.New = unquote(rest[2:i]), unquote(rest[i+3:])
			}
		case strings.HasPrefix(l, "--- "):
			if cur == nil {
				out = append(out, fileChange{})
				cur = &out[len(out)-1]
			}
			cur.Old = diffPath(strings.TrimPrefix(l, "--- "), "a/")
		case strings.HasPrefix(l, "+++ "):
			if cur == nil {
				return nil, agentos.Errorf(agentos.EINVALID, "patch: \"+++\" line without a \"---\" line")
			}
			cur.New = diffPath(strings.TrimPrefix(l, "+++ "), "b/")
		case strings.HasPrefix(l, "rename from "):
			if cur != nil {
				cur.Old = unquote(strings.TrimPrefix(l, "rename from "))
			}
		case strings.HasPrefix(l, "rename to "):
			if cur != nil {
				cur.New = unquote(strings.TrimPrefix(l, "rename to "))
			}
		case strings.HasPrefix(l, "new file mode"):
			if cur != nil {
				cur.Old = ""
			}
		case strings.HasPrefix(l, "deleted file mode"):
			if cur != nil {
				cur.New = ""
			}
		}
	}
	if len(out) == 0 {
		return nil, agentos.Errorf(agentos.EINVALID, "patch: no file headers found: give a unified diff as `git diff` prints it")
	}
	for _, fc := range out {
		if fc.Old == "" && fc.New == "" {
			return nil, agentos.Errorf(agentos.EINVALID, "patch: a file header names no path")
		}
	}
	return out, nil
}

func diffPath(s, prefix string) string {
	if i := strings.IndexByte(s, '\t'); i >= 0 {
		s = s[:i]
	}
	s = unquote(strings.TrimSpace(s))
	if s == "/dev/null" {
		return ""
	}
	return strings.TrimPrefix(s, prefix)
}

func unquote(s string) string {
	if strings.HasPrefix(s, `"`) {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
	}
	return s
}
