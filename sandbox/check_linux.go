package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/agentos/agentos/sandbox/internal/helper"

	"golang.org/x/sys/unix"
)

var checkOnce = sync.OnceValue(check)

// Check reports which confinement features this machine supports. The
// namespace probe starts the helper once per process.
func Check() Report { return checkOnce() }

// staticFeatures are the checks that need no process: Landlock and seccomp.
func staticFeatures() []Feature {
	abi := helper.LandlockABI()
	ll := Feature{Name: "landlock", OK: abi >= helper.MinLandlockABI, Detail: fmt.Sprintf("ABI %d", abi)}
	if !ll.OK {
		ll.Detail = fmt.Sprintf("ABI %d, need %d or later (boot with lsm=...,landlock)", abi, helper.MinLandlockABI)
	}
	sc := Feature{Name: "seccomp", OK: true, Detail: "BPF filter"}
	if _, ok := helper.AuditArch(); !ok {
		sc = Feature{Name: "seccomp", Detail: "no filter for " + runtime.GOARCH}
	} else if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		sc = Feature{Name: "seccomp", Detail: "kernel without CONFIG_SECCOMP_FILTER"}
	}
	tcp := Feature{Name: "tcp allowlist", OK: abi >= helper.MinLandlockNetABI, AllowTCPOnly: true,
		Detail: fmt.Sprintf("loopback listeners relayed by agentos, Landlock TCP rules (ABI %d)", abi)}
	if !tcp.OK {
		tcp.Detail = fmt.Sprintf("Landlock ABI %d cannot restrict TCP connect; need %d or later", abi, helper.MinLandlockNetABI)
	}
	return disable([]Feature{ll, sc, tcp})
}

func check() Report {
	r := Report{OS: runtime.GOOS, Arch: runtime.GOARCH, LandlockABI: helper.LandlockABI()}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		r.Kernel = string(bytes.TrimRight(uts.Release[:], "\x00"))
	}
	r.Features = staticFeatures()

	// One confined dry run end to end; on failure, the namespaces one at a
	// time, to name exactly what is missing.
	idReason, dryErr := dryRun()
	r.dryRan = dryErr == nil
	if dryErr == nil {
		for _, ns := range namespaces {
			r.Features = append(r.Features, Feature{Name: ns.name, OK: true, NetworkOnly: ns.flag == unix.CLONE_NEWNET})
		}
		r.Features = append(r.Features, Feature{Name: "sandbox setup", OK: true, Detail: "new root, private /proc, process limit, no capabilities"})
		r.Features = checkAllowTCP(r.Features)
		r.Features = append(r.Features, overlayFeature())
		r.Features = append(r.Features, cgroupFeatures()...)
		setIdentity(&r, idReason)
		r.Limitations = limitations(r.LandlockABI, r.IdentityDedicated)
		r.Helper = HelperDescription()
		return r
	}
	userErr := probe(unix.CLONE_NEWUSER)
	nsOK := true
	for _, ns := range namespaces {
		f := Feature{Name: ns.name, NetworkOnly: ns.flag == unix.CLONE_NEWNET}
		err := userErr
		if err == nil && ns.flag != unix.CLONE_NEWUSER {
			err = probe(unix.CLONE_NEWUSER | ns.flag | unix.CLONE_NEWNS | unix.CLONE_NEWPID)
		}
		if err == nil {
			f.OK = true
		} else {
			f.Detail = err.Error()
			nsOK = false
		}
		r.Features = append(r.Features, f)
	}
	if nsOK {
		r.Features = append(r.Features, Feature{Name: "sandbox setup", Detail: dryErr.Error()})
	}
	r.Features = append(r.Features, cgroupFeatures()...)
	if idReason == "" {
		idReason = "the sandbox cannot start here (see the features above; only with sandbox.require: false do commands run, unconfined)"
	}
	setIdentity(&r, idReason)
	r.Limitations = limitations(r.LandlockABI, r.IdentityDedicated)
	r.Helper = HelperDescription()
	return r
}

