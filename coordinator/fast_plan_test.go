package coordinator_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

var planFiles = map[string]string{
	"notes.txt":      "one\n",
	"docs/guide.md":  "guide\n",
	"tools/other.sh": "#!/bin/sh\n",
}

const notesPatch = `  - patch:
      diff: |
        diff --git a/notes.txt b/notes.txt
        --- a/notes.txt
        +++ b/notes.txt
        @@ -1 +1 @@
        -one
        +TWO
`

// TestFastPlanEveryStepKind: a plan using every step kind is validated
// against the base, applied in the worktree, verified, and lands as one
// commit holding exactly its changes.
func TestFastPlanEveryStepKind(t *testing.T) {
	f := newFixture(t, fastPolicy, planFiles)
	plan := `version: 1
goal: every kind of step
steps:
  - mkdir: {path: build/out}
  - write: {path: build/out/a.txt, content: "a\n"}
  - rename: {from: build/out/a.txt, to: build/out/b.txt}
  - delete: {path: docs/guide.md}
  - write: {path: docs/new.md, content: "new\n"}
` + notesPatch + `  - exec: {argv: [grep, -q, TWO, notes.txt], timeout: 30s}
  - exec: {argv: [grep, -c, new, new.md], cwd: docs}
verify:
  - argv: [grep, -q, a, build/out/b.txt]
    timeout: 1m
`
	task, err := f.plan("every.yaml", plan, agentos.ModeSemiAuto, true, nil)
	if err != nil || task.State != agentos.StateCommitted {
		t.Fatalf("run = %+v, %v", task, err)
	}
	for path, want := range map[string]string{"build/out/b.txt": "a\n", "docs/new.md": "new\n", "notes.txt": "TWO\n"} {
		if got, ok := f.onMain(path); !ok || got != want {
			t.Errorf("main:%s = %q (%v), want %q", path, got, ok, want)
		}
	}
	for _, gone := range []string{"docs/guide.md", "build/out/a.txt"} {
		if _, ok := f.onMain(gone); ok {
			t.Errorf("main still has %s", gone)
		}
	}
	p, _, err := f.db.Plan(t.Context(), task.PlanID)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 8 || p.Steps[5].DiffHash == "" || p.Steps[7].Cwd != "docs" || p.Steps[6].TimeoutMS != 30000 || p.Verify[0].TimeoutMS != 60000 {
		t.Fatalf("stored plan steps = %+v, verify %+v", p.Steps, p.Verify)
	}
	ps, err := f.db.Patches(t.Context(), task.RunID)
	if err != nil || len(ps) == 0 {
		t.Fatalf("patches of the run = %+v, %v", ps, err)
	}
	f.wantReview(task.ID, agentos.StateCommitted)
}

