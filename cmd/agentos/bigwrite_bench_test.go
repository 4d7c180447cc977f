package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
)

// BenchmarkBigWrite reports the peak RSS of the agentos process planning
// and applying a plan that writes one 64 MiB single-line file (issue 14),
// with limits raised to allow it: go test ./cmd/agentos -run '^$' -bench BigWrite -benchtime 1x
// The figures are the child's ru_maxrss, so they are the real process's
// and include the Go runtime's headroom. A child started by os/exec shares
// this process's memory until it execs, and Linux carries that memory's
// peak into the child's ru_maxrss: so this process never holds the plan
// (it is written a piece at a time) and its own peak is reset (clear_refs)
// before each measured run.
func BenchmarkBigWrite(b *testing.B) {
	const size = 64 << 20
	benchBigWrite(b, size, func(w io.Writer) {
		io.WriteString(w, "version: 1\ngoal: one big line\nsteps:\n  - write: {path: big.txt, content: \"")
		piece := strings.Repeat("x", 1<<20)
		for range size >> 20 {
			io.WriteString(w, piece)
		}
		io.WriteString(w, "\"}\nverify:\n  - argv: [test, -s, big.txt]\n")
	})
}

// BenchmarkBigWriteBlock is BenchmarkBigWrite with the 64 MiB written as
// a literal block of 64-byte lines of hex digits: a scalar the plan must
// decode (its indentation dropped), and a file of a million short runs
// for the secret scan.
func BenchmarkBigWriteBlock(b *testing.B) {
	const size = 64 << 20
	benchBigWrite(b, size, func(w io.Writer) {
		io.WriteString(w, "version: 1\ngoal: one big block\nsteps:\n  - write:\n      path: big.txt\n      content: |\n")
		lines := strings.Repeat("        0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", 1<<14) // 1 MiB of content
		for range size >> 20 {
			io.WriteString(w, lines)
		}
		io.WriteString(w, "verify:\n  - argv: [test, -s, big.txt]\n")
	})
}

// BenchmarkBigWriteEscaped is BenchmarkBigWrite with the 64 MiB written
// the way an LLM or a JSON encoder writes a file: one double-quoted line
// of escapes, a `\n` every 64 bytes, with `\t`, `\"`, `\\` and `\u00e9`
// among them (a scalar the plan must decode, shorter than its text).
func BenchmarkBigWriteEscaped(b *testing.B) {
	const size = 64 << 20
	benchBigWrite(b, size, func(w io.Writer) {
		io.WriteString(w, "version: 1\ngoal: one big escaped line\nsteps:\n  - write: {path: big.txt, content: \"")
		piece := strings.Repeat(escapedLine, 1<<14) // 1 MiB decoded
		for range size >> 20 {
			io.WriteString(w, piece)
		}
		io.WriteString(w, "\"}\nverify:\n  - argv: [test, -s, big.txt]\n")
	})
}

// escapedLine is 64 bytes of source once decoded (é is two).
const escapedLine = `\tfmt.Println(\"caf\u00e9 \\ ok\", x[i]) // 0123456789abcdefghijklmnopq\n`

// BenchmarkBigWriteBinary is BenchmarkBigWrite with the 64 MiB given as
// !!binary: a literal block of 76-character lines of base64.
func BenchmarkBigWriteBinary(b *testing.B) {
	const size = 64 << 20
	benchBigWrite(b, size, func(w io.Writer) {
		io.WriteString(w, "version: 1\ngoal: one big binary\nsteps:\n  - write:\n      path: big.txt\n      content: !!binary |\n")
		// 57 bytes a line, a thousand lines at a time.
		raw := make([]byte, 57*1000)
		for off := 0; off < size; off += len(raw) {
			chunk := raw[:min(len(raw), size-off)]
			for i := range chunk {
				chunk[i] = byte((off + i) * 7)
			}
			enc := base64.StdEncoding.EncodeToString(chunk)
			for len(enc) > 0 {
				n := min(76, len(enc))
				io.WriteString(w, "        "+enc[:n]+"\n")
				enc = enc[n:]
			}
		}
		io.WriteString(w, "verify:\n  - argv: [test, -s, big.txt]\n")
	})
}

// benchBigWrite plans and applies the plan writePlan writes, which writes
// size bytes to big.txt, and reports both peaks.
func benchBigWrite(b *testing.B, size int, writePlan func(io.Writer)) {
	dir := b.TempDir()
	// AGENTOS_BENCH_BIN measures another build (a baseline) instead.
	bin := os.Getenv("AGENTOS_BENCH_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "agentos")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
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
		// This process's peak would be the child's floor (see above).
		debug.FreeOSMemory()
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
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
	plan := filepath.Join(dir, "big.yaml")
	pf, err := os.Create(plan)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriter(pf)
	writePlan(bw)
	if err := errors.Join(bw.Flush(), pf.Close()); err != nil {
		b.Fatal(err)
	}
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
		if st, err := os.Stat(filepath.Join(repo, "big.txt")); err != nil || st.Size() != int64(size) {
			b.Fatalf("big.txt after apply: %v", err)
		}
		b.ReportMetric(float64(planRSS)/(1<<20), "plan-MiB")
		b.ReportMetric(float64(applyRSS)/(1<<20), "apply-MiB")
		b.ReportMetric(float64(planRSS)/float64(size), "plan-x-file")
		b.ReportMetric(float64(applyRSS)/float64(size), "apply-x-file")
	}
}
