package gitrepo

import (
	"context"
	"strconv"
	"strings"
)

// FileUpTo returns the bytes of path in commit, or ok=false when commit has
// no file there. Files larger than limit are not read (big=true, with their
// size): a preview shows a diff a person can read, not a 64 MiB blob.
func (r *Repo) FileUpTo(ctx context.Context, commit, path string, limit int64) (content []byte, size int64, ok bool, err error) {
	spec := commit + ":" + path
	out, err := r.Git(ctx, "cat-file", "-s", spec)
	if err != nil {
		return nil, 0, false, nil // no such file at commit
	}
	size, err = strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return nil, 0, false, err
	}
	if size > limit {
		return nil, size, true, nil
	}
	blob, ok, err := r.FileAt(ctx, commit, path)
	return blob, size, ok, err
}
