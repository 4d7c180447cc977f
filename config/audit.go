package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Audit says where the audit key is and what pins it (docs/audit.md).
type Audit struct {
	// KeyFile is the ed25519 key (OpenSSH format, no passphrase) that
	// signs checkpoints; empty: ~/.config/agentos/audit/<store identity>,
	// made by `agentos init`. Absolute or ~/…: never in the repository.
	KeyFile string `yaml:"key_file"`
	// PublicKey pins the key's public half ("ssh-ed25519 AAAA…", as
	// `agentos init` prints it): checkpoints signed by any other key do not
	// verify. Committed here, a rewrite of the store cannot swap it.
	PublicKey string `yaml:"public_key"`
	// Ref also writes every checkpoint to the git ref refs/agentos/audit
	// (to be pushed with the branch), not only to .agentos/checkpoints.
	Ref bool `yaml:"ref"`
}

func validateAudit(c *Config) error {
	a := c.Audit
	if k := a.KeyFile; k != "" && !strings.HasPrefix(k, "~/") && !filepath.IsAbs(k) {
		return fmt.Errorf("audit.key_file: %q: name an absolute path (or ~/…) outside the repository", k)
	}
	if a.PublicKey != "" {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(a.PublicKey))
		if err != nil {
			return fmt.Errorf("audit.public_key: does not parse as \"ssh-ed25519 AAAA…\": %v", err)
		}
		if pk.Type() != ssh.KeyAlgoED25519 {
			return fmt.Errorf("audit.public_key: a %s key, want ssh-ed25519", pk.Type())
		}
	}
	return nil
}