// limitations are what the sandbox leaves open on this machine even when
// every feature works: agentos sandbox check prints them, one line each.
func limitations(abi int, dedicated bool) []string {
	var out []string
	switch {
	case dedicated:
		out = append(out, "identity: commands run as an unprivileged uid of their own, but what they create in the worktree and caches is root's on disk "+
			"(set-id bits and file capabilities are refused, and refused again before commit); they read whatever others may read in the paths the sandbox shows")
	case os.Getuid() == 0:
		out = append(out, "identity: commands run as host root without capabilities, not as a separate unprivileged uid: "+
			"they read root's files wherever the sandbox shows them, and the files they create are root's on the host (set-id bits and file capabilities are refused, and refused again before commit)")
	default:
		out = append(out, "identity: commands run as your own uid, not as a separate unprivileged uid: "+
			"they read what the sandbox shows (worktree, sandbox.read_only, system directories) with your rights, and what they create is yours")
	}
	out = append(out,
		"network: with the network on (--network, a step's network: true) a command shares the host's network and can reach "+
			"every service it could, and send out anything it can read; off (the default), it has only a loopback of its own",
		"reading: a command can read every file in its worktree (a .env included) and copy it into the files it writes; "+
			"the final-diff scan refuses what it recognises (plain, base64, hex, in zip, tar or gzip), not encrypted or otherwise encoded secrets",
		"namespaces: no cgroup or time namespace of its own: a command sees the host's clock and its cgroup's path on the host (/proc/self/cgroup)")
	if abi < 6 {
		out = append(out, fmt.Sprintf("landlock ABI %d: signals and abstract unix sockets are not scoped (ABI 6): "+
			"with the network on, a command can connect to the host's abstract sockets (D-Bus, X11 and the like)", abi))
	}
	if abi < 9 {
		out = append(out, fmt.Sprintf("landlock ABI %d: connecting to a unix socket file is not governed (ABI 9): "+
			"a socket inside a visible path (the worktree, a sandbox.read_only entry) can be connected to", abi))
	}
	return out
}

// setIdentity says which host identity confined commands run with, and
// why (idReason: why not the dedicated one, from the dry run).
func setIdentity(r *Report, idReason string) { r.setIdentity(idReason, DefaultIdentity) }

func (r *Report) setIdentity(idReason string, id Identity) {
	r.idReason = idReason
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	if r.IdentityPlaces == nil {
		// Until ForRepository probes a repository's places: the dry run's
		// worktree was in $TMPDIR.
		tmp := os.TempDir()
		r.IdentityProbed = fmt.Sprintf("$TMPDIR (%s) only: in a repository, agentos sandbox check probes where that repository's runs write", tmp)
		r.IdentityPlaces = []IdentityPlace{{Name: "temp", Path: tmp, FS: fsTypeAt(tmp), Dedicated: idReason == "", Reason: idReason}}
	}
	if idReason == "" {
		r.IdentityUID, r.IdentityGID, r.IdentityDedicated = &id.UID, &id.GID, true
		r.Identity = fmt.Sprintf("commands run as host uid %d, gid %d, the sandbox's own unprivileged identity (sandbox.identity), "+
			"not as root: uid 0 without capabilities inside, owner of nothing outside; the worktree, caches and temp directory are idmapped mounts, "+
			"so what they create is root's on disk; a worktree on a file system that refuses idmapped mounts runs as root instead", id.UID, id.GID)
		return
	}
	r.IdentityUID, r.IdentityGID, r.IdentityDedicated = &uid, &gid, false
	if uid == 0 {
		r.Identity = fmt.Sprintf("commands run as host root (uid 0, gid %d), the identity agentos runs as, with no capabilities, "+
			"because %s: files they create are root's; set-id bits, file capabilities and device nodes are refused (seccomp)", gid, idReason)
		return
	}
	r.Identity = fmt.Sprintf("commands run as your own uid %d (gid %d), with no capabilities, because %s; set-id bits, file capabilities and device nodes are refused (seccomp)", uid, gid, idReason)
}

// dryRun confines a helper completely, over an empty worktree in
// $TMPDIR, without running anything.
// It returns why commands cannot run as the dedicated identity
// ("" when the dry run did).
func dryRun() (idReason string, err error) {
	wt, err := os.MkdirTemp("", "agentos-check-")
	if err != nil {
		return identityStatic(), err
	}
	defer os.RemoveAll(wt)
	return dryRunAt(helperSpec{Worktree: wt}, DefaultIdentity)
}