// TestFastPlanRefusals: planning is a dry run against the base commit
// (red line 3): a step that escapes the repository, writes into .git,
// names what is not there, collides with what is, or runs a command off the
// allowlist fails the task at planning with a ReviewPack and no plan.
func TestFastPlanRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, steps string
		code, says  string
	}{
		{"escape", "  - write: {path: ../outside.txt, content: x}\n", agentos.EDENIED, "step 1 (write"},
		{"dot git", "  - write: {path: .git/hooks/pre-commit, content: x}\n", agentos.EDENIED, ".git"},
		{"write a directory", "  - write: {path: docs, content: x}\n", agentos.EINVALID, `"docs" is a directory`},
		{"mkdir over a file", "  - mkdir: {path: notes.txt}\n", agentos.EINVALID, "exists and is a file"},
		{"delete what is not there", "  - delete: {path: nope.txt}\n", agentos.EDENIED, `"nope.txt" does not exist in the base commit`},
		{"rename what is not there", "  - rename: {from: nope.txt, to: b.txt}\n", agentos.EDENIED, `"nope.txt" does not exist`},
		{"rename onto a file", "  - rename: {from: notes.txt, to: docs/guide.md}\n", agentos.EINVALID, "already exists"},
		{"patch creates an existing file", "  - patch:\n      diff: |\n        diff --git a/notes.txt b/notes.txt\n        new file mode 100644\n        --- /dev/null\n        +++ b/notes.txt\n        @@ -0,0 +1 @@\n        +x\n", agentos.EINVALID, `patch creates "notes.txt"`},
		{"patch of a missing file", "  - patch:\n      diff: |\n        diff --git a/nope.txt b/nope.txt\n        --- a/nope.txt\n        +++ b/nope.txt\n        @@ -1 +1 @@\n        -a\n        +b\n", agentos.EDENIED, `patch changes "nope.txt"`},
		{"patch that does not apply", "  - patch:\n      diff: |\n        diff --git a/notes.txt b/notes.txt\n        --- a/notes.txt\n        +++ b/notes.txt\n        @@ -1 +1 @@\n        -zero\n        +TWO\n", agentos.EINVALID, "does not apply to the base commit"},
		{"command off the allowlist", "  - exec: {argv: [rm, -rf, docs]}\n", agentos.EDENIED, "rm"},
		{"repo script off the allowlist", "  - exec: {argv: [./tools/other.sh]}\n", agentos.EDENIED, "not on the allowlist"},
		{"allowed script not in the tree", "  - exec: {argv: [./tools/gen.sh]}\n", agentos.EDENIED, "does not exist in the base commit"},
		{"cwd not a directory", "  - exec: {argv: [\"true\"], cwd: notes.txt}\n", agentos.EDENIED, "cwd"},
		{"writes outside", "  - exec: {argv: [\"true\"], writes: [../x]}\n", agentos.EDENIED, "writes:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fastPolicy, planFiles)
			task, err := f.plan("bad.yaml", "version: 1\ngoal: "+tc.name+"\nsteps:\n"+tc.steps, agentos.ModeSemiAuto, false, nil)
			wantErr(t, err, tc.code, tc.says, tc.name)
			// Refused before a task was made: none is left behind, and the
			// refusal is audited.
			if task != nil {
				t.Fatalf("a refused plan left task %s (%s)", task.ID, task.State)
			}
			if ts, err := f.db.Tasks(t.Context(), agentos.TaskFilter{}); err != nil || len(ts) != 0 {
				t.Fatalf("tasks after a refusal: %v, %v", ts, err)
			}
			evs, err := f.db.Events(t.Context(), agentos.EventFilter{Kind: agentos.EventPlanRefused})
			if err != nil || len(evs) != 1 || evs[0].Task != "" || !strings.Contains(string(evs[0].Data), `"code":"`+tc.code+`"`) {
				t.Fatalf("plan.refused events %+v, %v; want one with code %s", evs, err, tc.code)
			}
		})
	}
}

// TestFastPlanRefusesDirtyPaths: a plan that writes a path the user has
// uncommitted changes in fails, naming the path; other paths plan fine.
func TestFastPlanRefusesDirtyPaths(t *testing.T) {
	f := newFixture(t, fastPolicy, planFiles)
	if err := os.WriteFile(filepath.Join(f.dir, "notes.txt"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	task, err := f.plan("dirty.yaml", "version: 1\ngoal: overwrite\nsteps:\n  - write: {path: notes.txt, content: x}\nverify:\n  - argv: [\"true\"]\n", agentos.ModeSemiAuto, false, nil)
	wantErr(t, err, agentos.EINVALID, "uncommitted changes in notes.txt", "plan over a dirty path")
	if task != nil {
		t.Fatalf("a refused plan left task %s", task.ID)
	}
	f.mustPlan("clean.yaml", plainPlan)
	// Status is asked about the plan's paths only, yet still sees a change
	// below a path the plan writes (an untracked file in a directory it
	// deletes) and one above it (an untracked file where the plan makes a
	// directory); a change elsewhere does not count.
	if err := os.WriteFile(filepath.Join(f.dir, "docs", "draft.md"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = f.plan("below.yaml", "version: 1\ngoal: drop docs\nsteps:\n  - delete: {path: docs}\nverify:\n  - argv: [\"true\"]\n", agentos.ModeSemiAuto, false, nil)
	wantErr(t, err, agentos.EINVALID, "uncommitted changes in docs/draft.md", "plan over a directory with an untracked file")
	if err := os.WriteFile(filepath.Join(f.dir, "tools", "mine"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = f.plan("above.yaml", "version: 1\ngoal: under\nsteps:\n  - write: {path: tools/mine/sub.txt, content: x}\nverify:\n  - argv: [\"true\"]\n", agentos.ModeSemiAuto, false, nil)
	wantErr(t, err, agentos.EINVALID, "uncommitted changes in tools/mine", "plan under an untracked file")
	f.mustPlan("elsewhere.yaml", "version: 1\ngoal: elsewhere\nsteps:\n  - write: {path: fresh/new.txt, content: x}\nverify:\n  - argv: [\"true\"]\n")
	// A verify check off the allowlist is refused the same way.
	task, err = f.plan("verify.yaml", "version: 1\ngoal: v\nsteps:\n  - write: {path: v.txt, content: x}\nverify:\n  - argv: [rm, v.txt]\n", agentos.ModeSemiAuto, false, nil)
	wantErr(t, err, agentos.EDENIED, "verify check 1", "verify off the allowlist")
	if task != nil {
		t.Fatalf("a refused plan left task %s", task.ID)
	}
}
