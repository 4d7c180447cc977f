package main

import (
	"io"
	"os"
	"os/exec"
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
