package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sandbox/internal/helper"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// IsHelper reports whether this process was started as the sandbox helper.
// The helper package's init takes over such a process before main runs,
// so in agentos this is false by the time anyone asks; it stays for
// binaries that dispatch it themselves.
func IsHelper() bool { return helper.IsHelper() }

// HelperMain runs the helper (see package helper); it returns an exit code
// only when the command could not be started.
func HelperMain() int { return helper.Main() }

// helperSpec and helperReport are the helper's protocol.
type (
	helperSpec   = helper.Spec
	helperReport = helper.Report
)

// helperLimits converts l for the helper (the same fields).
func helperLimits(l Limits) helper.Limits { return helper.Limits(l) }

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

// startHelper starts the helper (helperExe) in fresh namespaces. The
// user namespace maps its root to the caller's own uid and gid: files the
// command creates belong to the caller, and the capabilities it has inside
// are dropped before the command starts.
// forward, when not nil, becomes the helper's forwardFD.
func startHelper(hs helperSpec, flags uintptr, forward *os.File, stdin io.Reader, stdout, stderr io.Writer) (*exec.Cmd, *os.File, error) {
	cmd, rep, _, err := startHelperIn(hs, flags, forward, nil, false, stdin, stdout, stderr)
	return cmd, rep, err
}

// startHelperIn is startHelper that puts the helper in the run's cgroup
// (cg, may be nil) before sending it the spec, so nothing it starts is
// ever outside the group: on cgroup v1 it is started from inside the
// group (cgroup.enter), else joined right after its start. The caller has
// locked the OS thread; stuck says that thread could not leave the group
// and must end with its goroutine, never unlocked. ctty makes stdin (a
// terminal made for this run) the helper's controlling terminal in a
// session of its own.
//
// With hs.Identity the helper's root is that dedicated uid, and agentos
// passes it the mounts it cannot open itself (identityMounts); a file
// system refusing the idmapping ends the attempt with errIdmapRefused.
func startHelperIn(hs helperSpec, flags uintptr, forward *os.File, cg *cgroup, ctty bool, stdin io.Reader, stdout, stderr io.Writer) (cmd *exec.Cmd, rep *os.File, stuck bool, err error) {
	hs.Protocol = helper.Protocol
	var mountSock [2]int
	var mountChild *os.File
	if hs.Identity != nil {
		var stdinStart, stdinAbort func()
		if stdin, stdinStart, stdinAbort, err = holdStdin(stdin); err != nil {
			return nil, nil, false, err
		}
		if mountSock, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0); err != nil {
			stdinAbort()
			return nil, nil, false, err
		}
		mountChild = os.NewFile(uintptr(mountSock[1]), "mounts")
		defer func() {
			unix.Close(mountSock[0])
			mountChild.Close()
			if err == nil {
				stdinStart()
			} else {
				stdinAbort()
			}
		}()
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, nil, false, err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		specR.Close()
		specW.Close()
		return nil, nil, false, err
	}
	newCmd := func(exe string, cgroupFD int) *exec.Cmd {
		cmd := exec.Command(exe, helper.Arg)
		// One P: the helper runs one thread's work (its own runtime's
		// threads and idle Ps cost about a third of its start). The
		// command gets its own environment (Spec.Env), not this one.
		cmd.Env = []string{helper.Env + "=1", "GOMAXPROCS=1"}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
		cmd.ExtraFiles = []*os.File{specR, repW}
		if forward != nil {
			cmd.ExtraFiles = append(cmd.ExtraFiles, forward)
		}
		if hs.Identity != nil {
			cmd.ExtraFiles = append(cmd.ExtraFiles, mountChild)
			hs.MountFD = 2 + len(cmd.ExtraFiles)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags: flags,
			Pdeathsig:  syscall.SIGKILL,
			// Its own process group: a terminal's Ctrl-C reaches agentos,
			// which decides (a worker lets the step finish its grace), and not
			// the command directly. A Go program as pid 1 of the namespace
			// cannot even die of it and exits 2 instead. Only an interactive
			// `sandbox run`, whose command reads the terminal, stays in the
			// terminal's foreground group.
			Setpgid: !onTerminal(stdin),
			// cgroup v2: born in the run's group (clone3's
			// CLONE_INTO_CGROUP), for the reason of cgroup.enter.
			UseCgroupFD: cgroupFD >= 0,
			CgroupFD:    cgroupFD,
		}
		userMaps(cmd.SysProcAttr, hs.Identity)
		if ctty {
			// A terminal of its own (Spec.Terminal): the command leads a new
			// session on it, so the terminal's Ctrl-C and window-size changes
			// reach it, and nothing else.
			cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = false, true, true, 0
		}
		return cmd
	}
	// start starts the embedded helper (helperbin_linux.go), or agentos
	// itself when this kernel will not execute the embedded one.
	start := func(cgroupFD int) (*exec.Cmd, error) {
		exe, embedded := helperExe()
		cmd := newCmd(exe, cgroupFD)
		err := cmd.Start()
		if err != nil && embedded {
			if cmd2 := newCmd(selfExe, cgroupFD); cmd2.Start() == nil {
				embeddedRefused(err)
				return cmd2, nil
			}
		}
		return cmd, err
	}
	fail := func(err error) (*exec.Cmd, *os.File, bool, error) {
		specW.Close()
		repR.Close()
		return nil, nil, stuck, err
	}
	leave, stuck, err := cg.enter()
	if err != nil {
		specR.Close()
		repW.Close()
		return fail(err)
	}
	cgFD, into := cg.intoFD()
	cmd, err = start(cgFD)
	if into {
		unix.Close(cgFD)
		if err != nil {
			// A kernel without clone3 into a group (before 5.7): the
			// helper is joined after its start instead.
			into = false
			cmd, err = start(-1)
		}
	}
	if leave != nil {
		var lerr error
		if stuck, lerr = leave(); lerr != nil && err == nil {
			cmd.Process.Kill()
			cmd.Wait()
			err = lerr
		}
	}
	specR.Close()
	repW.Close()
	if err != nil {
		return fail(err)
	}
	if cg != nil && leave == nil && !into {
		if err := cg.join(cmd.Process.Pid); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return fail(err)
		}
	}
	if hs.Identity != nil {
		fds, err := identityMounts(cmd.Process.Pid, &hs)
		if err == nil {
			err = sendMounts(mountSock[0], fds)
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return fail(err)
		}
	}
	data, err := json.Marshal(hs)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fail(err)
	}
	// The helper reads the whole spec before anything else; if it died
	// early the write fails and the report says why.
	go func() {
		specW.Write(data)
		specW.Close()
	}()
	return cmd, repR, false, nil
}

