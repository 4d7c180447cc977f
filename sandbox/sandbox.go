// Package sandbox runs every command AgentOS executes (exec steps, verify
// checks, contractor processes) confined, through one function: Run.
//
// On Linux, Run starts a helper in new user, mount, pid, ipc, uts and
// (unless the network is allowed) network namespaces: the small
// agentos-sandbox-helper binary agentos embeds, run from a sealed memfd
// (helperbin_linux.go), else the agentos binary re-executed
// (/proc/self/exe). The helper makes everything but the writable
// roots read-only, protected paths included, mounts a private /proc, bounds
// the number of processes, drops every capability, restricts itself with
// Landlock and a seccomp filter, sets rlimits and execs the command, which
// is pid 1 of the namespace: when it ends or the timeout kills it,
// everything it left behind dies with the namespace. With an allowlist
// (Spec.AllowTCP) the helper also opens loopback listeners inside the
// network namespace and hands them to the caller, which relays each
// connection to its destination (forward_linux.go).
// The helper is package sandbox/internal/helper, which the embedded
// binary only wires; its init also takes over a re-executed agentos
// before the rest of the binary is initialised: any
// binary that links this package (agentos, its tests) plays the helper's
// part without doing anything; IsHelper/HelperMain remain for binaries
// that dispatched it themselves.
package sandbox

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/agentos/agentos"
)

// Spec says what to run and under which confinement.
type Spec struct {
	// Argv[0] is the resolved absolute path of the executable.
	Argv []string
	// Dir is the working directory (inside Worktree; default Worktree).
	Dir string
	// Env is the complete environment of the child (already allow-listed).
	Env []string
	// Worktree is the read-write root of the task.
	Worktree string
	// Overlay, when set, makes Worktree a copy-on-write view inside the
	// sandbox: Overlay.Lower (a shared checkout, never written) under
	// Overlay.Upper (the task's own layer), mounted at Worktree in the
	// sandbox's mount namespace. Such a run never falls back to running
	// unconfined: without the namespace there is no view to run in.
	Overlay *Overlay
	// ReadWrite lists extra writable paths (the private temp dir).
	ReadWrite []string
	// ReadOnly lists extra readable paths from the policy.
	ReadOnly []string
	// ReadOnlyOwned lists read-only paths AgentOS prepared for this
	// command alone (a contractor's configuration, its hook socket's
	// directory). With the dedicated identity they are idmapped like the
	// writable paths, so the command reads its 0600 files there and
	// connects to the socket, still without changing anything; otherwise
	// they are ReadOnly entries.
	ReadOnlyOwned []string
	// Protected lists extra paths that stay read-only; Run always adds
	// agentos.ProtectedPaths() inside Worktree, so no caller can forget
	// them. Relative paths are taken relative to Worktree. Paths that do
	// not exist are skipped.
	Protected []string
	// Hidden lists absolute paths masked inside the sandbox (an empty file
	// or directory is mounted over them) even when a read-only entry
	// contains them: credentials under a visible home directory. A symlink
	// is followed, and its target masked as well.
	Hidden []string
	// Network allows network access (the host's network, everything
	// reachable).
	Network bool
	// AllowTCP, when Network is off, lets the command connect to these
	// destinations and nowhere else ("host:port"; a host name is resolved
	// by agentos, outside the sandbox). The command still has its own
	// network namespace with only loopback: it reaches an IPv4 entry at
	// that address (put on loopback inside), an IPv6 one at [::1]:PORT,
	// localhost (the host's 127.0.0.1 or ::1) at localhost, 127.0.0.1 and
	// [::1], and a name by that name (mapped in the sandbox's /etc/hosts;
	// agentos resolves it with LookupNetIP for every connection and dials
	// only those addresses); agentos relays each connection to the
	// destination. Other names do not resolve, other addresses and ports
	// are unreachable.
	AllowTCP []string
	// Require refuses to run when confinement is unavailable (policy sandbox.require).
	Require bool
	// Timeout kills the whole process tree when it expires (0: none).
	Timeout time.Duration
	// Limits are the rlimits of the command; zero fields take DefaultLimits.
	Limits Limits
	// Identity is the dedicated host uid and gid the command runs as when
	// agentos can map one (root on a kernel and file systems with
	// idmapped mounts); zero takes DefaultIdentity (docs/sandbox.md).
	Identity Identity
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
	// Terminal: Stdin is a terminal made for this command (a pty's
	// follower, never the user's own terminal): the command leads a new
	// session with it as its controlling terminal, so Ctrl-C (with ISIG)
	// and window-size changes (SIGWINCH) reach it.
	Terminal bool
}

