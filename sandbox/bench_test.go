package sandbox_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/agentos/agentos/sandbox"
)

// Sandbox start overhead, measured against a bare exec of /bin/true in the
// same run. Reported as median and p95 per variant, and their ratio; no
// assertion on time.

func quantiles(d []time.Duration) (median, p95 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, len(s)*95/100)]
}

func report(b *testing.B, name string, d []time.Duration) time.Duration {
	med, p95 := quantiles(d)
	b.ReportMetric(float64(med.Microseconds())/1000, name+"-median-ms")
	b.ReportMetric(float64(p95.Microseconds())/1000, name+"-p95-ms")
	return med
}

func bareTrue(b *testing.B) {
	if err := exec.Command("/bin/true").Run(); err != nil {
		b.Fatal(err)
	}
}

func sandboxTrue(b *testing.B, wt string, network bool) {
	res, err := sandbox.Run(context.Background(), sandbox.Spec{
		Argv: []string{"/bin/true"}, Worktree: wt, Require: true, Network: network,
	})
	if err != nil || res.ExitCode != 0 || res.Unconfined {
		b.Fatalf("%+v %v", res, err)
	}
}

// BenchmarkSandboxOverhead alternates bare and sandboxed runs so that both
// see the same machine state.
func BenchmarkSandboxOverhead(b *testing.B) {
	if !sandbox.Check().OK() {
		b.Skip("sandbox unavailable")
	}
	wt := b.TempDir()
	var bare, boxed, boxedNet []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		bareTrue(b)
		bare = append(bare, time.Since(t))
		t = time.Now()
		sandboxTrue(b, wt, false)
		boxed = append(boxed, time.Since(t))
		t = time.Now()
		sandboxTrue(b, wt, true)
		boxedNet = append(boxedNet, time.Since(t))
	}
	mb := report(b, "bare", bare)
	ms := report(b, "sandbox", boxed)
	mn := report(b, "sandbox-network", boxedNet)
	b.ReportMetric(float64(ms)/float64(mb), "ratio")
	b.ReportMetric(float64(mn)/float64(mb), "ratio-network")
}

func BenchmarkBareTrue(b *testing.B) {
	for b.Loop() {
		bareTrue(b)
	}
}

func BenchmarkSandboxTrue(b *testing.B) {
	if !sandbox.Check().OK() {
		b.Skip("sandbox unavailable")
	}
	wt := b.TempDir()
	for b.Loop() {
		sandboxTrue(b, wt, false)
	}
}

// BenchmarkCLISandboxRun is the issue's figure: `agentos sandbox run --
// /bin/true` (binary start, policy load, rules, sandbox: the whole
// process) against `bwrap --unshare-all` and `unshare -Urnmpf` where they
// are installed, `agentos --version` (the binary's own start) and a bare
// /bin/true, alternated in one run. Reported: each one's median wall time
// and CPU time (user+system of the process and its children), and
// agentos's ratio to each. It builds the real binary (and, given
// AGENTOS_BENCH_BASELINE_REV, the one of that revision).
//
//	AGENTOS_BENCH_BASELINE_REV=main go test ./sandbox/ -run '^$' -bench CLISandboxRun -benchtime 200x
func BenchmarkCLISandboxRun(b *testing.B) {
	if !sandbox.Check().OK() {
		b.Skip("sandbox unavailable")
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "agentos")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/agentos/agentos/cmd/agentos").CombinedOutput(); err != nil {
		b.Skipf("cannot build agentos: %v\n%s", err, out)
	}
	repo := filepath.Join(dir, "repo")
	for _, args := range [][]string{{"init", "-q", repo}, {"-C", repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "x"}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			b.Skipf("git: %v %s", err, out)
		}
	}
	policy := "version: 1\ncommands:\n  allow: [true]\nsandbox:\n  require: true\n"
	if err := os.WriteFile(filepath.Join(repo, "agentos.yaml"), []byte(policy), 0o644); err != nil {
		b.Fatal(err)
	}
	// Committed, as the policy in force is (cli/policybase.go).
	for _, args := range [][]string{{"-C", repo, "add", "agentos.yaml"}, {"-C", repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "policy"}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			b.Fatalf("git: %v %s", err, out)
		}
	}
	type variant struct {
		name      string
		argv      []string
		wall, cpu []time.Duration
	}
	vs := []*variant{
		{name: "bare", argv: []string{"/bin/true"}},
		// The binary's own start (runtime and package init, the command
		// tree), the floor under every agentos command.
		{name: "version", argv: []string{bin, "--version"}},
		{name: "cli", argv: []string{bin, "-C", repo, "sandbox", "run", "--", "/bin/true"}},
	}
	// AGENTOS_BENCH_BASELINE names another agentos binary (an older build),
	// AGENTOS_BENCH_BASELINE_REV a git revision of this repository to build
	// one from, to alternate with: before and after in one run.
	baseline := os.Getenv("AGENTOS_BENCH_BASELINE")
	if rev := os.Getenv("AGENTOS_BENCH_BASELINE_REV"); rev != "" && baseline == "" {
		baseline = buildRevision(b, rev, dir)
	}
	if baseline != "" {
		vs = append(vs, &variant{name: "baseline", argv: []string{baseline, "-C", repo, "sandbox", "run", "--", "/bin/true"}})
	}
	if p, err := exec.LookPath("bwrap"); err == nil {
		vs = append(vs, &variant{name: "bwrap", argv: []string{p, "--unshare-all", "--ro-bind", "/", "/", "/bin/true"}})
	}
	if p, err := exec.LookPath("unshare"); err == nil && exec.Command(p, "-Urnmpf", "/bin/true").Run() == nil {
		vs = append(vs, &variant{name: "unshare", argv: []string{p, "-Urnmpf", "/bin/true"}})
	}
	for b.Loop() {
		for _, v := range vs {
			t := time.Now()
			cmd := exec.Command(v.argv[0], v.argv[1:]...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s: %v: %s", v.name, err, out)
			}
			v.wall = append(v.wall, time.Since(t))
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			v.cpu = append(v.cpu, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()))
		}
	}
	med := map[string][2]time.Duration{}
	for _, v := range vs {
		w := report(b, v.name, v.wall)
		c, _ := quantiles(v.cpu)
		b.ReportMetric(float64(c.Microseconds())/1000, v.name+"-cpu-ms")
		med[v.name] = [2]time.Duration{w, c}
	}
	for _, other := range []string{"bare", "version", "baseline", "bwrap", "unshare"} {
		if m, ok := med[other]; ok {
			b.ReportMetric(float64(med["cli"][0])/float64(m[0]), "ratio-"+other)
			b.ReportMetric(float64(med["cli"][1])/float64(m[1]), "cpu-ratio-"+other)
		}
	}
}

