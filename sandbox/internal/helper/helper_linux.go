package helper

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The helper is recognised by both a hidden first argument and an
// environment marker, so neither alone (a user typing the argument, or an
// inherited variable) turns agentos into the helper.
const (
	Arg = "__sandbox-helper"
	Env = "AGENTOS_SANDBOX_HELPER"
	// Inherited descriptors of the helper: the spec (parent -> helper),
	// the setup report (helper -> parent) and, with a TCP allowlist, the
	// socket that carries the listeners to the parent.
	SpecFD    = 3
	ReportFD  = 4
	ForwardFD = 5
	// ExitSetup is the helper's exit code when confinement failed; the
	// report pipe carries the reason.
	ExitSetup = 125
	// Protocol is the version of Spec and Report. agentos embeds the
	// helper as a separate binary (cmd/agentos-sandbox-helper), so the two
	// can be built from different sources: bump it with any change of
	// meaning, and the helper refuses a spec of another version, or with a
	// field it does not know, instead of running a command half-confined.
	Protocol = 2
)

// The helper takes over here, before the packages it does not need are
// initialised (see the package comment).
func init() {
	if IsHelper() {
		os.Exit(Main())
	}
}

// IsHelper reports whether this process was started as the sandbox helper.
func IsHelper() bool {
	return len(os.Args) > 1 && os.Args[1] == Arg && os.Getenv(Env) == "1"
}

// Limits are the command's resource limits (sandbox.Limits, converted).
type Limits struct {
	CPU        time.Duration `json:"cpu,omitempty"`
	Memory     uint64        `json:"memory,omitempty"`
	Processes  uint64        `json:"processes,omitempty"`
	FileSize   uint64        `json:"file_size,omitempty"`
	OpenFiles  uint64        `json:"open_files,omitempty"`
	BestEffort bool          `json:"best_effort,omitempty"`
}

// Overlay is a copy-on-write worktree (sandbox.Overlay, converted).
type Overlay struct {
	Lower string `json:"lower"`
	Upper string `json:"upper"`
	Work  string `json:"work"`
}

// Forward is one allow_tcp listener as the helper opens it: the parent
// has parsed the address already.
type Forward struct {
	// Dest is the entry as given, for messages.
	Dest string `json:"dest"`
	// Addr is the listening address inside (4 or 16 bytes), Port its
	// port, which is also the one port the command may connect to.
	Addr []byte `json:"addr"`
	Port uint16 `json:"port"`
	// Optional marks a listener the run does without when the namespace
	// cannot open it (::1 with IPv6 off).
	Optional bool `json:"optional,omitempty"`
}

// Spec is what the parent sends the helper over SpecFD.
type Spec struct {
	// Protocol is the sender's Protocol.
	Protocol  int      `json:"protocol"`
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
	// opens inside the namespace and hands to the parent on ForwardFD.
	Forwards []Forward `json:"forwards,omitempty"`
	// Hosts, when set, is the sandbox's /etc/hosts (the allowlisted
	// names at their listeners' addresses).
	Hosts  []byte `json:"hosts,omitempty"`
	Limits Limits `json:"limits"`
	// Probe only sets up the namespaces and mounts and exits (Check).
	Probe      bool    `json:"probe,omitempty"`
	ProbeFlags uintptr `json:"probe_flags,omitempty"`
	// Dry confines itself completely, then exits instead of exec'ing
	// (Check's end-to-end probe).
	Dry bool `json:"dry,omitempty"`
	// Hold only mounts Overlay at Worktree and waits for its stdin to
	// close: AgentOS's own writes go through that view (OpenView).
	Hold bool `json:"hold,omitempty"`
	// Identity, when set, is the dedicated unprivileged host uid and gid
	// the helper's user namespace maps its root to (instead of the
	// caller's). The helper, as that uid, cannot open the caller's
	// private directories: agentos opens every bind source itself and
	// passes them as Mounts over MountFD, the writable ones idmapped so
	// that the caller's files are the command's and what it creates is
	// the caller's on disk.
	Identity *Identity `json:"identity,omitempty"`
	Mounts   []Mount   `json:"mounts,omitempty"`
	MountFD  int       `json:"mount_fd,omitempty"`
	// FailIdentityForTest makes the identity's setup fail (agentos's
	// tests of the fallback; set only by a test of package sandbox).
	FailIdentityForTest bool `json:"fail_identity_for_test,omitempty"`
	// Owned are the ReadOnly entries agentos idmaps too
	// (sandbox.Spec.ReadOnlyOwned); agentos's side only.
	Owned []string `json:"-"`
}

