package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/agentos/agentos"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// The helper is recognised by both a hidden first argument and an
// environment marker, so neither alone (a user typing the argument, or an
// inherited variable) turns agentos into the helper.
const (
	helperArg = "__sandbox-helper"
	helperEnv = "AGENTOS_SANDBOX_HELPER"
	// Inherited descriptors of the helper: the spec (parent -> helper) and
	// the setup report (helper -> parent).
	specFD   = 3
	reportFD = 4
	// exitSetup is the helper's exit code when confinement failed; the
	// report pipe carries the reason.
	exitSetup = 125
)

// IsHelper reports whether this process was started as the sandbox helper.
func IsHelper() bool {
	return len(os.Args) > 1 && os.Args[1] == helperArg && os.Getenv(helperEnv) == "1"
}

// helperSpec is what the parent sends the helper over specFD.
type helperSpec struct {
	Argv      []string `json:"argv"`
	Dir       string   `json:"dir"`
	Env       []string `json:"env"`
	Worktree  string   `json:"worktree"`
	Overlay   *Overlay `json:"overlay,omitempty"`
	ReadWrite []string `json:"read_write"`
	ReadOnly  []string `json:"read_only"`
	Protected []string `json:"protected"`
	Hidden    []string `json:"hidden,omitempty"`
	Network   bool     `json:"network"`
	// Forwards is the TCP allowlist (network off): listeners the helper
	// opens inside the namespace and hands to the parent on forwardFD.
	Forwards []forward `json:"forwards,omitempty"`
	Limits   Limits    `json:"limits"`
	// Probe only sets up the namespaces and mounts and exits (Check).
	Probe      bool    `json:"probe,omitempty"`
	ProbeFlags uintptr `json:"probe_flags,omitempty"`
	// Dry confines itself completely, then exits instead of exec'ing
	// (Check's end-to-end probe).
	Dry bool `json:"dry,omitempty"`
	// Hold only mounts Overlay at Worktree and waits for its stdin to
	// close: AgentOS's own writes go through that view (OpenView).
	Hold bool `json:"hold,omitempty"`
}

type helperReport struct {
	Error string `json:"error,omitempty"`
	// Setup is true when the failure is in confinement, false when the
	// command itself could not be started.
	Setup bool `json:"setup,omitempty"`
	// Started confirms the command was started confined.
	Started bool `json:"started,omitempty"`
}

// onTerminal reports whether r is a terminal (an interactive command's
// stdin).
func onTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// plainSysProcAttr: an unconfined command gets its own process group (to
// kill it whole) and dies with agentos.
func plainSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func cloneFlags(network bool) uintptr {
	f := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	if !network {
		f |= unix.CLONE_NEWNET
	}
	return f
}

// startHelper starts /proc/self/exe as the helper in fresh namespaces. The
// user namespace maps its root to the caller's own uid and gid: files the
// command creates belong to the caller, and the capabilities it has inside
// are dropped before the command starts.
// forward, when not nil, becomes the helper's forwardFD.
func startHelper(hs helperSpec, flags uintptr, forward *os.File, stdin io.Reader, stdout, stderr io.Writer) (*exec.Cmd, *os.File, error) {
	return startHelperIn(hs, flags, forward, nil, stdin, stdout, stderr)
}

// startHelperIn is startHelper that puts the helper in the run's cgroup
// (cg, may be nil) before sending it the spec, so nothing it starts is
// ever outside the group.
func startHelperIn(hs helperSpec, flags uintptr, forward *os.File, cg *cgroup, stdin io.Reader, stdout, stderr io.Writer) (*exec.Cmd, *os.File, error) {
	data, err := json.Marshal(hs)
	if err != nil {
		return nil, nil, err
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		specR.Close()
		specW.Close()
		return nil, nil, err
	}
	cmd := exec.Command("/proc/self/exe", helperArg)
	cmd.Env = []string{helperEnv + "=1"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.ExtraFiles = []*os.File{specR, repW}
	if forward != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, forward)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 flags,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  syscall.SIGKILL,
		// Its own process group: a terminal's Ctrl-C reaches agentos,
		// which decides (a worker lets the step finish its grace), and not
		// the command directly. A Go program as pid 1 of the namespace
		// cannot even die of it and exits 2 instead. Only an interactive
		// `sandbox run`, whose command reads the terminal, stays in the
		// terminal's foreground group.
		Setpgid: !onTerminal(stdin),
	}
	err = cmd.Start()
	specR.Close()
	repW.Close()
	if err != nil {
		specW.Close()
		repR.Close()
		return nil, nil, err
	}
	if cg != nil {
		if err := cg.join(cmd.Process.Pid); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			specW.Close()
			repR.Close()
			return nil, nil, err
		}
	}
	// The helper reads the whole spec before anything else; if it died
	// early the write fails and the report says why.
	go func() {
		specW.Write(data)
		specW.Close()
	}()
	return cmd, repR, nil
}

