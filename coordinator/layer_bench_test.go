package coordinator_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/agentos/agentos"
)

// BenchmarkTaskCost: the one-file run (a write and one grep verify, plan
// to commit, in process) on synthetic repositories, against the same change
// by hand with git (write, add, commit, grep), with copy-on-write worktrees
// and with full worktrees (AGENTOS_OVERLAY=off), fresh and after earlier
// tasks. Metrics are milliseconds and ratios; nothing is asserted.
// AGENTOS_BENCH_SIZES (default "1000,10000") and AGENTOS_BENCH_EARLIER
// (default 50) scale it.
func BenchmarkTaskCost(b *testing.B) {
	sizes := []int{1000, 10000}
	if s := os.Getenv("AGENTOS_BENCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range filepath.SplitList(s) {
			n, _ := strconv.Atoi(f)
			sizes = append(sizes, n)
		}
	}
	earlier := 50
	if s := os.Getenv("AGENTOS_BENCH_EARLIER"); s != "" {
		earlier, _ = strconv.Atoi(s)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			files := map[string]string{}
			for i := range n {
				files[fmt.Sprintf("src/d%03d/f%05d.txt", i%500, i)] = fmt.Sprintf("file %d\n", i)
			}
			res := map[string]time.Duration{}
			for _, mode := range []string{"overlay", "off"} {
				f := newFixture(b, layerPolicy, files)
				if mode == "off" {
					f.c.Env = append(f.c.Env, "AGENTOS_OVERLAY=off")
				}
				one := func(i int) time.Duration {
					plan := fmt.Sprintf("version: 1\ngoal: one file\nsteps:\n  - write: {path: new/n%d.txt, content: \"release %d\\n\"}\nverify:\n  - argv: [grep, -q, release, new/n%d.txt]\n", i, i, i)
					start := time.Now()
					task, err := f.plan(fmt.Sprintf("p%d.yaml", i), plan, agentos.ModeSemiAuto, true, nil)
					if err != nil || task.State != agentos.StateCommitted {
						b.Fatalf("run %d = %+v, %v", i, task, err)
					}
					return time.Since(start)
				}
				res[mode+"/first"] = one(0)
				for i := 1; i <= earlier; i++ {
					one(i)
				}
				var total time.Duration
				const k = 3
				for i := range k {
					total += one(earlier + 1 + i)
				}
				res[mode+"/after"] = total / k
				// By hand, in the same repository.
				start := time.Now()
				for i := range k {
					p := filepath.Join(f.dir, "hand", fmt.Sprintf("h%d.txt", i))
					os.MkdirAll(filepath.Dir(p), 0o755)
					os.WriteFile(p, []byte("release\n"), 0o644)
					f.git("add", "--", p)
					f.git("commit", "-q", "-m", "by hand")
					if err := exec.Command("grep", "-q", "release", p).Run(); err != nil {
						b.Fatal(err)
					}
				}
				res[mode+"/hand"] = time.Since(start) / k
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			for _, mode := range []string{"overlay", "off"} {
				b.ReportMetric(ms(res[mode+"/first"]), mode+"-first-ms")
				b.ReportMetric(ms(res[mode+"/after"]), mode+"-after-earlier-ms")
				b.ReportMetric(ms(res[mode+"/hand"]), mode+"-hand-ms")
				b.ReportMetric(float64(res[mode+"/first"])/float64(res[mode+"/hand"]), mode+"-ratio-vs-hand")
				b.ReportMetric(float64(res[mode+"/after"])/float64(res[mode+"/first"]), mode+"-after/first")
			}
			b.ReportMetric(float64(earlier), "earlier-tasks")
		})
	}
}
