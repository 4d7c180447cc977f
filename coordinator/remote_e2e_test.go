package coordinator_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/postgres/pgtest"
)

const remotePolicy = testPolicy + `integration:
  remote: origin
`

// TestRemoteTwoClones is workers on two machines: two clones of one bare
// remote sharing one store, integrating through the remote (fetch, rebase,
// verify again, push fast-forward only). A commit pushed by a person in
// between must be rebased onto, never overwritten. Every task lands once,
// the remote's history is linear, and the audit chain verifies.
func TestRemoteTwoClones(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	// The store both machines share: PostgreSQL, as a team runs it, and the
	// SQLite file shared through the file system as a stand-in.
	t.Run("store=postgres", func(t *testing.T) {
		t.Setenv("AGENTOS_STORE_URL", pgtest.FreshDatabase(t))
		remoteTwoClones(t, nil)
	})
	t.Run("store=sqlite", func(t *testing.T) {
		remoteTwoClones(t, func(a, b string) {
			shared := filepath.Join(a, ".agentos", "agentos.db")
			for _, f := range []string{"", "-wal", "-shm"} {
				os.Remove(filepath.Join(b, ".agentos", "agentos.db"+f))
			}
			// b adopts a's store: its own anchor named the store its init made.
			os.Remove(filepath.Join(b, ".agentos", "store.json"))
			if err := os.Symlink(shared, filepath.Join(b, ".agentos", "agentos.db")); err != nil {
				t.Fatal(err)
			}
		})
	})
}

func remoteTwoClones(t *testing.T, share func(a, b string)) {
	root := t.TempDir()
	bare := filepath.Join(root, "remote.git")
	run := func(dir string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v in %s: %v\n%s", name, args, dir, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(root, "git", "init", "-q", "--bare", "-b", "main", bare)
	seed := mustRepo(t, remotePolicy, map[string]string{"README": "base\n"})
	run(seed, "git", "push", "-q", bare, "main")
	base := run(seed, "git", "rev-parse", "main")

	clone := func(name string) string {
		dir := filepath.Join(root, name)
		run(root, "git", "clone", "-q", bare, dir)
		run(dir, "git", "config", "user.name", name)
		run(dir, "git", "config", "user.email", name+"@example.com")
		mustAgentos(t, dir, "init")
		if s := run(dir, "git", "status", "--porcelain"); s != "" {
			t.Fatalf("init changed the clone %s: %s", name, s)
		}
		return dir
	}
	a, b := clone("a"), clone("b")
	if share != nil {
		share(a, b)
	}

	var ids []string
	for i := range 6 {
		ids = append(ids, submit(t, a, fmt.Sprint("t", i), writePlan(fmt.Sprint("task ", i), fmt.Sprintf("t%d.txt", i), "x\n")))
	}
	// A person pushes to the remote after the plans were based: every task
	// must rebase onto it.
	human := filepath.Join(root, "human")
	run(root, "git", "clone", "-q", bare, human)
	os.WriteFile(filepath.Join(human, "HUMAN.txt"), []byte("by hand\n"), 0o644)
	run(human, "git", "add", "HUMAN.txt")
	run(human, "git", "-c", "user.name=h", "-c", "user.email=h@example.com", "commit", "-q", "-m", "by hand")
	run(human, "git", "push", "-q", "origin", "main")

	var cmds []*exec.Cmd
	var errs [2]bytes.Buffer
	for i, dir := range []string{a, b} {
		cmd := exec.Command(agentosBin, "-C", dir, "worker", "--workers", "2", "--until-idle", "--poll", "20ms")
		cmd.Stderr = &errs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, errs[i].String())
		}
	}

	// The remote: linear, the person's commit kept, one commit per task.
	if merges := run(bare, "git", "rev-list", "--merges", "main"); merges != "" {
		t.Errorf("merge commits on the remote: %s", merges)
	}
	run(bare, "git", "merge-base", "--is-ancestor", run(human, "git", "rev-parse", "HEAD"), "main")
	count := map[string]int{}
	for _, s := range strings.Split(run(bare, "git", "log", "--format=%(trailers:key=AgentOS-Task,valueonly)%x00", base+"..main"), "\x00") {
		if s = strings.TrimSpace(s); s != "" {
			count[s]++
		}
	}
	var tasks []agentos.Task
	if err := json.Unmarshal([]byte(mustAgentos(t, b, "task", "list", "--json").stdout), &tasks); err != nil {
		t.Fatal(err)
	}
	byID := map[string]agentos.Task{}
	for _, tk := range tasks {
		byID[tk.ID] = tk
	}
	for _, id := range ids {
		tk := byID[id]
		if tk.State != agentos.StateCommitted || count[id] != 1 {
			t.Errorf("task %s is %s (%s) with %d commits on the remote, want committed with 1", id, tk.State, tk.Reason, count[id])
		}
		if !strings.Contains(run(bare, "git", "branch", "--contains", tk.Commit), "main") {
			t.Errorf("task %s: its recorded commit %s is not on the remote's main", id, tk.Commit)
		}
	}
	for _, dir := range []string{a, b} {
		if r := agentosRun(t, dir, "audit", "verify"); r.code != 0 {
			t.Fatalf("audit verify in %s: exit %d: %s%s", dir, r.code, r.stdout, r.stderr)
		}
	}
	t.Logf("worker a:\n%sworker b:\n%s", errs[0].String(), errs[1].String())
}
