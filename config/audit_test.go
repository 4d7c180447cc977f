package config

import (
	"strings"
	"testing"
)

func TestAudit(t *testing.T) {
	const ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIjbwrAI6HO4/Obrnt6YtWM9toQLAmT0OYmuHgupYmbU"
	const rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCxBa+bTSyZDaIDlP9XVq0NIzGRzuHQQ+IDDaY2zOT6eU8U80+Qyh3ZeAmIeionbS9xxZCgQPxbxTilkO7iel8DixfVAclttV+6k3a5FuT787iwoak86gdEDR2DMjhBGKJbf1JoaBTw1RSbP9EDnKRz24h+d3/2rG+6Mf0qPzFPhQ=="
	for _, tc := range []struct{ yaml, err string }{
		{"audit: {public_key: \"" + ed + "\", ref: true}", ""},
		{"audit: {key_file: ~/keys/audit}", ""},
		{"audit: {key_file: /etc/agentos/audit}", ""},
		{"audit: {key_file: keys/audit}", "audit.key_file: \"keys/audit\": name an absolute path"},
		{"audit: {public_key: nonsense}", "audit.public_key: does not parse"},
		{"audit: {public_key: \"" + rsa + "\"}", "audit.public_key: a ssh-rsa key, want ssh-ed25519"},
	} {
		_, err := Parse([]byte("version: 1\n"+tc.yaml+"\n"), "agentos.yaml")
		if tc.err == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.yaml, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.yaml, err, tc.err)
		}
	}
}
