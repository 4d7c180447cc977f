package config

// Commit says how AgentOS's commits are made.
type Commit struct {
	// SigningKey signs every commit AgentOS makes with an SSH key, the way
	// git does with gpg.format=ssh: a private key file (no passphrase), a
	// public key file whose private half ssh-agent holds, or
	// "key::ssh-ed25519 AAAA…" (in ssh-agent). A leading ~/ is the home
	// directory. Empty: git's own commit.gpgsign decides.
	SigningKey string `yaml:"signing_key"`
}
