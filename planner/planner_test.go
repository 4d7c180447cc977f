package planner

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

func TestInScope(t *testing.T) {
	cases := []struct {
		path  string
		scope []string
		want  bool
	}{
		{"cmd/serve.go", []string{"cmd/serve.go"}, true},
		{"cmd/serve.go", []string{"cmd"}, true},
		{"cmd/serve.go", []string{"cmd/"}, true},
		{"cmd/serve.go", []string{"cmd/*.go"}, true},
		{"cmd/sub/x.go", []string{"cmd/*.go"}, false},
		{"cmd/sub/x.go", []string{"cmd/**"}, true},
		{"cmd/sub/x.go", []string{"cmd/**/*.go"}, true},
		{"cmd/sub/x.txt", []string{"cmd/**/*.go"}, false},
		{"cmdx/a.go", []string{"cmd"}, false},
		{"a.go", nil, false},
		{"a.go", []string{"."}, true},
	}
	for _, tc := range cases {
		if got := InScope(tc.path, tc.scope); got != tc.want {
			t.Errorf("InScope(%q, %q) = %v, want %v", tc.path, tc.scope, got, tc.want)
		}
	}
}

func TestCheckPlan(t *testing.T) {
	tree := RepoContext{Tree: []string{"a.go", "dir/b.go"}}
	w := func(p string) agentos.Step { return agentos.Step{Kind: agentos.StepWrite, Path: p} }
	cases := []struct {
		name  string
		steps []agentos.Step
		want  string
	}{
		{"OK", []agentos.Step{w("new/c.go"), {Kind: agentos.StepDelete, Path: "new/c.go"}, {Kind: agentos.StepRename, From: "a.go", To: "z.go"}, {Kind: agentos.StepPatch, Diff: "x", Paths: []string{"z.go"}}}, ""},
		{"ErrNoSteps", nil, "no steps"},
		{"ErrDeleteMissing", []agentos.Step{{Kind: agentos.StepDelete, Path: "nope.go"}}, `deletes "nope.go", which does not exist`},
		{"ErrDeletedThenPatched", []agentos.Step{{Kind: agentos.StepDelete, Path: "a.go"}, {Kind: agentos.StepPatch, Diff: "x", Paths: []string{"a.go"}}}, `patches "a.go", which does not exist`},
		{"ErrRenameMissing", []agentos.Step{{Kind: agentos.StepRename, From: "q.go", To: "r.go"}}, `renames "q.go"`},
		{"ErrEscape", []agentos.Step{w("../x")}, "leaves the repository"},
		{"ErrUnclean", []agentos.Step{w("dir/../a.go")}, "is not clean"},
		{"ErrProtected", []agentos.Step{w("agentos.yaml")}, "is protected"},
		{"ErrExecNoArgv", []agentos.Step{{Kind: agentos.StepExec}}, "no argv"},
		{"ErrKind", []agentos.Step{{Kind: "chmod"}}, `unknown kind "chmod"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPlan(agentos.Plan{Steps: tc.steps}, tree.Exists)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckPlan = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || agentos.ErrorCode(err) != agentos.EINVALID {
				t.Fatalf("CheckPlan = %v, want invalid containing %q", err, tc.want)
			}
		})
	}
}

func TestBuildRepoContext(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	os.MkdirAll(filepath.Join(dir, "cmd"), 0o755)
	os.WriteFile(filepath.Join(dir, "cmd", "serve.go"), []byte(strings.Repeat("x", 100)), 0o644)
	os.WriteFile(filepath.Join(dir, "cmd", "bin.dat"), []byte{0, 1, 2}, 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("readme"), 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "init")
	// An uncommitted edit must not be shown: the base is the commit.
	os.WriteFile(filepath.Join(dir, "cmd", "serve.go"), []byte("DIRTY"), 0o644)

	rc, err := BuildRepoContext(t.Context(), dir, "HEAD", []string{"cmd"}, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Tree) != 3 || len(rc.Files) != 1 || rc.Files[0].Path != "cmd/serve.go" || rc.Files[0].Content != strings.Repeat("x", 100) {
		t.Errorf("context = %+v", rc)
	}
	if len(rc.Omitted) != 1 || !strings.Contains(rc.Omitted[0], "binary") {
		t.Errorf("Omitted = %v, want the binary file", rc.Omitted)
	}
	small, err := BuildRepoContext(t.Context(), dir, "HEAD", []string{"cmd"}, 80)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, p := range small.Tree {
		total += len(p) + 1
	}
	for _, f := range small.Files {
		total += len(f.Path) + len(f.Content)
	}
	if total > 80 || len(small.Files) != 1 || !small.Files[0].Truncated {
		t.Errorf("budget 80: spent %d, files %+v; want a truncated file within budget", total, small.Files)
	}
	if !rc.Exists("cmd") || !rc.Exists("README.md") || rc.Exists("cm") {
		t.Errorf("Exists gives wrong answers")
	}
}
