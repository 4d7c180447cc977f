package coordinator

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// committedTask runs a one-file plan with a passing check to its commit.
func committedTask(t *testing.T, c *Coordinator, dir string) *agentos.Task {
	t.Helper()
	plan := filepath.Join(dir, "p.yaml")
	os.WriteFile(plan, []byte("version: 1\ngoal: add a\nsteps:\n  - write: {path: a.txt, content: \"a\\n\"}\nverify:\n  - argv: [\"true\"]\n"), 0o644)
	task, err := c.Run(t.Context(), PlanRequest{File: plan, Mode: agentos.ModeSemiAuto, Actor: agentos.Human("ann")})
	if err != nil || task.State != agentos.StateCommitted {
		t.Fatalf("Run = %v, %v", task, err)
	}
	return task
}

// Red line 5 for rollbacks: a panic in the rollback's run, or while its
// revert is being planned, still ends the rollback task failed with a
// ReviewPack; the target and the original task are untouched.
func TestPanickingRollbackStillWritesReviewPack(t *testing.T) {
	for _, phase := range []string{"plan", "apply"} {
		t.Run(phase, func(t *testing.T) {
			c, dir := gateCoordinator(t)
			ctx := t.Context()
			orig := committedTask(t, c, dir)
			head, _ := c.Repo.BranchHead(ctx, "main")
			c.Progress = func(ev ProgressEvent) {
				if ev.Phase == phase && ev.Task != orig.ID {
					panic("boom")
				}
			}
			res, err := c.Rollback(ctx, orig.ID, agentos.Human("ann"))
			if agentos.ErrorCode(err) != agentos.EINTERNAL || !strings.Contains(err.Error(), "boom") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Rollback = %v; want a one-line internal error naming the panic", err)
			}
			if res == nil || res.Rollback == nil {
				t.Fatalf("Rollback result %+v names no rollback task", res)
			}
			rt, _ := c.DB.Task(ctx, res.Rollback.ID)
			if rt.State != agentos.StateFailed || rt.Planner != PlannerRollback {
				t.Fatalf("rollback task = %s (%s), want a failed rollback task", rt.State, rt.Planner)
			}
			rp, md, err := c.DB.Review(ctx, rt.ID)
			if err != nil || rp.Outcome != agentos.StateFailed || !strings.Contains(md, "boom") {
				t.Fatalf("ReviewPack = %+v, %v", rp, err)
			}
			if phase == "apply" && rp.Run == "" {
				t.Fatalf("the ReviewPack of a panicking run names no run")
			}
			if _, err := os.Stat(c.ReviewPath(rt.ID, rp.Run) + ".md"); err != nil {
				t.Fatalf("ReviewPack file: %v", err)
			}
			if now, _ := c.Repo.BranchHead(ctx, "main"); now != head {
				t.Fatalf("main moved from %s to %s", head, now)
			}
			if o, _ := c.DB.Task(ctx, orig.ID); o.State != agentos.StateCommitted {
				t.Fatalf("original task is %s, want committed", o.State)
			}
			// The failed attempt does not stand in the way of the next one.
			c.Progress = nil
			res, err = c.Rollback(ctx, orig.ID, agentos.Human("ann"))
			if err != nil || res.Task.State != agentos.StateRolledBack || res.Revert == "" {
				t.Fatalf("second Rollback = %+v, %v", res, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "a.txt")); !os.IsNotExist(err) {
				t.Fatalf("a.txt still exists after the rollback: %v", err)
			}
		})
	}
}

// Red lines 4 and 7 have one choke point: commit.go is the only non-test
// file that calls CommitTree (Git.CommitTree, implemented by gitrepo), and
// nothing but gitrepo spells the git command it wraps. A second commit path (rollback had one) fails here.
func TestCommitTreeHasOneCaller(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	var users []string
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		inGitrepo := strings.HasPrefix(rel, "gitrepo/")
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if n.Sel.Name == "CommitTree" {
					users = append(users, rel)
				}
			case *ast.BasicLit:
				if s, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING && strings.Contains(s, "commit-tree") && !inGitrepo {
					users = append(users, rel+" (spells git commit-tree)")
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0] != "coordinator/commit.go" {
		t.Fatalf("references to CommitTree outside tests: %v; want exactly one, in coordinator/commit.go", users)
	}
}

// Red line 8 for rollbacks: when the target moves during the rollback's run
// with a change to the same lines, the rebase conflicts, nothing is
// overwritten, and the rollback task fails (it is not sent back to a
// planner) with a ReviewPack; the original stays committed.
func TestRollbackRebaseConflictFails(t *testing.T) {
	c, dir := gateCoordinator(t)
	ctx := t.Context()
	orig := committedTask(t, c, dir)
	moved := false
	c.Progress = func(ev ProgressEvent) {
		if ev.Task != orig.ID && ev.Phase == "verify" && ev.Done && !moved {
			moved = true
			os.WriteFile(filepath.Join(dir, "a.txt"), []byte("b\n"), 0o644)
			gitIn(t, dir, "commit", "-q", "-am", "someone edits a.txt meanwhile")
		}
	}
	res, err := c.Rollback(ctx, orig.ID, agentos.Human("ann"))
	if agentos.ErrorCode(err) != agentos.ECONFLICT || !strings.Contains(err.Error(), "agentos rollback "+orig.ID) {
		t.Fatalf("Rollback = %v; want a conflict naming how to start over", err)
	}
	if !moved {
		t.Fatal("the target never moved: the test did not exercise the rebase")
	}
	rt, _ := c.DB.Task(ctx, res.Rollback.ID)
	if rt.State != agentos.StateFailed {
		t.Fatalf("rollback task is %s, want failed", rt.State)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "b\n" {
		t.Fatalf("a.txt = %q: the concurrent change was overwritten", b)
	}
	if o, _ := c.DB.Task(ctx, orig.ID); o.State != agentos.StateCommitted {
		t.Fatalf("original task is %s, want committed", o.State)
	}
	if rp, _, err := c.DB.Review(ctx, rt.ID); err != nil || rp.Outcome != agentos.StateFailed || rp.Run == "" {
		t.Fatalf("ReviewPack = %+v, %v", rp, err)
	}
}
