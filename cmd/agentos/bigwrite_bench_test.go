package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// BenchmarkBigWrite reports the peak RSS of the agentos process planning
// and applying a plan that writes one 64 MiB single-line file (issue 14),
// with limits raised to allow it: go test ./cmd/agentos -run '^$' -bench BigWrite -benchtime 1x
// The figures are the child's ru_maxrss, so they are the real process's
// and include the Go runtime's headroom.
func BenchmarkBigWrite(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "agentos")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	home, repo := filepath.Join(dir, "home"), filepath.Join(dir, "repo")
	for _, d := range []string{home, repo} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Bench\n\temail = b@e.com\n[init]\n\tdefaultBranch = main\n"), 0o644)
	env := append(os.Environ(), "HOME="+home, "NO_COLOR=1", "GIT_CONFIG_NOSYSTEM=1")
	run := func(name string, args ...string) (string, int64) {
		b.Helper()
		c := exec.Command(name, args...)
		c.Dir, c.Env = repo, env
		out, err := c.CombinedOutput()
		if err != nil && !(name == bin && args[0] == "apply" && c.ProcessState.ExitCode() == 4) {
			b.Fatalf("%s %v: %v\n%.2000s", name, args, err, out)
		}
		ru, _ := c.ProcessState.SysUsage().(*syscall.Rusage)
		return string(out), ru.Maxrss << 10 // KiB on Linux
	}
	os.WriteFile(filepath.Join(repo, "README.md"), []byte("hi\n"), 0o644)
	run("git", "init", "-q")
	run("git", "add", ".")
	run("git", "commit", "-qm", "init")
	run(bin, "init")
	f, _ := os.OpenFile(filepath.Join(repo, "agentos.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("limits:\n  plan_file_bytes: 134217728\n  file_bytes: 134217728\n")
	f.Close()
	run("git", "add", "agentos.yaml")
	run("git", "commit", "-qm", "policy")
	const size = 64 << 20
	plan := filepath.Join(dir, "big.yaml")
	os.WriteFile(plan, []byte("version: 1\ngoal: one big line\nsteps:\n  - write: {path: big.txt, content: \""+strings.Repeat("x", size)+"\"}\nverify:\n  - argv: [test, -s, big.txt]\n"), 0o644)
	b.ResetTimer()
	for range b.N {
		_, planRSS := run(bin, "plan", "--file", plan)
		out, _ := run(bin, "task", "list", "--json")
		var tasks []struct {
			ID       string `json:"id"`
			PlanHash string `json:"plan_hash"`
		}
		if err := json.Unmarshal([]byte(out), &tasks); err != nil || len(tasks) == 0 {
			b.Fatalf("task list: %v\n%.500s", err, out)
		}
		run(bin, "apply", tasks[0].ID) // held by large-diff (bytes): exit 4
		run(bin, "approve", tasks[0].ID, "--plan", tasks[0].PlanHash)
		_, applyRSS := run(bin, "apply", tasks[0].ID)
		if st, err := os.Stat(filepath.Join(repo, "big.txt")); err != nil || st.Size() != size {
			b.Fatalf("big.txt after apply: %v", err)
		}
		b.ReportMetric(float64(planRSS)/(1<<20), "plan-MiB")
		b.ReportMetric(float64(applyRSS)/(1<<20), "apply-MiB")
		b.ReportMetric(float64(planRSS)/size, "plan-x-file")
		b.ReportMetric(float64(applyRSS)/size, "apply-x-file")
	}
}