// Limits are resource limits of the confined command. Each is an rlimit
// of every process; Processes, Memory and CPU also bound the whole tree
// through a cgroup per run where the machine has one (cgroup_linux.go),
// with the pid namespace's pid_max as the process count's backstop.
type Limits struct {
	CPU       time.Duration `json:"cpu,omitempty"`        // RLIMIT_CPU; the tree's CPU time (cgroup)
	Memory    uint64        `json:"memory,omitempty"`     // RLIMIT_AS, bytes; the tree's memory (cgroup)
	Processes uint64        `json:"processes,omitempty"`  // RLIMIT_NPROC; the tree's tasks (cgroup pids)
	FileSize  uint64        `json:"file_size,omitempty"`  // RLIMIT_FSIZE, bytes
	OpenFiles uint64        `json:"open_files,omitempty"` // RLIMIT_NOFILE
	// BestEffort runs a command whose explicit Processes, Memory or CPU
	// the machine cannot bound for the whole tree (no cgroup controller)
	// with what binds (rlimits, pid_max); without it such a run is
	// refused (sandbox.limits.enforce: best_effort).
	BestEffort bool `json:"best_effort,omitempty"`
}

// DefaultLimits are generous enough for compilers and test runners.
var DefaultLimits = Limits{
	CPU:       30 * time.Minute,
	Memory:    16 << 30,
	Processes: 2048,
	FileSize:  8 << 30,
	OpenFiles: 8192,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.CPU > 0 {
		d.CPU = l.CPU
	}
	if l.Memory > 0 {
		d.Memory = l.Memory
	}
	if l.Processes > 0 {
		d.Processes = l.Processes
	}
	if l.FileSize > 0 {
		d.FileSize = l.FileSize
	}
	if l.OpenFiles > 0 {
		d.OpenFiles = l.OpenFiles
	}
	d.BestEffort = l.BestEffort
	return d
}

// Result is what happened.
type Result struct {
	ExitCode   int
	Duration   time.Duration
	TimedOut   bool
	Unconfined bool
	// LimitsHit names the limits the run's tree ran into, as its cgroup
	// counted them: "processes" (a fork was refused), "memory" (a process
	// was killed), "cpu" (the run was killed).
	LimitsHit []string
}

// Run runs spec.Argv under the sandbox and waits for it. A non-zero exit is
// reported in Result, not as an error; errors mean the command could not run
// (code denied: the sandbox is unavailable and spec.Require is set).
// Without Require, a machine lacking confinement runs the command
// unconfined and says so in Result.Unconfined.
func Run(ctx context.Context, spec Spec) (Result, error) {
	if len(spec.Argv) == 0 {
		return Result{}, agentos.Errorf(agentos.EINVALID, "sandbox: empty argv")
	}
	if spec.Worktree == "" {
		return Result{}, agentos.Errorf(agentos.EINVALID, "sandbox: no worktree given for %s", spec.Argv[0])
	}
	if spec.Dir == "" {
		spec.Dir = spec.Worktree
	}
	// The helper resolves paths after it has left the caller's context:
	// make them absolute here.
	var err error
	if spec.Worktree, err = filepath.Abs(spec.Worktree); err != nil {
		return Result{}, err
	}
	if spec.Dir, err = filepath.Abs(spec.Dir); err != nil {
		return Result{}, err
	}
	for _, list := range [][]string{spec.ReadWrite, spec.ReadOnly, spec.ReadOnlyOwned} {
		for i, p := range list {
			if list[i], err = filepath.Abs(p); err != nil {
				return Result{}, err
			}
		}
	}
	if spec.Overlay != nil {
		ov := *spec.Overlay
		for _, p := range []*string{&ov.Lower, &ov.Upper, &ov.Work} {
			if *p, err = filepath.Abs(*p); err != nil {
				return Result{}, err
			}
		}
		spec.Overlay = &ov
	}
	spec.Protected = protectedIn(spec.Worktree, spec.Protected)
	spec.Hidden = hiddenTargets(spec.Hidden)
	var fwds []forward
	if !spec.Network && len(spec.AllowTCP) > 0 {
		if fwds, err = planForwards(spec.AllowTCP); err != nil {
			return Result{}, err
		}
	}
	// The cheap checks first; the namespace probe (another process) only
	// when the confined start fails, to say exactly what is missing.
	if missing := (Report{Features: staticFeatures()}).missing(spec.Network, len(fwds) > 0); len(missing) > 0 {
		return unavailable(ctx, spec, missing)
	}
	res, err := runConfined(ctx, spec, fwds)
	if ie, ok := err.(*identitySetupError); ok {
		if replayable(spec.Stdin) {
			res, err = runConfined(ctx, spec, fwds)
		} else {
			err = &notStarted{ie.err}
		}
	}
	if _, ok := errors.AsType[*notStarted](err); ok {
		if missing := Check().missing(spec.Network, len(fwds) > 0); len(missing) > 0 {
			return unavailable(ctx, spec, missing)
		}
		return res, err.(*notStarted).err
	}
	return res, err
}

