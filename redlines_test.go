package agentos_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

func TestIsProtected(t *testing.T) {
	for p, want := range map[string]bool{
		".git": true, ".git/config": true, ".GIT/hooks/pre-commit": true, "sub/.git/config": true,
		".agentos": true, ".agentos/store.db": true, "agentos.yaml": true, "AgentOS.yaml": true,
		".gitignore": false, ".github/workflows/ci.yml": false, "agentos.yaml.bak": false,
		"docs/agentos.yaml": false, ".agentosrc": false, "src/main.go": false,
	} {
		if got := agentos.IsProtected(p); got != want {
			t.Errorf("IsProtected(%q) = %v, want %v", p, got, want)
		}
	}
}

// The lists are returned fresh: a caller that appends to or edits its copy
// cannot change what the next caller gets.
func TestSecurityListsAreCopies(t *testing.T) {
	p := agentos.ProtectedPaths()
	p[0] = "x"
	e := agentos.BaseEnvAllow()
	e[0] = "SECRET"
	if agentos.ProtectedPaths()[0] != agentos.GitDir || agentos.BaseEnvAllow()[0] == "SECRET" {
		t.Fatal("a caller changed the shared security lists")
	}
	if !slices.Contains(agentos.BaseEnvAllow(), "LC_CTYPE") {
		t.Fatal("LC_CTYPE left the base environment allowlist")
	}
}

// TestSecurityListsHaveOneHome scans every non-test Go file of the module for
// a string literal equal to an entry of the security lists: such a literal
// outside redlines.go is a second copy of a list, and copies drift (the
// `sandbox run` environment once lacked LC_CTYPE). Use agentos.GitDir,
// StateDir, PolicyFile, ProtectedPaths, IsProtected and BaseEnvAllow.
func TestSecurityListsHaveOneHome(t *testing.T) {
	banned := map[string]bool{}
	for _, s := range append(agentos.ProtectedPaths(), agentos.BaseEnvAllow()...) {
		banned[s] = true
		banned[s+"/"] = true
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || path == "redlines.go" {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && banned[s] {
				t.Errorf("%s: the literal %s copies a security list entry: use the agentos package's list (redlines.go)", fset.Position(lit.Pos()), lit.Value)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
