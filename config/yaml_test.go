package config

import (
	"strings"
	"testing"
)

// Load errors speak agentos.yaml's terms (line, key, what was expected),
// not Go type names.
func TestLoadErrorsAreReadable(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"version: 1\nsandbox:\n  requier: true\n", "line 3: field requier is not a known key here"},
		{"version: 1\nmodes:\n  semi_auto:\n    question_budget: lots\n", "line 4: wrong type: `lots`, want a number"},
		{"version: 1\ncommands:\n  allow: true\n", "line 3: wrong type: `true`, want a list"},
		{"version: 1\ngates: {a: 1}\n", "line 2: wrong type: a mapping, want a list"},
		{"version: 2\n", "version: must be 1"},
	} {
		_, err := Parse([]byte(tc.doc), "agentos.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.doc, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "config.") {
			t.Errorf("Parse(%q) names a Go type: %v", tc.doc, err)
		}
	}
}

// A value that does not parse is refused with its key, never replaced by a
// default ("10 minutes" used to run with the 10m default).
func TestDurationsAreStrict(t *testing.T) {
	for key, doc := range map[string]string{
		"exec.default_timeout":  "version: 1\nexec: {default_timeout: 10 minutes}\n",
		"blocked_expires_after": "version: 1\nblocked_expires_after: 3 days\n",
		"retention.worktrees":   "version: 1\nretention: {worktrees: forever}\n",
	} {
		_, err := Parse([]byte(doc), "agentos.yaml")
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: Parse = %v; want an error naming the key", key, err)
		}
	}
	if _, err := Parse([]byte("version: 1\nexec: {default_timeout: 90s}\n"), "agentos.yaml"); err != nil {
		t.Fatalf("a valid duration: %v", err)
	}
}