// protectedIn returns the protected paths of worktree (absolute, each once):
// agentos.ProtectedPaths() and the caller's extras.
func protectedIn(worktree string, extra []string) []string {
	var out []string
	for _, p := range append(agentos.ProtectedPaths(), extra...) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(worktree, p)
		}
		if p = filepath.Clean(p); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// hiddenTargets returns the hidden paths that exist, with the targets of
// those that are symlinks: the helper masks real files and directories
// (a mount onto a link would follow it on the host, not in the new root).
func hiddenTargets(hidden []string) []string {
	var out []string
	for _, h := range hidden {
		h = filepath.Clean(h)
		if _, err := os.Lstat(h); err != nil {
			continue
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
		if real, err := filepath.EvalSymlinks(h); err == nil && real != h && !slices.Contains(out, real) {
			out = append(out, real)
		}
	}
	return out
}

// notStarted marks a confined start that failed before the command ran.
type notStarted struct{ err error }

func (e *notStarted) Error() string { return e.err.Error() }
func (e *notStarted) Unwrap() error { return e.err }

// unavailable refuses (Require) or runs unconfined, saying so.
func unavailable(ctx context.Context, spec Spec, missing []string) (Result, error) {
	if spec.Overlay != nil {
		return Result{}, agentos.Errorf(agentos.EDENIED,
			"sandbox: this machine lacks %s, which a copy-on-write worktree needs; set AGENTOS_OVERLAY=off to use full git worktrees",
			strings.Join(missing, ", "))
	}
	if spec.Require {
		return Result{}, agentos.Errorf(agentos.EDENIED,
			"sandbox: this machine lacks %s, which the policy requires; enable it, or set `sandbox: {require: false}` in agentos.yaml to run commands unconfined",
			strings.Join(missing, ", "))
	}
	return runPlain(ctx, spec, true)
}

// runPlain runs without confinement: its own process group, killed as a
// whole on timeout or cancellation.
func runPlain(ctx context.Context, spec Spec, unconfined bool) (Result, error) {
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = spec.Stdin
	cmd.Stdout = spec.Stdout
	cmd.Stderr = spec.Stderr
	cmd.SysProcAttr = plainSysProcAttr()
	if spec.Terminal {
		cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = false, true, true, 0
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{Unconfined: unconfined}, err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	// Whatever the child left in its group dies with it.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	res := Result{Duration: time.Since(start), Unconfined: unconfined, TimedOut: ctx.Err() != nil}
	return exitResult(res, err)
}

func exitResult(res Result, err error) (Result, error) {
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
		if res.ExitCode < 0 {
			res.ExitCode = 128 + int(syscall.SIGKILL)
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				res.ExitCode = 128 + int(ws.Signal())
			}
		}
	default:
		return res, err
	}
	return res, nil
}

// Feature is one kernel facility the sandbox uses.
type Feature struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	// NetworkOnly marks a feature needed only when the network is off.
	NetworkOnly bool `json:"network_only,omitempty"`
	// AllowTCPOnly marks a feature needed only by runs with a TCP
	// allowlist (sandbox.allow_tcp).
	AllowTCPOnly bool `json:"allow_tcp_only,omitempty"`
	// Optional marks a speed-up whose absence costs time, never
	// confinement (copy-on-write worktrees): it is not missing.
	Optional bool `json:"optional,omitempty"`
	// LimitsOnly marks a feature needed only by a policy that sets the
	// limit it enforces (sandbox.limits), or informational (identity).
	LimitsOnly bool `json:"limits_only,omitempty"`
}

