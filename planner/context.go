package planner

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/agentos/agentos/gitrepo"
)

// RepoContext is what a planner is shown of the repository, within a byte
// budget: the file tree at the base commit and the content of the files in
// the intent's scope.
type RepoContext struct {
	Commit string   `json:"commit"`
	Tree   []string `json:"tree"`
	// TreeOmitted counts tree entries left out for the budget.
	TreeOmitted int        `json:"tree_omitted"`
	Files       []FileText `json:"files"`
	// Omitted lists scoped files left out (budget, binary).
	Omitted []string `json:"omitted"`
}

// FileText is one file's content as shown to a planner.
type FileText struct {
	Path      string `json:"path"`
	Content   string `json:"content"`
	Truncated bool   `json:"truncated"`
}

// Exists reports whether p is a file or a directory in the tree.
func (c RepoContext) Exists(p string) bool {
	for _, t := range c.Tree {
		if t == p || strings.HasPrefix(t, p+"/") {
			return true
		}
	}
	return false
}

// BuildRepoContext reads the tree of commit in the repository at root and the
// files matching scope (paths, directories or globs; "**" matches any depth),
// spending at most budget bytes in all. Paths are read from git objects, never
// from the working tree, so what the planner sees is exactly the base.
func BuildRepoContext(ctx context.Context, root, commit string, scope []string, budget int) (RepoContext, error) {
	rc := RepoContext{Commit: commit, Tree: []string{}, Files: []FileText{}, Omitted: []string{}}
	out, err := gitrepo.GitIn(ctx, root, nil, "ls-tree", "-r", "-z", "--name-only", commit)
	if err != nil {
		return rc, fmt.Errorf("listing the files of %s: %w", commit, err)
	}
	all := strings.Split(strings.TrimRight(out, "\x00"), "\x00")
	if len(all) == 1 && all[0] == "" {
		all = nil
	}
	// The tree may use up to half the budget.
	spent := 0
	for i, p := range all {
		if spent+len(p)+1 > budget/2 {
			rc.TreeOmitted = len(all) - i
			break
		}
		rc.Tree = append(rc.Tree, p)
		spent += len(p) + 1
	}
	for _, p := range all {
		if !InScope(p, scope) {
			continue
		}
		blob, err := gitrepo.GitIn(ctx, root, nil, "show", commit+":"+p)
		if err != nil {
			rc.Omitted = append(rc.Omitted, p)
			continue
		}
		if bytes.IndexByte([]byte(blob), 0) >= 0 {
			rc.Omitted = append(rc.Omitted, p+" (binary)")
			continue
		}
		left := budget - spent - len(p)
		if left <= 0 {
			rc.Omitted = append(rc.Omitted, p)
			continue
		}
		ft := FileText{Path: p, Content: blob}
		if len(blob) > left {
			ft.Content, ft.Truncated = blob[:left], true
		}
		spent += len(p) + len(ft.Content)
		rc.Files = append(rc.Files, ft)
	}
	return rc, nil
}

// InScope reports whether repository path p is matched by one of the scope
// entries: an exact path, a directory prefix, a glob (path.Match), or a
// pattern with "**" (anything below the part before it).
func InScope(p string, scope []string) bool {
	for _, s := range scope {
		s = strings.TrimPrefix(strings.TrimSuffix(s, "/"), "./")
		if s == "" || s == "." || s == "**" {
			return true
		}
		if p == s || strings.HasPrefix(p, s+"/") {
			return true
		}
		if ok, _ := path.Match(s, p); ok {
			return true
		}
		if i := strings.Index(s, "**"); i >= 0 {
			prefix := s[:i]
			rest := strings.TrimPrefix(s[i+2:], "/")
			if strings.HasPrefix(p, prefix) {
				if rest == "" {
					return true
				}
				if ok, _ := path.Match(rest, path.Base(p)); ok {
					return true
				}
			}
		}
	}
	return false
}
