package coordinator_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/sandbox"
)

const layerPolicy = `version: 1
target: main
sandbox: {require: false}
commands: {allow: [sh, grep, "true", test, chmod, ln, echo, rm]}
`

var layerFiles = map[string]string{
	".gitignore": ".agentos/\n*.log\n",
	"notes.txt":  "one\n",
	"run.sh":     "#!/bin/sh\necho run\n",
	"d/x":        "x\n",
	"d/y":        "y\n",
	"e/f":        "f\n",
}

// Deletion, rename, mode change, symlink, a file a command creates, a
// directory replaced by a file, and an ignored file a command leaves.
const layerPlan = `version: 1
goal: every kind of change
steps:
  - delete: {path: d/x}
  - rename: {from: notes.txt, to: renamed.txt}
  - exec:
      argv: [sh, -c, "chmod +x run.sh && ln -s renamed.txt link && echo made > made.txt && echo noise > build.log && rm -r e && echo file > e"]
      writes: [run.sh, link, made.txt, e, e/f]
verify:
  - argv: [grep, -q, one, renamed.txt]
`

func overlayOrSkip(t *testing.T) {
	t.Helper()
	// In CI (CI=true) the machine provides both: missing is a failure.
	skip := t.Skipf
	if os.Getenv("CI") == "true" {
		skip = t.Fatalf
	}
	if !sandbox.Confinable() {
		skip("the sandbox is unavailable here: copy-on-write worktrees need it")
	}
	if err := sandbox.OverlayCheck(t.TempDir()); err != nil {
		skip("overlay unavailable here: %v", err)
	}
}

func (f *fixture) changes(commit string) string {
	return f.git("diff-tree", "-r", "--no-renames", "--name-status", commit+"^", commit)
}

// A layer's commit holds exactly its changes, the same tree a full
// worktree makes (forced with AGENTOS_OVERLAY=off), and the layer is
// removed after it.
func TestLayerCommitIsExactlyTheChange(t *testing.T) {
	overlayOrSkip(t)
	trees := map[string]string{}
	for _, mode := range []string{"overlay", "off"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t, layerPolicy, layerFiles)
			if mode == "off" {
				f.c.Env = append(f.c.Env, "AGENTOS_OVERLAY=off")
			}
			task, err := f.plan("p.yaml", layerPlan, agentos.ModeSemiAuto, true, nil)
			if err != nil || task.State != agentos.StateCommitted {
				t.Fatalf("run = %+v, %v", task, err)
			}
			got := f.changes(task.Commit)
			for _, line := range []string{"D\td/x", "D\tnotes.txt", "A\trenamed.txt", "M\trun.sh", "A\tlink", "A\tmade.txt", "D\te/f", "A\te"} {
				if !strings.Contains("\n"+got+"\n", "\n"+line+"\n") {
					t.Errorf("commit lacks %q; it has:\n%s", line, got)
				}
			}
			if n := len(strings.Split(got, "\n")); n != 8 {
				t.Errorf("commit has %d changes, want 8:\n%s", n, got)
			}
			if mode := f.git("ls-tree", task.Commit, "run.sh"); !strings.HasPrefix(mode, "100755") {
				t.Errorf("run.sh is %s, want mode 100755", mode)
			}
			if l := f.git("ls-tree", task.Commit, "link"); !strings.HasPrefix(l, "120000") {
				t.Errorf("link is %s, want a symlink", l)
			}
			if _, err := os.Stat(filepath.Join(f.dir, ".agentos", "worktrees", task.ID)); err == nil {
				t.Errorf("the worktree of a committed task is still there")
			}
			_, err = os.Stat(filepath.Join(f.dir, ".agentos", "bases", "0", "tree", "d", "x"))
			if (mode == "overlay") != (err == nil) {
				t.Errorf("%s: base checkout holding d/x exists = %v, want %v", mode, err == nil, mode == "overlay")
			}
			trees[mode] = f.git("rev-parse", task.Commit+"^{tree}")
		})
	}
	if trees["overlay"] != trees["off"] {
		t.Errorf("the layer's tree %s differs from the full worktree's %s", trees["overlay"], trees["off"])
	}
}