func runConfined(ctx context.Context, spec Spec, fwds []forward) (Result, error) {
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	hs := helperSpec{
		Argv: spec.Argv, Dir: spec.Dir, Env: spec.Env, Worktree: spec.Worktree, Overlay: spec.Overlay,
		ReadWrite: spec.ReadWrite, ReadOnly: spec.ReadOnly, Protected: spec.Protected,
		Hidden: spec.Hidden, Network: spec.Network, Forwards: fwds, Limits: spec.Limits.withDefaults(),
	}
	var rl *relay
	var helperEnd *os.File
	if len(fwds) > 0 {
		var err error
		if rl, helperEnd, err = newRelay(fwds); err != nil {
			return Result{}, &notStarted{agentos.WrapError(agentos.EDENIED, err, "sandbox: %v", err)}
		}
		// Whatever happens, the relay ends with the run: no listener,
		// connection or goroutine outlives it.
		defer rl.close()
	}
	if hs.Env == nil {
		hs.Env = []string{}
	}
	cg, missing := newCgroup(hs.Limits)
	defer cg.remove()
	if err := unboundLimits(spec.Limits, missing); err != nil {
		return Result{}, err
	}
	// Pdeathsig fires when the thread that started the helper exits; keep
	// that thread until the helper is gone, so the sandbox dies with
	// agentos and not with an idle runtime thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	cmd, rep, err := startHelperIn(hs, cloneFlags(spec.Network), helperEnd, cg, spec.Stdin, spec.Stdout, spec.Stderr)
	if helperEnd != nil {
		helperEnd.Close()
	}
	if err == nil && rl != nil {
		rl.start()
	}
	if err != nil {
		return Result{}, &notStarted{agentos.WrapError(agentos.EDENIED, err, "sandbox: cannot start the sandbox helper: %v", err)}
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			// The helper is pid 1 of the namespace: killing it kills the tree.
			cmd.Process.Kill()
		case <-done:
		}
	}()
	cg.watchCPU(func() { cmd.Process.Kill() }, done)
	raw, _ := io.ReadAll(rep)
	rep.Close()
	werr := cmd.Wait()
	close(done)
	res := Result{Duration: time.Since(start), TimedOut: ctx.Err() != nil, LimitsHit: cg.hits()}
	var hr helperReport
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		var line helperReport
		if dec.Decode(&line) != nil {
			break
		}
		hr.Started = hr.Started || line.Started
		if line.Error != "" {
			hr.Error, hr.Setup = line.Error, line.Setup
		}
	}
	if hr.Error != "" {
		if hr.Setup {
			return res, &notStarted{agentos.Errorf(agentos.EDENIED, "sandbox: %s; the command was not run", hr.Error)}
		}
		return res, agentos.Errorf(agentos.EFAILED, "sandbox: %s", hr.Error)
	}
	if !hr.Started && !res.TimedOut {
		// The helper died before confirming the start: never report
		// such a run as an ordinary exit of the command.
		return res, agentos.Errorf(agentos.EDENIED, "sandbox: the helper exited before starting %s (%v)", spec.Argv[0], werr)
	}
	return exitResult(res, werr)
}

// HelperMain is the helper's main: pid 1 of the new namespaces, it sets up
// the mounts, confines itself on one locked OS thread (capabilities,
// no_new_privs and seccomp are per thread) and execs the command from that
// thread. The command becomes pid 1: when it exits, the kernel kills
// everything it left behind in the namespace (daemons included).
// It returns an exit code only when the command could not be started.
func HelperMain() int {
	runtime.LockOSThread()
	repF := os.NewFile(reportFD, "report")
	specF := os.NewFile(specFD, "spec")
	if repF == nil || specF == nil {
		fmt.Fprintln(os.Stderr, "agentos: the sandbox helper is started by agentos itself")
		return exitSetup
	}
	unix.CloseOnExec(specFD)
	unix.CloseOnExec(reportFD)
	var hs helperSpec
	err := json.NewDecoder(specF).Decode(&hs)
	specF.Close()
	if err != nil {
		return report(repF, true, "reading the sandbox spec: %v", err)
	}
	if hs.Hold {
		return holdView(repF, hs)
	}
	if err := setupMounts(hs); err != nil {
		return report(repF, true, "%v", err)
	}
	if hs.Probe && hs.ProbeFlags&unix.CLONE_NEWPID == 0 {
		repF.Close()
		return 0
	}
	if err := limitPids(hs.Limits.Processes); err != nil {
		return report(repF, true, "%v", err)
	}
	if hs.Probe {
		repF.Close()
		return 0
	}
	if err := openForwards(hs.Forwards); err != nil {
		return report(repF, true, "%v", err)
	}
	if err := confine(hs); err != nil {
		return report(repF, true, "%v", err)
	}
	if hs.Dry {
		repF.Close()
		return 0
	}
	argv0, err := lookPath(hs.Argv[0], hs.Env)
	if err != nil {
		return report(repF, false, "%v", err)
	}
	if err := os.Chdir(hs.Dir); err != nil {
		return report(repF, false, "cannot enter %s: %v", hs.Dir, unwrapPathErr(err))
	}
	// Limits last: they bind the command, and would only get in the way
	// of this Go runtime before the exec.
	if err := setLimits(hs.Limits); err != nil {
		return report(repF, true, "%v", err)
	}
	json.NewEncoder(repF).Encode(helperReport{Started: true})
	err = syscall.Exec(argv0, hs.Argv, hs.Env)
	return report(repF, false, "cannot start %s: %v (inside the sandbox only the worktree, system directories and sandbox.read_only are visible)", hs.Argv[0], err)
}

// report sends a failure to the parent and returns the helper's exit code.
func report(repF *os.File, setup bool, format string, args ...any) int {
	json.NewEncoder(repF).Encode(helperReport{Error: fmt.Sprintf(format, args...), Setup: setup})
	repF.Close()
	return exitSetup
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// lookPath resolves a bare command name against the command's own PATH,
// after confinement, so the search sees only what the command may see.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := "/usr/local/bin:/usr/bin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in the sandbox's PATH", name)
}