// Report says what this machine supports (agentos sandbox check).
type Report struct {
	OS          string    `json:"os"`
	Arch        string    `json:"arch"`
	Kernel      string    `json:"kernel,omitempty"`
	LandlockABI int       `json:"landlock_abi"`
	Features    []Feature `json:"features"`
	// Identity says which host uid commands run as, and why.
	Identity string `json:"identity,omitempty"`
	// IdentityUID and IdentityGID are that host uid and gid;
	// IdentityDedicated is true when they are the sandbox's own
	// unprivileged identity (sandbox.identity), false when commands run
	// as the caller's.
	IdentityUID       *uint32 `json:"identity_uid,omitempty"`
	IdentityGID       *uint32 `json:"identity_gid,omitempty"`
	IdentityDedicated bool    `json:"identity_dedicated"`
	// IdentityProbed says where the identity was probed: this
	// repository's runs (IdentityPlaces, IdentityRuns), or, outside a
	// repository, $TMPDIR only.
	IdentityProbed string `json:"identity_probed,omitempty"`
	// IdentityPlaces are the directories runs write in, each probed on
	// its own file system as a run would (a confined dry run there).
	IdentityPlaces []IdentityPlace `json:"identity_places,omitempty"`
	// IdentityRuns are this repository's kinds of run and the identity
	// each gets: the run's own decision over the places it writes in.
	IdentityRuns []IdentityRun `json:"identity_runs,omitempty"`
	// idReason is why commands cannot get the dedicated identity ("":
	// they can), for ForRepository.
	idReason string
	// dryRan: the check's confined dry run started, so ForRepository's
	// can.
	dryRan bool
	// Limitations say, plainly, what the sandbox does not stop on this
	// machine, even with every feature present.
	Limitations []string `json:"limitations,omitempty"`
	// Profiles are the policy's toolchains (agentos sandbox check in a
	// repository): where each tool resolves, or what is missing.
	Profiles []ProfileTool `json:"profiles,omitempty"`
	// Helper names the helper commands start through: the embedded
	// agentos-sandbox-helper, or agentos itself and why.
	Helper string `json:"helper,omitempty"`
}

// IdentityPlace is a directory commands write in (through an idmapped
// mount with the dedicated identity) and whether its file system lets
// them keep that identity.
type IdentityPlace struct {
	// Name is "repository", "worktrees", "task layers", "shared
	// checkouts", "contractors", "temp" or "cache".
	Name string `json:"name"`
	Path string `json:"path"`
	// Probed is the directory probed when Path does not exist yet (its
	// nearest existing parent, whose file system a run creating Path
	// writes on).
	Probed string `json:"probed,omitempty"`
	// FS is the file system's type (ext4, tmpfs, ramfs, nfs, …).
	FS        string `json:"fs"`
	Dedicated bool   `json:"dedicated"`
	// Reason is why a run writing here runs as the caller instead.
	Reason string `json:"reason,omitempty"`
}

// IdentityRun is one kind of run of a repository and the host identity
// its commands get: the dedicated one only when every place it writes in
// allows it.
type IdentityRun struct {
	// Runs names the kind: "exec steps and verify checks",
	// "contractors", "agentos sandbox run".
	Runs string `json:"runs"`
	// Places are the IdentityPlaces it writes in, by name.
	Places    []string `json:"places"`
	UID       uint32   `json:"uid"`
	GID       uint32   `json:"gid"`
	Dedicated bool     `json:"dedicated"`
	Reason    string   `json:"reason,omitempty"`
}

// RunPlaces are where a repository's runs write: what `agentos sandbox
// check` probes in a repository (Report.ForRepository).
type RunPlaces struct {
	// Repo is the repository root: `agentos sandbox run`'s worktree.
	Repo string
	// StateDir is its .agentos directory: worktrees/ (full worktrees or
	// task layers), bases/ (the shared checkouts under task layers),
	// contractors/.
	StateDir string
	// Overlay: tasks and contractors get copy-on-write worktrees, layers
	// over a shared checkout, rather than full git worktrees.
	Overlay bool
	// Cache is {cache} when a profile uses it, else "".
	Cache string
	// Identity is sandbox.identity (defaults filled in).
	Identity Identity
}

// Missing names the features a run needs but this machine lacks, each with
// why; network says whether the run may use the network.
func (r Report) Missing(network bool) []string { return r.missing(network, false) }

// MissingAllowTCP is Missing for a run with the network off and a TCP
// allowlist.
func (r Report) MissingAllowTCP() []string { return r.missing(false, true) }

func (r Report) missing(network, allowTCP bool) []string {
	var out []string
	for _, f := range r.Features {
		if f.OK || f.Optional || f.LimitsOnly || (network && f.NetworkOnly) || (f.AllowTCPOnly && (network || !allowTCP)) {
			continue
		}
		s := f.Name
		if f.Detail != "" {
			s += " (" + f.Detail + ")"
		}
		out = append(out, s)
	}
	return out
}

// OK reports whether a fully confined run (network off) is possible.
func (r Report) OK() bool { return len(r.Missing(false)) == 0 }

// disabledForTest names features a test pretends are missing.
var disabledForTest = map[string]bool{}

func disable(fs []Feature) []Feature {
	for i := range fs {
		if disabledForTest[fs[i].Name] {
			fs[i].OK, fs[i].Detail = false, "disabled by a test"
		}
	}
	return fs
}