func runConfined(ctx context.Context, spec Spec, fwds []forward) (Result, error) {
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	hs := helperSpec{
		Argv: spec.Argv, Dir: spec.Dir, Env: spec.Env, Worktree: spec.Worktree, Overlay: (*helper.Overlay)(spec.Overlay),
		ReadWrite: spec.ReadWrite, ReadOnly: append(slices.Clone(spec.ReadOnly), spec.ReadOnlyOwned...), Owned: spec.ReadOnlyOwned, Protected: spec.Protected,
		Hidden: spec.Hidden, Network: spec.Network, Limits: helperLimits(spec.Limits.withDefaults()),
	}
	if len(fwds) > 0 {
		hs.Forwards, hs.Hosts = helperForwards(fwds), hostsFile(fwds)
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
	cg, missing := newCgroup(spec.Limits.withDefaults())
	defer cg.remove()
	if err := unboundLimits(spec.Limits, missing); err != nil {
		return Result{}, err
	}
	// Pdeathsig fires when the thread that started the helper exits; that
	// thread, locked by a goroutine of its own, is kept until the helper
	// is gone, so the sandbox dies with agentos and not with an idle
	// runtime thread. Should it be stuck in the run's cgroup, it ends
	// with that goroutine.
	start := time.Now()
	type started struct {
		cmd *exec.Cmd
		rep *os.File
		err error
	}
	startedC, helperGone := make(chan started, 1), make(chan struct{})
	defer close(helperGone) // after the Wait below, before cg.remove
	go func() {
		runtime.LockOSThread()
		identityFor(&hs, spec.Identity)
		cmd, rep, stuck, err := startHelperIn(hs, cloneFlags(spec.Network), helperEnd, cg, spec.Terminal && onTerminal(spec.Stdin), spec.Stdin, spec.Stdout, spec.Stderr)
		if errors.Is(err, errIdmapRefused) && !stuck {
			// Learnt once per file system: from now on runs there start
			// as the caller straight away.
			hs.Identity, hs.Mounts = nil, nil
			cmd, rep, stuck, err = startHelperIn(hs, cloneFlags(spec.Network), helperEnd, cg, spec.Terminal && onTerminal(spec.Stdin), spec.Stdin, spec.Stdout, spec.Stderr)
		}
		startedC <- started{cmd, rep, err}
		<-helperGone
		if !stuck {
			runtime.UnlockOSThread()
		}
	}()
	st := <-startedC
	cmd, rep, err := st.cmd, st.rep, st.err
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
			hr.Error, hr.Setup, hr.Identity = line.Error, line.Setup, line.Identity
		}
	}
	if hr.Error != "" && hr.Identity && hs.Identity != nil && !hr.Started {
		return res, identityBrokenBy(hs, hr.Error)
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