// dryRunAt starts a run with hs's worktree (or overlay) and writable
// paths the way runConfined does (identityFor, then the helper with its
// idmapped mounts, again as the caller when a file system refuses them),
// confined completely but exiting before the exec. It returns
// identityFor's answer afterwards: what a run there now decides.
func dryRunAt(hs helperSpec, id Identity) (idReason string, err error) {
	hs.Dry, hs.Argv, hs.Dir, hs.Env, hs.Limits = true, []string{"dry-run"}, hs.Worktree, []string{}, helperLimits(DefaultLimits)
	idReason = identityFor(&hs, id)
	err = waitHelper(hs, cloneFlags(false))
	var ie *identitySetupError
	switch {
	case errors.Is(err, errIdmapRefused):
		idReason = identityFor(&hs, id)
	case errors.As(err, &ie):
		identityBrokenBy(hs, ie.Error())
		idReason = identityFor(&hs, id)
	default:
		return idReason, err
	}
	hs.Identity, hs.Mounts = nil, nil
	return idReason, waitHelper(hs, cloneFlags(false))
}

// checkAllowTCP confirms the static "tcp allowlist" feature with a dry run
// that opens a loopback listener inside and hands it to this process.
func checkAllowTCP(fs []Feature) []Feature {
	i := slices.IndexFunc(fs, func(f Feature) bool { return f.Name == "tcp allowlist" })
	if i < 0 || !fs[i].OK {
		return fs
	}
	if err := dryRunAllowTCP(); err != nil {
		fs[i].OK, fs[i].Detail = false, err.Error()
	}
	return fs
}

func dryRunAllowTCP() error {
	wt, err := os.MkdirTemp("", "agentos-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(wt)
	fwds := []forward{{Dest: "127.0.0.1:1", Listen: "127.0.0.1:1", Port: 1}}
	rl, helperEnd, err := newRelay(fwds)
	if err != nil {
		return err
	}
	defer rl.close()
	hs := helperSpec{Dry: true, Argv: []string{"dry-run"}, Dir: wt, Worktree: wt, Env: []string{}, Limits: helperLimits(DefaultLimits), Forwards: helperForwards(fwds)}
	cmd, rep, err := startHelper(hs, cloneFlags(false), helperEnd, nil, io.Discard, io.Discard)
	helperEnd.Close()
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	rl.start()
	err = waitStarted(cmd, rep)
	<-rl.ready
	if err == nil && rl.listeners() != len(fwds) {
		err = fmt.Errorf("the loopback listener did not reach agentos")
	}
	return err
}

var namespaces = []struct {
	name string
	flag uintptr
}{
	{"user namespace", unix.CLONE_NEWUSER},
	{"mount namespace", unix.CLONE_NEWNS},
	{"pid namespace", unix.CLONE_NEWPID},
	{"ipc namespace", unix.CLONE_NEWIPC},
	{"uts namespace", unix.CLONE_NEWUTS},
	{"network namespace", unix.CLONE_NEWNET},
}

// probe starts the helper in probe mode with the given namespaces; the
// helper sets up what those namespaces allow and exits.
func probe(flags uintptr) error {
	return waitHelper(helperSpec{Probe: true, ProbeFlags: flags, Argv: []string{"probe"}}, flags)
}

func waitHelper(hs helperSpec, flags uintptr) error {
	cmd, rep, err := startHelper(hs, flags, nil, nil, io.Discard, io.Discard)
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	return waitStarted(cmd, rep)
}

// waitStarted waits for a probe or dry-run helper and returns its failure.
func waitStarted(cmd *exec.Cmd, rep *os.File) error {
	raw, _ := io.ReadAll(rep)
	rep.Close()
	werr := cmd.Wait()
	var hr helperReport
	if len(raw) > 0 {
		if json.Unmarshal(raw, &hr) != nil || hr.Error == "" {
			hr.Error = strings.TrimSpace(string(raw))
		}
		if hr.Identity {
			return &identitySetupError{fmt.Errorf("%s", hr.Error)}
		}
		return fmt.Errorf("%s", hr.Error)
	}
	if werr != nil {
		return fmt.Errorf("helper: %v", werr)
	}
	return nil
}

// overlayFeature says whether tasks get copy-on-write worktrees here (a
// speed-up: without it each task checks out the whole tree).
func overlayFeature() Feature {
	f := Feature{Name: "overlay worktrees", Optional: true, OK: true, Detail: "copy-on-write task worktrees over a shared checkout per base commit"}
	if err := OverlayCheck(os.TempDir()); err != nil {
		f.OK, f.Detail = false, fmt.Sprintf("%v; tasks use a full git worktree each (slower on large repositories)", err)
	}
	return f
}
