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
