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
	if !r.HasCommit(ctx, commit) {
		return nil, false, agentos.Errorf(agentos.ENOTFOUND, "%s is not a commit in %s", commit, r.Root)
	}
	out, err := r.Git(ctx, "cat-file", "blob", commit+":"+path)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			// The commit exists, so git's refusal means no blob at path.
			return nil, false, nil
		}
		return nil, false, agentos.WrapError(agentos.EINTERNAL, err, "cannot read %s at %s: %v", path, commit, err)
	}
	return []byte(out), true, nil
}
