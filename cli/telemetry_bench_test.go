package cli

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkTelemetryRun measures the cost of tracing on a one-file run
// (`agentos run --plan` writing one file, verified, committed): the same
// run alternately with telemetry off and on (exporting to a local OTLP/HTTP
// receiver, flushed at exit), in one benchmark so both see the same
// machine. It reports each run's mean and their ratio.
//
//	go test ./cli/ -run '^$' -bench TelemetryRun -benchtime 20x
func BenchmarkTelemetryRun(b *testing.B) {
	col := httptest.NewServer(&otlpReceiver{})
	defer col.Close()
	dir := b.TempDir()
	repo := filepath.Join(dir, "repo")
	os.MkdirAll(repo, 0o755)
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"config", "user.name", "B"}, {"config", "user.email", "b@b"}} {
		gitB(b, repo, args...)
	}
	os.WriteFile(filepath.Join(repo, "README.md"), []byte("# bench\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "agentos.yaml"), []byte(basePolicy), 0o644)
	gitB(b, repo, "add", ".")
	gitB(b, repo, "commit", "-q", "-m", "base")
	if code := Main([]string{"-C", repo, "init"}, nil, devNull{}, devNull{}); code != 0 {
		b.Fatalf("agentos init: exit %d", code)
	}
	plan := filepath.Join(dir, "plan.yaml")
	run := func(i int, on bool) time.Duration {
		if on {
			os.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.URL)
		} else {
			os.Unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT")
		}
		defer os.Unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT")
		os.WriteFile(plan, fmt.Appendf(nil, "version: 1\ngoal: one file\nsteps:\n  - write: {path: f%d.txt, content: \"x\\n\"}\nverify:\n  - argv: [cat, f%d.txt]\n", i, i), 0o644)
		start := time.Now()
		if code := Main([]string{"-C", repo, "run", "--plan", plan}, nil, devNull{}, devNull{}); code != 0 {
			b.Fatalf("agentos run (telemetry %v): exit %d", on, code)
		}
		return time.Since(start)
	}
	run(-1, false) // warm caches
	var off, on time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off += run(2*i, false)
		on += run(2*i+1, true)
	}
	b.ReportMetric(float64(off.Milliseconds())/float64(b.N), "ms/run-off")
	b.ReportMetric(float64(on.Milliseconds())/float64(b.N), "ms/run-on")
	b.ReportMetric(float64(on)/float64(off), "on/off")
}

type devNull struct{}

func (devNull) Write(p []byte) (int, error) { return len(p), nil }

func gitB(b *testing.B, dir string, args ...string) {
	b.Helper()
	cmd := execGit(dir, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func execGit(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t", "GIT_CONFIG_NOSYSTEM=1")
	return cmd
}
