//go:build linux

package sandbox_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/agentos/agentos/sandbox"
)

// TestEmbeddedHelperIsCurrent: the helper binaries agentos embeds
// (helperbin/) are exactly what their source builds to, so a helper that
// does not match the agentos around it cannot ship. CI runs this.
func TestEmbeddedHelperIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		unavailable(t, "no go tool to rebuild the helper: %v", err)
	}
	dir := t.TempDir()
	out, err := exec.Command("go", "run", "./internal/helper/gen", "-o", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("building the helper: %v\n%s", err, out)
	}
	built, _ := filepath.Glob(filepath.Join(dir, "*"))
	committed, _ := filepath.Glob(filepath.Join("helperbin", "*"))
	names := func(paths []string) (out []string) {
		for _, p := range paths {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if !slices.Equal(names(built), names(committed)) {
		t.Fatalf("helperbin holds %v, the source builds %v: run go generate ./sandbox/...", names(committed), names(built))
	}
	goVersion, _ := exec.Command("go", "env", "GOVERSION").Output()
	for _, p := range built {
		want, _ := os.ReadFile(p)
		got, _ := os.ReadFile(filepath.Join("helperbin", filepath.Base(p)))
		if !bytes.Equal(got, want) {
			t.Errorf("helperbin/%s is not what its source builds to with %s: run go generate ./sandbox/... (and commit helperbin/)",
				filepath.Base(p), strings.TrimSpace(string(goVersion)))
		}
	}
}

// heldHelperExe is the executable of a live helper process, as the kernel
// names it: a helper holding an overlay view stays alive until closed.
func heldHelperExe(t *testing.T) string {
	t.Helper()
	overlayOrSkip(t)
	d := t.TempDir()
	ov := sandbox.Overlay{Lower: filepath.Join(d, "lower"), Upper: filepath.Join(d, "upper"), Work: filepath.Join(d, "work")}
	for _, p := range []string{ov.Lower, ov.Upper, ov.Work} {
		os.MkdirAll(p, 0o755)
	}
	v, err := sandbox.OpenView(t.Context(), ov, ov.Upper)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	// View.Path is /proc/PID/root/...: the helper's own /proc entry.
	pid := strings.Split(strings.TrimPrefix(v.Path, "/proc/"), "/")[0]
	exe, err := os.Readlink("/proc/" + pid + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// The helper is the embedded binary, run from a memfd: not agentos (here,
// this test binary) re-executed.
func TestHelperIsTheEmbeddedBinary(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("no embedded helper for " + runtime.GOARCH)
	}
	exe := heldHelperExe(t)
	if !strings.HasPrefix(exe, "/memfd:agentos-sandbox-helper") {
		t.Fatalf("the helper runs %s, want the embedded helper's memfd (%s)", exe, sandbox.HelperDescription())
	}
	if d := sandbox.HelperDescription(); !strings.HasPrefix(d, "embedded agentos-sandbox-helper") {
		t.Errorf("HelperDescription = %q", d)
	}
}

// Where the embedded helper cannot run, agentos itself is the helper, and
// commands run confined as before.
func TestHelperFallsBackToAgentosItself(t *testing.T) {
	defer sandbox.ForceSelfHelper("a test")()
	self, _ := os.Executable()
	if exe := heldHelperExe(t); exe != self {
		t.Fatalf("the helper runs %s, want this binary %s", exe, self)
	}
	if !sandbox.Check().OK() {
		unavailable(t, "sandbox unavailable here: %v", sandbox.Check().Missing(false))
	}
	var out bytes.Buffer
	res, err := sandbox.Run(t.Context(), sandbox.Spec{
		Argv: []string{"/bin/sh", "-c", "echo $$; touch /etc/x 2>/dev/null || echo refused"}, Worktree: t.TempDir(),
		Env: []string{"PATH=/usr/bin:/bin"}, Stdout: &out, Stderr: &out, Require: true,
	})
	if err != nil || res.ExitCode != 0 || out.String() != "1\nrefused\n" {
		t.Fatalf("run: %v, exit %d, output %q", err, res.ExitCode, out.String())
	}
	if d := sandbox.HelperDescription(); !strings.Contains(d, "agentos itself") || !strings.Contains(d, "a test") {
		t.Errorf("HelperDescription = %q, want agentos itself and why", d)
	}
}

// A helper refuses a spec of another protocol version, or with a field it
// does not know (a helper built from other sources than agentos), before
// it sets anything up: nothing runs half-confined.
func TestHelperRefusesAnotherProtocol(t *testing.T) {
	bin := filepath.Join("helperbin", "agentos-sandbox-helper-linux-"+runtime.GOARCH)
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no embedded helper for " + runtime.GOARCH)
	}
	for _, spec := range []string{
		`{"protocol":0,"argv":["/bin/true"]}`,
		`{"protocol":999,"argv":["/bin/true"]}`,
		`{"protocol":2,"argv":["/bin/true"],"from_the_future":true}`,
	} {
		specR, specW, _ := os.Pipe()
		repR, repW, _ := os.Pipe()
		specW.WriteString(spec)
		specW.Close()
		cmd := exec.Command(bin, "__sandbox-helper")
		cmd.Env = []string{"AGENTOS_SANDBOX_HELPER=1"}
		cmd.ExtraFiles = []*os.File{specR, repW}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		specR.Close()
		repW.Close()
		var rep bytes.Buffer
		rep.ReadFrom(repR)
		cmd.Wait()
		if cmd.ProcessState.ExitCode() != 125 || !strings.Contains(rep.String(), "go generate ./sandbox/...") {
			t.Errorf("spec %s: exit %d, report %q; want a refusal naming go generate", spec, cmd.ProcessState.ExitCode(), rep.String())
		}
	}
}
