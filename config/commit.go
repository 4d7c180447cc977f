package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Commit says how AgentOS's commits are made.
type Commit struct {
	// SigningKey signs every commit AgentOS makes with an SSH key, the way
	// git does with gpg.format=ssh: a private key file (no passphrase), a
	// public key file whose private half ssh-agent holds, or
	// "key::ssh-ed25519 AAAA…" (in ssh-agent). A leading ~/ is the home
	// directory. Empty: the repository's git config decides (commit.gpgsign
	// with gpg.format ssh).
	SigningKey string `yaml:"signing_key"`
}

// validateCommit refuses a signing key named relative to the repository:
// git would look for it in the repository, where it would be committed,
// and where every sandboxed command could read it.
func validateCommit(c *Config) error {
	k := c.Commit.SigningKey
	if k == "" || strings.HasPrefix(k, "key::") || strings.HasPrefix(k, "~/") || filepath.IsAbs(k) {
		return nil
	}
	return fmt.Errorf("commit.signing_key: %q: name a key file by an absolute path or ~/… outside the repository (e.g. ~/.ssh/agentos_signing), or a key in ssh-agent as key::ssh-ed25519 AAAA…", k)
}
