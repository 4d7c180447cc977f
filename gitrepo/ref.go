package gitrepo

import (
	"context"
	"fmt"
	"strings"

	"github.com/agentos/agentos"
)

// AppendToRef commits a tree holding one file (name, content) on top of
// ref (a new root commit when ref does not exist) and moves ref to it with
// a compare-and-swap, retrying when another writer moved it meanwhile. It
// never touches a branch, the index or a working tree: the audit
// checkpoints' ref (package auditanchor) is written this way.
func (r *Repo) AppendToRef(ctx context.Context, ref, name string, content []byte, message string, id agentos.CommitIdentity) (string, error) {
	blob, err := runStdin(ctx, r.Root, nil, content, "hash-object", "-w", "--stdin")
	if err != nil {
		return "", err
	}
	tree, err := runStdin(ctx, r.Root, nil, fmt.Appendf(nil, "100644 blob %s\t%s\n", strings.TrimSpace(blob), name), "mktree")
	if err != nil {
		return "", err
	}
	for range 3 {
		old, _ := r.Git(ctx, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
		old = strings.TrimSpace(old)
		args := []string{"commit-tree", strings.TrimSpace(tree), "-F", "-"}
		if old != "" {
			args = append(args, "-p", old)
		}
		sha, err := runStdin(ctx, r.Root, identityEnv(id), []byte(message), args...)
		if err != nil {
			return "", err
		}
		sha = strings.TrimSpace(sha)
		expect := old
		if expect == "" {
			expect = strings.Repeat("0", len(sha)) // the ref must not exist yet
		}
		if _, err := r.Git(ctx, "update-ref", "-m", "agentos: "+name, ref, sha, expect); err == nil {
			return sha, nil
		}
	}
	return "", agentos.Errorf(agentos.ECONFLICT, "cannot move %s: other writers keep moving it", ref)
}
