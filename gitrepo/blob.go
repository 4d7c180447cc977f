package gitrepo

import (
	"context"
	"errors"
	"os/exec"

	"github.com/agentos/agentos"
)

// FileAt returns path's bytes as committed at commit, read from the object
// database (never the working tree); ok is false when commit has no such
// file. The bytes are the blob's own: no filter or line-ending conversion.
func (r *Repo) FileAt(ctx context.Context, commit, path string) ([]byte, bool, error) {
	// The policy, read by every command, is cached by object id
	// (fastref.go); other files are read once each anyway.
	policy := path == agentos.PolicyFile
	if policy {
		if b, found, ok := r.cachedPolicy(commit); ok {
			return b, found, nil
		}
	}
	out, err := r.Git(ctx, "cat-file", "blob", commit+":"+path)
	if err == nil {
		if policy {
			r.remember(commit, "policy", policyEntry([]byte(out), true))
		}
		return []byte(out), true, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return nil, false, agentos.WrapError(agentos.EINTERNAL, err, "cannot read %s at %s: %v", path, commit, err)
	}
	// git refused: no such commit, or no blob at path in it (asked only
	// now, so a file that is there costs one git run).
	if !r.HasCommit(ctx, commit) {
		return nil, false, agentos.Errorf(agentos.ENOTFOUND, "%s is not a commit in %s", commit, r.Root)
	}
	if policy {
		r.remember(commit, "policy", policyEntry(nil, false))
	}
	return nil, false, nil
}
