package coordinator_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentos/agentos/postgres/pgtest"
)

// BenchmarkWorkerProcesses: 100 disjoint one-file tasks run to completion
// by 1, 2 and 4 `agentos worker` processes sharing one store: the embedded
// SQLite file, and PostgreSQL when AGENTOS_TEST_POSTGRES names a server
// (each sub-benchmark then gets its own database through
// AGENTOS_STORE_URL). Reports tasks/s; the ratio between the workers=N
// sub-benchmarks of one store is the scaling. Run with -benchtime=1x.
func BenchmarkWorkerProcesses(b *testing.B) {
	const tasks = 100
	stores := []string{"sqlite"}
	if os.Getenv("AGENTOS_TEST_POSTGRES") != "" {
		stores = append(stores, "postgres")
	}
	for _, store := range stores {
		for _, workers := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("store=%s/workers=%d", store, workers), func(b *testing.B) {
				var total time.Duration
				for b.Loop() {
					b.StopTimer()
					env := storeEnv(b, store)
					dir := mustRepoEnv(b, env, testPolicy, map[string]string{"README": "base\n"})
					for i := range tasks {
						submitEnv(b, env, dir, fmt.Sprint("t", i), writePlan(fmt.Sprint("task ", i), fmt.Sprintf("f%03d.txt", i), "x\n"))
					}
					b.StartTimer()
					start := time.Now()
					var cmds []*exec.Cmd
					errs := make([]bytes.Buffer, workers)
					for w := range workers {
						cmd := exec.Command(agentosBin, "-C", dir, "worker", "--until-idle", "--poll", "20ms")
						cmd.Env = append(os.Environ(), env...)
						cmd.Stderr = &errs[w]
						if err := cmd.Start(); err != nil {
							b.Fatal(err)
						}
						cmds = append(cmds, cmd)
					}
					for w, cmd := range cmds {
						if err := cmd.Wait(); err != nil {
							b.Fatalf("worker %d: %v\n%s", w, err, errs[w].String())
						}
					}
					total += time.Since(start)
					b.StopTimer()
					out := runEnv(b, env, dir, "task", "list", "--state", "committed", "--json")
					if n := bytes.Count(out, []byte(`"state": "committed"`)); n != tasks {
						b.Fatalf("%d of %d tasks committed", n, tasks)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(tasks*b.N)/total.Seconds(), "tasks/s")
			})
		}
	}
}

// storeEnv returns the environment that points agentos at a fresh store of
// kind ("sqlite": none needed; the repository's own file).
func storeEnv(b testing.TB, kind string) []string {
	if kind != "postgres" {
		return nil
	}
	return []string{"AGENTOS_STORE_URL=" + pgtest.FreshDatabase(b)}
}

func runEnv(b testing.TB, env []string, dir string, args ...string) []byte {
	b.Helper()
	cmd := exec.Command(agentosBin, append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		b.Fatalf("agentos %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return out.Bytes()
}

func mustRepoEnv(b testing.TB, env []string, policy string, files map[string]string) string {
	b.Helper()
	dir := b.TempDir()
	git := func(args ...string) {
		b.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("config", "user.name", "ann")
	git("config", "user.email", "ann@example.com")
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	git("add", ".")
	git("commit", "-q", "-m", "base")
	runEnv(b, env, dir, "init")
	if err := os.WriteFile(filepath.Join(dir, "agentos.yaml"), []byte(policy), 0o644); err != nil {
		b.Fatal(err)
	}
	git("add", "agentos.yaml")
	git("commit", "-q", "-m", "policy")
	return dir
}

func submitEnv(b testing.TB, env []string, dir, name, plan string) {
	b.Helper()
	pf := filepath.Join(b.TempDir(), name+".yaml")
	if err := os.WriteFile(pf, []byte(plan), 0o644); err != nil {
		b.Fatal(err)
	}
	runEnv(b, env, dir, "submit", "--plan", pf)
}
