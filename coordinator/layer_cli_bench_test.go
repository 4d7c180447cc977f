package coordinator_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos/sandbox"
)

// BenchmarkTaskCostCLI is issue 19's table, whole-process: `agentos run
// --plan` of a one-file plan with one grep verify (binary start, SQLite
// store, sandbox, integration into the checked-out branch) on synthetic
// repositories, against the same change by hand with git (write, add,
// commit, grep), with `agentos plan` of the same plan, the copy-on-write
// path and the full-worktree path (AGENTOS_OVERLAY=off) alternated in one
// run, before and after earlier tasks (one in ten of them fails its check
// and keeps its worktree). Each figure is the median of rounds; the metrics
// are milliseconds and ratios, nothing is asserted. Run with -benchtime=1x.
//
//	AGENTOS_BENCH_SIZES    files per repository (default "1000:10000"; add 100000)
//	AGENTOS_BENCH_EARLIER  earlier tasks between the two measurements (default 20)
//	AGENTOS_BENCH_ROUNDS   rounds per measurement (default 5)
//	AGENTOS_BENCH_EXT4=1   also on a fresh journaled ext4 image (loop mount; root)
//	AGENTOS_BENCH_OFF=0    leave out the full-worktree path (for long runs of earlier tasks)
func BenchmarkTaskCostCLI(b *testing.B) {
	if !sandbox.Confinable() {
		b.Skip("the sandbox is unavailable: copy-on-write worktrees need it")
	}
	sizes := benchInts("AGENTOS_BENCH_SIZES", []int{1000, 10000})
	earlier := benchInts("AGENTOS_BENCH_EARLIER", []int{20})[0]
	rounds := benchInts("AGENTOS_BENCH_ROUNDS", []int{5})[0]
	fss := []string{"root"}
	if os.Getenv("AGENTOS_BENCH_EXT4") == "1" {
		fss = append(fss, "ext4image")
	}
	for _, fsys := range fss {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("fs=%s/files=%d", fsys, n), func(b *testing.B) {
				for b.Loop() {
					root := b.TempDir()
					if fsys == "ext4image" {
						root = ext4Image(b)
					}
					taskCostCLI(b, root, n, earlier, rounds)
				}
			})
		}
	}
}

func benchInts(env string, def []int) []int {
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(s, ":") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return def
	}
	return out
}

// ext4Image mounts a fresh journaled ext4 (mkfs.ext4 defaults) on a loop
// device and returns its mount point.
func ext4Image(b *testing.B) string {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("a loop-mounted ext4 image needs root")
	}
	dir := b.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	os.MkdirAll(mnt, 0o755)
	for _, c := range [][]string{{"truncate", "-s", "16G", img}, {"mkfs.ext4", "-q", "-F", img}, {"mount", "-o", "loop", img, mnt}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			b.Skipf("%v: %v\n%s", c, err, out)
		}
	}
	b.Cleanup(func() { exec.Command("umount", mnt).Run() })
	return mnt
}

