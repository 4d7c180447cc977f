package agentos

import "strings"

// The security lists live here and nowhere else: every package that
// protects a path or scrubs an environment calls these, and deps_test.go
// fails if a literal copy of an entry appears in another file (a copy
// drifts: the sandbox command once lacked LC_CTYPE).

// The repository paths no plan, step, command or contractor may write.
const (
	GitDir     = ".git"         // the repository's own git data (hooks, config)
	StateDir   = ".agentos"     // AgentOS's git-ignored state: store, worktrees, ReviewPacks
	PolicyFile = "agentos.yaml" // the policy: only a human changes it
)

// ProtectedPaths lists the repository-relative paths no step may write and
// that stay read-only inside every sandbox. It returns a new slice, so no
// caller can change the list for the others.
func ProtectedPaths() []string {
	return []string{GitDir, StateDir, PolicyFile}
}

// IsProtected reports whether p (clean, slash-separated, relative to the
// repository root) is or is under a protected path. The check is
// case-insensitive so ".GIT/config" on a case-folding filesystem is refused
// too, and any ".git" element counts: a nested repository's git dir is as
// dangerous as ours (hooks, config).
func IsProtected(p string) bool {
	lp := strings.ToLower(p)
	for _, pr := range ProtectedPaths() {
		if lp == pr || strings.HasPrefix(lp, pr+"/") {
			return true
		}
	}
	for _, el := range strings.Split(lp, "/") {
		if el == GitDir {
			return true
		}
	}
	return false
}

// BaseEnvAllow lists the variables every sandboxed command may inherit from
// the caller besides the policy's exec.env_allow: locale, time zone and
// terminal, never a secret. It returns a new slice.
func BaseEnvAllow() []string {
	return []string{"LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM"}
}

// ReservedEnv reports whether AgentOS itself sets the variable name in a
// sandboxed command's environment (PATH, HOME, TMPDIR), so that no allowlist
// can pass the caller's value through instead.
func ReservedEnv(name string) bool {
	switch name {
	case "PATH", "HOME", "TMPDIR":
		return true
	}
	return false
}

// CredentialPaths lists, relative to the invoking user's home, where
// credentials live: SSH keys, cloud and registry logins, token stores. They
// are never visible to a sandboxed command, even when a policy makes a
// directory around them readable (a toolchain under ~/.cargo, a cache under
// ~/.config). The policy's sandbox.hide adds to the list. It returns a new
// slice.
func CredentialPaths() []string {
	return []string{
		".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker/config.json",
		".config/gcloud", ".config/gh", ".config/hub", ".config/git/credentials", ".config/op",
		".config/pip/pip.conf", ".config/containers/auth.json",
		".netrc", ".git-credentials", ".npmrc", ".yarnrc", ".yarnrc.yml", ".pypirc",
		".cargo/credentials", ".cargo/credentials.toml", ".gem/credentials",
		".m2/settings.xml", ".gradle/gradle.properties", ".terraform.d/credentials.tfrc.json",
		".vault-token", ".password-store", ".local/share/keyrings",
		// AgentOS's own keys (auditkey): what signs the audit checkpoints.
		".config/agentos",
	}
}
