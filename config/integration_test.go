package config

import (
	"strings"
	"testing"
)

func TestIntegrationRemote(t *testing.T) {
	for _, tc := range []struct{ remote, err string }{
		{"", ""},
		{"origin", ""},
		{"--upload-pack=x", "is not a git remote name"},
		{"a b", "is not a git remote name"},
		{"https://example.com/r.git", "is not a git remote name"},
	} {
		c, err := Parse([]byte("version: 1\nintegration:\n  remote: \""+tc.remote+"\"\n"), "agentos.yaml")
		if tc.err == "" {
			if err != nil || c.Integration.Remote != tc.remote {
				t.Errorf("remote %q: %v", tc.remote, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "integration.remote") {
			t.Errorf("remote %q: err = %v, want %q", tc.remote, err, tc.err)
		}
	}
}
