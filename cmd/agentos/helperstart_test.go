package main

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestHelperStartsBeforeTheHeavyPackages: the sandbox helper (this binary
// re-executed) takes over in its own package's init, before Go initialises
// the policy language, protobuf, the config parser or the redaction rules:
// those cost more than the whole sandbox setup, for every command run.
// Judged by the Go runtime's own init trace, not by AgentOS.
func TestHelperStartsBeforeTheHeavyPackages(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A spec that is not one: the helper reports that on its report pipe
	// and exits 125 (exitSetup), having initialised only what it imports.
	specR, specW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	specW.WriteString("not a spec")
	specW.Close()
	var trace strings.Builder
	cmd := exec.Command(exe, "__sandbox-helper")
	cmd.Env = []string{"AGENTOS_SANDBOX_HELPER=1", "GODEBUG=inittrace=1"}
	cmd.Stdout, cmd.Stderr = &trace, &trace
	cmd.ExtraFiles = []*os.File{specR, repW}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	specR.Close()
	repW.Close()
	rep, _ := io.ReadAll(repR)
	cmd.Wait()
	out := trace.String()
	if cmd.ProcessState.ExitCode() != 125 || !strings.Contains(string(rep), "reading the sandbox spec") {
		t.Fatalf("the helper did not answer (exit %d, report %q):\n%s", cmd.ProcessState.ExitCode(), rep, out)
	}
	for _, pkg := range []string{
		"github.com/agentos/agentos/config",
		"github.com/agentos/agentos/policy",
		"github.com/agentos/agentos/cli",
		"google.golang.org/protobuf/reflect/protodesc",
		"github.com/google/cel-go/common/stdlib",
		"github.com/openai/openai-go/v3",
		"modernc.org/libc",
	} {
		if strings.Contains(out, "init "+pkg+" @") {
			t.Errorf("package %s was initialised before the helper took over", pkg)
		}
	}
	if !strings.Contains(out, "init os @") {
		t.Fatalf("no init trace:\n%s", out)
	}
}

// TestPackageInitStaysLight: AgentOS's own packages keep their heavy state
// (regular expressions, CEL environments, templates) for first use, so a
// command that does not need it — `agentos sandbox run`, the helper — does
// not build it at every start (issue 13: the start overhead). Judged by the
// Go runtime's init trace of this binary: every agentos package's init
// allocates at most a few kilobytes. Third-party packages are not ours to
// change and are not judged.
func TestPackageInitStaysLight(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	const limit = 16 << 10
	seen := 0
	for _, line := range strings.Split(string(out), "\n") {
		// init PKG @T ms, C ms clock, N bytes, M allocs
		f := strings.Fields(line)
		if len(f) < 10 || f[0] != "init" || !strings.HasPrefix(f[1], "github.com/agentos/agentos") || strings.Contains(f[1], "test") {
			continue
		}
		seen++
		n, err := strconv.Atoi(f[7])
		if err != nil || f[8] != "bytes," {
			t.Fatalf("unexpected trace line %q", line)
		}
		if n > limit {
			t.Errorf("package %s allocates %d bytes in its init (at most %d): build that state on first use (sync.OnceValue)", f[1], n, limit)
		}
	}
	if seen < 10 {
		t.Fatalf("only %d agentos packages in the init trace:\n%s", seen, out)
	}
}