// buildRevision builds agentos as of rev (a revision of the repository
// this test runs in) into dir, from `git archive`: no worktree, nothing of
// the repository changes.
func buildRevision(b *testing.B, rev, dir string) string {
	src := filepath.Join(dir, "baseline-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		b.Fatal(err)
	}
	unpack := exec.Command("sh", "-c", `cd "$(git rev-parse --show-toplevel)" && git archive --format=tar "$1" | tar -x -C "$2"`, "sh", rev, src)
	if out, err := unpack.CombinedOutput(); err != nil {
		b.Fatalf("git archive %s: %v\n%s", rev, err, out)
	}
	bin := filepath.Join(dir, "agentos-baseline")
	build := exec.Command("go", "build", "-o", bin, "./cmd/agentos")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building %s: %v\n%s", rev, err, out)
	}
	return bin
}

// BenchmarkSandboxAllowTCP: start overhead of a run with one allow_tcp
// entry (loopback up, a listener handed to the parent, the relay) against
// the same run without, alternated.
func BenchmarkSandboxAllowTCP(b *testing.B) {
	if !sandbox.Check().OK() || len(sandbox.Check().MissingAllowTCP()) > 0 {
		b.Skip("sandbox or TCP allowlist unavailable")
	}
	wt := b.TempDir()
	run := func(allow []string) {
		res, err := sandbox.Run(context.Background(), sandbox.Spec{
			Argv: []string{"/bin/true"}, Worktree: wt, Require: true, AllowTCP: allow,
		})
		if err != nil || res.ExitCode != 0 || res.Unconfined {
			b.Fatalf("%+v %v", res, err)
		}
	}
	var plain, allowed []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		run(nil)
		plain = append(plain, time.Since(t))
		t = time.Now()
		run([]string{"127.0.0.1:8080"})
		allowed = append(allowed, time.Since(t))
	}
	mp := report(b, "sandbox", plain)
	ma := report(b, "sandbox-allow-tcp", allowed)
	b.ReportMetric(float64((ma-mp).Microseconds())/1000, "added-median-ms")
}

// BenchmarkSandboxCgroup: start overhead of the per-run cgroup (created,
// joined, removed) against the same run without it, alternated.
func BenchmarkSandboxCgroup(b *testing.B) {
	if !sandbox.Check().OK() || len(sandbox.CgroupParents()) == 0 {
		b.Skip("sandbox or cgroups unavailable")
	}
	wt := b.TempDir()
	without := func() {
		defer sandbox.DisableForTest("cgroup pids")()
		defer sandbox.DisableForTest("cgroup memory")()
		defer sandbox.DisableForTest("cgroup cpu")()
		sandboxTrue(b, wt, false)
	}
	var plain, grouped []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t := time.Now()
		without()
		plain = append(plain, time.Since(t))
		t = time.Now()
		sandboxTrue(b, wt, false)
		grouped = append(grouped, time.Since(t))
	}
	mp := report(b, "no-cgroup", plain)
	mg := report(b, "cgroup", grouped)
	b.ReportMetric(float64(mg)/float64(mp), "ratio")
}

// BenchmarkSandboxStartAfterIdle: one exec step's start after a pause (a
// plan's steps are seconds apart, a CLI command starts cold), where the
// kernel's state from the previous run no longer helps: joining a cgroup
// v1 hierarchy then waits for an RCU grace period (cgroup.enter avoids
// it). The pause is outside the timing.
func BenchmarkSandboxStartAfterIdle(b *testing.B) {
	if !sandbox.Check().OK() {
		b.Skip("sandbox unavailable")
	}
	wt := b.TempDir()
	var d []time.Duration
	for b.Loop() {
		b.StopTimer()
		time.Sleep(100 * time.Millisecond)
		b.StartTimer()
		t := time.Now()
		sandboxTrue(b, wt, false)
		d = append(d, time.Since(t))
	}
	report(b, "sandbox", d)
}
