package coordinator_test

import (
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/agentos/agentos"
)

// TestDiskFull: a step that fills the filesystem the repository lives on (a
// 20 MiB tmpfs) ends the task failed with a ReviewPack, never stuck in a
// running state: the target untouched, the audit chain whole, no lease
// left. The next run is refused before it starts while the disk stays full.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but not root: the disk-full test mounts a tmpfs")
		}
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("config", "user.name", "ann")
	git("config", "user.email", "ann@example.com")
	os.WriteFile(filepath.Join(dir, "README"), []byte("base\n"), 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "base")
	mustAgentos(t, dir, "init")
	policy := testPolicy + "store:\n  min_free_mib: 4\n"
	policy = strings.Replace(policy, "allow: [", "allow: [dd, ", 1)
	if err := os.WriteFile(filepath.Join(dir, "agentos.yaml"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "agentos.yaml")
	git("commit", "-q", "-m", "policy")
	base := gitOut(t, dir, "rev-parse", "main")

	plan := filepath.Join(t.TempDir(), "fill.yaml")
	os.WriteFile(plan, []byte(`version: 1
goal: fill the disk
steps:
  - write: {path: big.bin, content: ""}
  - exec: {argv: [dd, if=/dev/zero, of=big.bin, bs=1M, count=100]}
verify:
  - argv: [test, -s, big.bin]
`), 0o644)
	r := agentosRun(t, dir, "run", "--plan", plan, "--json")
	t.Logf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	if head := gitOut(t, dir, "rev-parse", "main"); head != base {
		t.Fatalf("main moved to %s", head)
	}
	db := openDB(t, dir)
	ts, err := db.Tasks(t.Context(), agentos.TaskFilter{})
	if err != nil || len(ts) != 1 {
		t.Fatalf("tasks: %v %v", ts, err)
	}
	tk := ts[0]
	if tk.State != agentos.StateFailed {
		t.Fatalf("task %s is %s (%s), want failed", tk.ID, tk.State, tk.Reason)
	}
	rp, _, err := db.Review(t.Context(), tk.ID)
	if err != nil || rp.Outcome != agentos.StateFailed || rp.Run == "" {
		t.Fatalf("ReviewPack in the store: %+v, %v", rp, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ".agentos", "reviews", tk.ID+"-"+rp.Run+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk agentos.ReviewPack
	if err := json.Unmarshal(b, &onDisk); err != nil || onDisk.Hash != rp.Hash {
		t.Fatalf("ReviewPack file: %v, hash %s want %s", err, onDisk.Hash, rp.Hash)
	}
	mustAgentos(t, dir, "audit", "verify")
	if l := mustAgentos(t, dir, "lock", "list", "--json"); strings.Contains(l.stdout, tk.ID) {
		t.Fatalf("a lease of %s is left:\n%s", tk.ID, l.stdout)
	}
	if out, _ := exec.Command("pgrep", "-f", "of=big.bin").Output(); len(out) > 0 {
		t.Fatalf("the step's dd outlived the run: %s", out)
	}

	// While the disk stays full, nothing starts: the next task stays queued.
	two := filepath.Join(t.TempDir(), "two.yaml")
	os.WriteFile(two, []byte(writePlan("two", "two.txt", "two\n")), 0o644)
	r = agentosRun(t, dir, "run", "--plan", two)
	if r.code != 5 || !strings.Contains(r.stderr, "not starting a run") {
		t.Fatalf("run on a full disk: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "two.txt")); err == nil {
		t.Fatal("two.txt was written on a full disk")
	}
	// Removing the failed run's kept worktree frees the space: work goes on.
	mustAgentos(t, dir, "task", "clean", "--all")
	mustAgentos(t, dir, "worker", "--until-idle")
	if got := gitOut(t, dir, "show", "main:two.txt"); got != "two" {
		t.Fatalf("two.txt on main = %q", got)
	}
}

// TestDiskFullPlanning: planning on a nearly full disk (a 40 MiB tmpfs
// filled up to a few MiB) ends cleanly: a plan file that cannot be stored
// creates no task; a plan whose content cannot be stored (a small template
// expanding to 6 MiB) ends its task failed with a ReviewPack, before the
// disk is full; with room, it plans. Exit 1 with one line naming the full
// disk; the target untouched; the audit chain whole; no blob half-stored,
// no stray temp file. Before, the task stayed `created` or `planning`.
func TestDiskFullPlanning(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but not root: the disk-full test mounts a tmpfs")
		}
		t.Skip("mounting a tmpfs needs root")
	}
	inline := filepath.Join(t.TempDir(), "big.yaml")
	os.WriteFile(inline, []byte("version: 1\ngoal: big\nsteps:\n  - write: {path: big.txt, content: \""+strings.Repeat("x", 6<<20)+"\"}\nverify:\n  - argv: [test, -s, big.txt]\n"), 0o644)
	tmpl := filepath.Join(t.TempDir(), "tmpl.yaml")
	os.WriteFile(tmpl, []byte("version: 1\ngoal: expand\nparams:\n  - {id: x, question: \"x?\"}\nsteps:\n  - write: {path: big.txt, content: \""+strings.Repeat("{{ .params.x }}", 6000)+"\"}\n    template: true\nverify:\n  - argv: [test, -s, big.txt]\n"), 0o644)
	x := "x=" + strings.Repeat("y", 1000)
	for _, c := range []struct {
		name    string
		args    []string
		keepKiB int64
		want    string // "none", "failed" or "planned"
	}{
		{"plan file does not fit", []string{"plan", "--file", inline}, 9000, "none"},
		{"content does not fit", []string{"plan", "--file", tmpl, "--set", x}, 9000, "failed"},
		{"room enough", []string{"plan", "--file", tmpl, "--set", x}, 30000, "planned"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "fs")
			os.MkdirAll(dir, 0o755)
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", dir).CombinedOutput(); err != nil {
				t.Fatalf("mount tmpfs: %v: %s", err, out)
			}
			t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
			git := func(args ...string) {
				t.Helper()
				if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
					t.Fatalf("git %v: %v\n%s", args, err, out)
				}
			}
			git("init", "-q", "-b", "main")
			git("config", "user.name", "ann")
			git("config", "user.email", "ann@example.com")
			os.WriteFile(filepath.Join(dir, "README"), []byte("base\n"), 0o644)
			git("add", ".")
			git("commit", "-q", "-m", "base")
			mustAgentos(t, dir, "init")
			git("add", "agentos.yaml")
			git("commit", "-q", "-m", "policy")
			base := gitOut(t, dir, "rev-parse", "main")

			var st syscall.Statfs_t
			if err := syscall.Statfs(dir, &st); err != nil {
				t.Fatal(err)
			}
			filler := filepath.Join(dir, "filler")
			if out, err := exec.Command("fallocate", "-l", strconv.FormatInt(int64(st.Bavail)*st.Bsize-c.keepKiB<<10, 10), filler).CombinedOutput(); err != nil {
				t.Fatalf("fallocate: %v: %s", err, out)
			}
			r := agentosRun(t, dir, c.args...)
			t.Logf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			os.Remove(filler) // inspect with room to open the store
			if head := gitOut(t, dir, "rev-parse", "main"); head != base {
				t.Fatalf("main moved to %s", head)
			}
			db := openDB(t, dir)
			ts, err := db.Tasks(t.Context(), agentos.TaskFilter{})
			if err != nil {
				t.Fatal(err)
			}
			switch c.want {
			case "none":
				if len(ts) != 0 || r.code != 1 || !strings.Contains(r.stderr, "is full") || !strings.Contains(r.stderr, "no task was created") || strings.Contains(r.stdout, "created") {
					t.Fatalf("want no task and exit 1; tasks %+v, exit %d", ts, r.code)
				}
			case "failed":
				if len(ts) != 1 || ts[0].State != agentos.StateFailed || r.code != 1 || !strings.Contains(ts[0].Reason, "is full") || strings.Contains(r.stderr, "failed:") {
					t.Fatalf("want one failed task with its ReviewPack and exit 1; tasks %+v, exit %d", ts, r.code)
				}
				rp, _, err := db.Review(t.Context(), ts[0].ID)
				if err != nil || rp.Outcome != agentos.StateFailed {
					t.Fatalf("ReviewPack of the failed task: %+v, %v", rp, err)
				}
				if _, err := os.Stat(filepath.Join(dir, ".agentos", "reviews", ts[0].ID+"-plan.json")); err != nil {
					t.Fatal(err)
				}
			case "planned":
				if len(ts) != 1 || ts[0].State != agentos.StatePlanned || r.code != 0 {
					t.Fatalf("want one planned task; tasks %+v, exit %d", ts, r.code)
				}
			}
			// Nothing half-written: every blob has all its bytes, no temp file.
			raw, err := sql.Open("sqlite", filepath.Join(dir, ".agentos", "agentos.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var torn int
			if err := raw.QueryRowContext(t.Context(), `SELECT count(*) FROM blobs b WHERE size != (SELECT coalesce(sum(length(data)), 0) FROM blob_chunks c WHERE c.hash = b.hash)`).Scan(&torn); err != nil || torn != 0 {
				t.Fatalf("%d blobs stored in part (%v)", torn, err)
			}
			if tmps, _ := filepath.Glob(filepath.Join(dir, ".agentos", "reviews", ".tmp-*")); len(tmps) > 0 {
				t.Fatalf("temp files left: %v", tmps)
			}
			mustAgentos(t, dir, "audit", "verify")
		})
	}
}
