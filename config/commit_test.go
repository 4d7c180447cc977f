package config

import (
	"strings"
	"testing"
)

func TestCommitSection(t *testing.T) {
	for _, k := range []string{"~/.ssh/agentos_signing", "/etc/agentos/key", "key::ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAA"} {
		c, err := Parse([]byte("version: 1\ncommit:\n  signing_key: \""+k+"\"\n"), "agentos.yaml")
		if err != nil || c.Commit.SigningKey != k {
			t.Errorf("signing_key %q: %+v, %v", k, c, err)
		}
	}
	for _, tc := range []struct{ doc, want string }{
		{"version: 1\ncommit:\n  signing_key: keys/signing\n", "commit.signing_key: \"keys/signing\": name a key file by an absolute path or ~/"},
		{"version: 1\ncommit:\n  signingkey: ~/k\n", "line 3: field signingkey is not a known key here"},
	} {
		if _, err := Parse([]byte(tc.doc), "agentos.yaml"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.doc, err, tc.want)
		}
	}
}