func taskCostCLI(b *testing.B, root string, n, earlier, rounds int) {
	b.StopTimer()
	dir := filepath.Join(root, "repo")
	os.MkdirAll(dir, 0o755)
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
	// No automatic gc: at 100k loose objects the by-hand commits would
	// start one in the background, which skews every later figure and
	// races the temporary directory's removal.
	git("config", "gc.auto", "0")
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("src/d%03d/f%06d.txt", i%500, i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(fmt.Sprintf("file %d\n", i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	git("add", ".")
	git("commit", "-q", "-m", "base")
	// cpu is the user+system time of each agentos process and the
	// processes it waited for (git, the sandbox helper): on a machine
	// shared with other work it moves far less than wall time.
	var cpu time.Duration
	agentos := func(env []string, args ...string) time.Duration {
		b.Helper()
		cmd := exec.Command(agentosBin, append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if cmd.ProcessState != nil {
			cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		if err != nil && !strings.Contains(out.String(), "fails-on-purpose") {
			b.Fatalf("agentos %v: %v\n%s", args, err, out.String())
		}
		return d
	}
	agentos(nil, "init")
	if err := os.WriteFile(filepath.Join(dir, "agentos.yaml"), []byte(testPolicy), 0o644); err != nil {
		b.Fatal(err)
	}
	git("add", "agentos.yaml")
	git("commit", "-q", "-m", "policy")
	plans := b.TempDir()
	seq := 0
	planFile := func(fail bool) string {
		seq++
		check := fmt.Sprintf("argv: [grep, -q, release, new/n%d.txt]", seq)
		if fail {
			check = fmt.Sprintf("{name: fails-on-purpose, argv: [grep, -q, absent, new/n%d.txt]}", seq)
		}
		p := filepath.Join(plans, fmt.Sprintf("p%d.yaml", seq))
		plan := fmt.Sprintf("version: 1\ngoal: one file %d\nsteps:\n  - write: {path: new/n%d.txt, content: \"release %d\\n\"}\nverify:\n  - %s\n", seq, seq, seq, check)
		if err := os.WriteFile(p, []byte(plan), 0o644); err != nil {
			b.Fatal(err)
		}
		return p
	}
	hand := func() time.Duration {
		seq++
		rel := fmt.Sprintf("hand/h%d.txt", seq)
		start := time.Now()
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("release\n"), 0o644)
		git("add", "--", rel)
		git("commit", "-q", "-m", "by hand")
		if err := exec.Command("grep", "-q", "release", p).Run(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	off := []string{"AGENTOS_OVERLAY=off"}
	// The first run of each path pays one-time costs (the overlay probe,
	// the first base checkout): measured apart.
	withOff := os.Getenv("AGENTOS_BENCH_OFF") != "0"
	first := map[string]time.Duration{"overlay": agentos(nil, "run", "--plan", planFile(false))}
	if withOff {
		first["off"] = agentos(off, "run", "--plan", planFile(false))
	}
	measure := func() map[string]time.Duration {
		got := map[string][]time.Duration{}
		for range rounds {
			got["overlay"] = append(got["overlay"], agentos(nil, "run", "--plan", planFile(false)))
			got["overlay-cpu"] = append(got["overlay-cpu"], cpu)
			if withOff {
				got["off"] = append(got["off"], agentos(off, "run", "--plan", planFile(false)))
			}
			got["hand"] = append(got["hand"], hand())
			got["plan"] = append(got["plan"], agentos(nil, "plan", "--file", planFile(false)))
			got["plan-cpu"] = append(got["plan-cpu"], cpu)
		}
		med := map[string]time.Duration{}
		for k, v := range got {
			slices.Sort(v)
			med[k] = v[len(v)/2]
		}
		return med
	}
	before := measure()
	for i := range earlier {
		agentos(nil, "run", "--plan", planFile(i%10 == 9))
	}
	after := measure()
	b.StartTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	kinds := []string{"overlay", "plan"}
	if withOff {
		kinds = append(kinds, "off")
	}
	for k, d := range first {
		b.ReportMetric(ms(d), k+"-very-first-ms")
	}
	for _, k := range append([]string{"hand"}, kinds...) {
		b.ReportMetric(ms(before[k]), k+"-ms")
		b.ReportMetric(ms(after[k]), k+"-after-earlier-ms")
	}
	for _, k := range []string{"overlay-cpu", "plan-cpu"} {
		b.ReportMetric(ms(before[k]), k+"-ms")
		b.ReportMetric(ms(after[k]), k+"-after-earlier-ms")
		b.ReportMetric(float64(after[k])/float64(before[k]), k+"-after/before")
	}
	for _, k := range kinds {
		b.ReportMetric(ms(before[k]-before["hand"]), k+"-overhead-ms")
		b.ReportMetric(float64(before[k])/float64(before["hand"]), k+"/hand")
		b.ReportMetric(float64(after[k])/float64(before[k]), k+"-after/before")
	}
	b.ReportMetric(float64(earlier), "earlier-tasks")
}