// Identity is a host uid and gid (sandbox.identity).
type Identity struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

// Mount is one detached mount (open_tree) agentos made for the helper;
// its descriptor comes over MountFD, in the order of Spec.Mounts.
type Mount struct {
	// Path is the host path the mount shows (where it goes in the new
	// root, except for the overlay's layers).
	Path  string `json:"path"`
	Write bool   `json:"write,omitempty"`
	Dir   bool   `json:"dir,omitempty"`
	// Layer is "lower" (Overlay.Lower) or "upper" (the directory holding
	// Overlay.Upper and Overlay.Work: overlayfs wants both on one mount).
	Layer string `json:"layer,omitempty"`
	// Link, for a read-only entry that is a symbolic link, is its target:
	// the link is made again in the new root, and no descriptor comes.
	Link string `json:"link,omitempty"`
	fd   int
}

// Report is one line the helper sends the parent over ReportFD.
type Report struct {
	Error string `json:"error,omitempty"`
	// Setup is true when the failure is in confinement, false when the
	// command itself could not be started.
	Setup bool `json:"setup,omitempty"`
	// Started confirms the command was started confined.
	Started bool `json:"started,omitempty"`
	// Identity marks a setup failure in what only the dedicated identity
	// does (receiving and attaching agentos's mounts, the overlay from
	// idmapped layers): the run can start again as the caller.
	Identity bool `json:"identity,omitempty"`
}

// identityError is a failure of Report.Identity's kind.
type identityError struct{ err error }

func (e *identityError) Error() string { return e.err.Error() }

// Main is the helper's main: pid 1 of the new namespaces, it sets up
// the mounts, confines itself on one locked OS thread (capabilities,
// no_new_privs and seccomp are per thread) and execs the command from that
// thread. The command becomes pid 1: when it exits, the kernel kills
// everything it left behind in the namespace (daemons included).
// It returns an exit code only when the command could not be started.
func Main() int {
	runtime.LockOSThread()
	repF := os.NewFile(ReportFD, "report")
	specF := os.NewFile(SpecFD, "spec")
	if repF == nil || specF == nil {
		fmt.Fprintln(os.Stderr, "agentos: the sandbox helper is started by agentos itself")
		return ExitSetup
	}
	unix.CloseOnExec(SpecFD)
	unix.CloseOnExec(ReportFD)
	var hs Spec
	dec := json.NewDecoder(specF)
	dec.DisallowUnknownFields()
	err := dec.Decode(&hs)
	specF.Close()
	if err == nil && hs.Protocol != Protocol {
		err = fmt.Errorf("protocol %d, this helper speaks %d", hs.Protocol, Protocol)
	}
	if err != nil {
		return report(repF, true, "reading the sandbox spec: %v (a helper built from other sources than agentos: run go generate ./sandbox/... and rebuild)", err)
	}
	if hs.Hold {
		return holdView(repF, hs)
	}
	if err := receiveMounts(&hs); err != nil {
		return reportIdentity(repF, err)
	}
	if err := setupMounts(hs); err != nil {
		if ie, ok := err.(*identityError); ok {
			return reportIdentity(repF, ie)
		}
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
	json.NewEncoder(repF).Encode(Report{Started: true})
	err = syscall.Exec(argv0, hs.Argv, hs.Env)
	return report(repF, false, "cannot start %s: %v (inside the sandbox only the worktree, system directories and sandbox.read_only are visible)", hs.Argv[0], err)
}

// report sends a failure to the parent and returns the helper's exit code.
func report(repF *os.File, setup bool, format string, args ...any) int {
	json.NewEncoder(repF).Encode(Report{Error: fmt.Sprintf(format, args...), Setup: setup})
	repF.Close()
	return ExitSetup
}

// reportIdentity is report for a failure of the dedicated identity's own
// setup (Report.Identity).
func reportIdentity(repF *os.File, err error) int {
	json.NewEncoder(repF).Encode(Report{Error: "the sandbox's dedicated identity: " + err.Error(), Setup: true, Identity: true})
	repF.Close()
	return ExitSetup
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
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			continue
		}
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in the sandbox's PATH", name)
}
