package sandbox

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/agentos/agentos"
)

// SearchPath returns the PATH a sandboxed command gets: the absolute entries
// of the caller's PATH in parent (a relative entry would resolve against
// the command's working directory, i.e. the worktree a plan writes), or the
// system directories when none is left.
func SearchPath(parent []string) string {
	var keep []string
	for _, kv := range parent {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, d := range filepath.SplitList(v) {
				if filepath.IsAbs(d) {
					keep = append(keep, d)
				}
			}
		}
	}
	if len(keep) == 0 {
		keep = []string{"/usr/local/bin", "/usr/bin", "/bin"}
	}
	return strings.Join(keep, string(filepath.ListSeparator))
}

// Env builds the scrubbed environment of a sandboxed command from the
// caller's (parent, KEY=VALUE entries): SearchPath, HOME and TMPDIR set to
// the private temp dir tmp, AGENTOS=1, and of the caller's variables only
// those named by agentos.BaseEnvAllow or allow (the policy's
// exec.env_allow). Secrets in the caller's environment never reach the
// command. Every path that runs a command for a plan or a human builds its
// environment here, so the lists cannot drift apart.
func Env(parent, allow []string, tmp string) []string {
	names := append(agentos.BaseEnvAllow(), allow...)
	env := []string{"PATH=" + SearchPath(parent), "HOME=" + tmp, "TMPDIR=" + tmp, "AGENTOS=1"}
	for _, kv := range parent {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains(names, k) && !agentos.ReservedEnv(k) {
			env = append(env, kv)
		}
	}
	return env
}