// Two tasks on one base share its checkout, and each sees only its own
// change: the second runs (and lands) while the first is verifying, over
// the same base, and cannot see the first's file; the first then rebases
// onto the moved target without a worktree and lands too.
func TestLayerTasksShareTheBase(t *testing.T) {
	overlayOrSkip(t)
	f := newFixture(t, layerPolicy, layerFiles)
	planA := `version: 1
goal: a
steps:
  - write: {path: a.txt, content: "A\n"}
verify:
  - argv: [grep, -q, A, a.txt]
`
	planB := `version: 1
goal: b
steps:
  - write: {path: b.txt, content: "B\n"}
  - exec: {argv: [sh, -c, "! test -e a.txt"]}
verify:
  - argv: [sh, -c, "! test -e a.txt && grep -q B b.txt"]
`
	b, err := f.plan("b.yaml", planB, agentos.ModeSemiAuto, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	bases := func() int {
		es, _ := os.ReadDir(filepath.Join(f.dir, ".agentos", "bases"))
		n := 0
		for _, e := range es {
			if _, err := os.Stat(filepath.Join(f.dir, ".agentos", "bases", e.Name(), "tree")); err == nil {
				n++
			}
		}
		return n
	}
	var during int
	var bErr error
	var bTask *agentos.Task
	started := false
	f.c.Progress = func(ev coordinator.ProgressEvent) {
		if ev.Task == b.ID && ev.Phase == "verify" && !ev.Done {
			during = bases()
		}
		if ev.Task != b.ID && ev.Phase == "verify" && !ev.Done && !started {
			started = true
			bTask, bErr = f.c.Apply(t.Context(), b.ID, agentos.Actor("human:ann"))
		}
	}
	a, err := f.plan("a.yaml", planA, agentos.ModeSemiAuto, true, nil)
	if err != nil || a.State != agentos.StateCommitted {
		t.Fatalf("task a = %+v, %v", a, err)
	}
	if bErr != nil || bTask.State != agentos.StateCommitted {
		t.Fatalf("task b = %+v, %v", bTask, bErr)
	}
	if during != 1 {
		t.Errorf("while both ran there were %d base checkouts, want 1 shared", during)
	}
	for _, p := range []string{"a.txt", "b.txt"} {
		if _, ok := f.onMain(p); !ok {
			t.Errorf("main lacks %s", p)
		}
	}
	if got := f.changes(a.Commit); got != "A\ta.txt" {
		t.Errorf("a's commit after the rebase holds:\n%s\nwant only a.txt", got)
	}
}

// A layer that only adds and modifies files is staged from the layer alone
// (no view): its commit is the same as a full worktree's, modes and
// symlinks included, a new file the base's .gitignore ignores left out,
// and .gitattributes of the base applied (a clean filter's eol rule).
func TestLayerStagedWithoutView(t *testing.T) {
	overlayOrSkip(t)
	files := map[string]string{
		".gitignore":     ".agentos/\n*.log\nout/\n",
		".gitattributes": "*.txt text eol=lf\n",
		"notes.txt":      "one\n",
		"run.sh":         "#!/bin/sh\necho run\n",
		"d/x":            "x\n",
	}
	plan := `version: 1
goal: adds and edits only
steps:
  - write: {path: d/new.txt, content: "crlf\r\nline\r\n"}
  - write: {path: out/o, content: "o\n"}
  - exec:
      argv: [sh, -c, "chmod +x run.sh && echo two >> notes.txt && ln -s notes.txt link && echo noise > d/build.log"]
      writes: [run.sh, notes.txt, link, d/build.log]
verify:
  - argv: [grep, -q, two, notes.txt]
`
	trees := map[string]string{}
	for _, mode := range []string{"overlay", "off"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t, layerPolicy, files)
			if mode == "off" {
				f.c.Env = append(f.c.Env, "AGENTOS_OVERLAY=off")
			}
			task, err := f.plan("p.yaml", plan, agentos.ModeSemiAuto, true, nil)
			if err != nil || task.State != agentos.StateCommitted {
				t.Fatalf("run = %+v, %v", task, err)
			}
			got := f.changes(task.Commit)
			want := "A\td/new.txt\nA\tlink\nM\tnotes.txt\nM\trun.sh"
			if got != want {
				t.Errorf("commit changes:\n%s\nwant:\n%s", got, want)
			}
			if b := f.git("cat-file", "-p", task.Commit+":d/new.txt"); strings.Contains(b, "\r") {
				t.Errorf("d/new.txt committed with CR (the base's .gitattributes not applied): %q", b)
			}
			trees[mode] = f.git("rev-parse", task.Commit+"^{tree}")
		})
	}
	if trees["overlay"] != trees["off"] {
		t.Errorf("the layer's tree %s differs from the full worktree's %s", trees["overlay"], trees["off"])
	}
}
