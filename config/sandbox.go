package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/agentos/agentos"
)

// Sandbox configures the OS sandbox every command runs in.
type Sandbox struct {
	// Require refuses to run a command when the kernel lacks what the policy
	// needs. nil means true; only an explicit false allows unconfined runs.
	Require *bool `yaml:"require"`
	// ReadOnly lists extra paths commands may read (toolchains, caches).
	ReadOnly []string `yaml:"read_only"`
	// Network allows network access for every command (default: none).
	Network bool `yaml:"network"`
	// AllowTCP lists the only destinations ("host:port") commands may
	// connect to when network is off, e.g. a contractor's model endpoint.
	// A host name is resolved by agentos, outside the sandbox; inside, the
	// command reaches an IPv4 entry at its address (127.0.0.1:PORT for a
	// local server), an IPv6 one at [::1]:PORT and a name by that name.
	AllowTCP []string `yaml:"allow_tcp"`
	// Limits bound each command's resources; zero fields keep the defaults.
	Limits SandboxLimits `yaml:"limits"`
	// Profiles make an ecosystem's toolchain and dependency caches visible
	// (read-only) and point its build tools at caches AgentOS keeps
	// (writable, per repository and policy). `agentos init` writes one per
	// ecosystem it detects; the key is a free name (go, node, python...).
	Profiles map[string]Profile `yaml:"profiles"`
	// Hide lists paths that stay invisible inside the sandbox even under a
	// visible directory, in addition to the built-in credential list
	// (~/.ssh, ~/.aws, ~/.netrc, ~/.npmrc, ...).
	Hide []string `yaml:"hide"`
	// Identity is the dedicated unprivileged host uid and gid commands
	// run as when agentos runs as root and the machine supports idmapped
	// mounts (default DefaultSandboxUID for both).
	Identity SandboxIdentity `yaml:"identity"`
}

// DefaultSandboxUID is the default sandbox.identity uid and gid.
const DefaultSandboxUID = 2013265920

// SandboxIdentity is sandbox.identity.
type SandboxIdentity struct {
	UID *uint32 `yaml:"uid"`
	GID *uint32 `yaml:"gid"`
}

// Profile is one ecosystem's view of the machine. Paths may start with ~/
// (the invoking user's home), {home} or {repo}; a relative path is relative
// to the repository root. Env values may use {home}, {repo} and {cache},
// the writable directory AgentOS keeps for this repository and policy.
type Profile struct {
	// ReadOnly lists toolchains and dependency caches commands may read.
	ReadOnly []string `yaml:"read_only"`
	// Path lists directories put first on the commands' PATH.
	Path []string `yaml:"path"`
	// Env sets variables for every command (build caches, offline flags).
	Env map[string]string `yaml:"env"`
	// Tools names the executables the profile needs; `agentos sandbox
	// check` says where each resolves, or that it is missing.
	Tools []string `yaml:"tools"`
}

// SandboxLimits are per-command resource limits.
type SandboxLimits struct {
	// CPUSeconds is CPU time (not wall clock; the timeout is
	// exec.default_timeout), of each process and, through the run's
	// cgroup, of the whole process tree.
	CPUSeconds uint64 `yaml:"cpu_seconds"`
	// MemoryMB bounds each process's address space (Go and JVM programs
	// reserve far more than they use, so keep it at 2048 or more for
	// them) and, through the run's cgroup, the memory of the whole tree.
	MemoryMB uint64 `yaml:"memory_mb"`
	// Processes bounds processes and threads of the whole tree together.
	Processes uint64 `yaml:"processes"`
	// FileSizeMB bounds the size of any file a command writes.
	FileSizeMB uint64 `yaml:"file_size_mb"`
	// OpenFiles bounds open file descriptors.
	OpenFiles uint64 `yaml:"open_files"`
	// Enforce: "required" (default) refuses to run a command when the
	// machine cannot bound cpu_seconds, memory_mb or processes, as set
	// here, for the whole process tree (no cgroup controller for it:
	// `agentos sandbox check` says); "best_effort" runs it with the
	// per-process limits that do bind.
	Enforce string `yaml:"enforce"`
}

// Enforce values of sandbox.limits.enforce.
const (
	EnforceRequired   = "required"
	EnforceBestEffort = "best_effort"
)

// BestEffort reports whether limits the machine cannot enforce are
// accepted (sandbox.limits.enforce: best_effort).
func (l SandboxLimits) BestEffort() bool { return l.Enforce == EnforceBestEffort }

// Required reports whether a missing sandbox feature must refuse the run.
func (s Sandbox) Required() bool { return s.Require == nil || *s.Require }

// validateSandbox checks the allow_tcp entries and that the limits leave
// room to start a program.
func validateSandbox(c *Config) error {
	for _, id := range []struct {
		name   string
		v      *uint32
		caller int
	}{{"uid", c.Sandbox.Identity.UID, os.Getuid()}, {"gid", c.Sandbox.Identity.GID, os.Getgid()}} {
		switch {
		case id.v == nil:
		case *id.v == 0:
			return agentos.Errorf(agentos.EINVALID, "sandbox.identity.%s: 0 is root's; name an unprivileged %s no account uses (default %d)", id.name, id.name, DefaultSandboxUID)
		case *id.v == 1<<32-1:
			return agentos.Errorf(agentos.EINVALID, "sandbox.identity.%s: %d is not a valid id", id.name, *id.v)
		case int64(*id.v) == int64(id.caller):
			return agentos.Errorf(agentos.EINVALID, "sandbox.identity.%s: %d is agentos's own %s; name one no account uses (default %d)", id.name, *id.v, id.name, DefaultSandboxUID)
		}
	}
	for _, e := range c.Sandbox.AllowTCP {
		if _, _, err := ParseAllowTCP(e); err != nil {
			return fmt.Errorf("sandbox.allow_tcp: %v", err)
		}
	}
	for name, p := range c.Sandbox.Profiles {
		if err := p.validate(); err != nil {
			return fmt.Errorf("sandbox.profiles.%s: %v", name, err)
		}
	}
	for _, h := range c.Sandbox.Hide {
		if err := validProfilePath(h); err != nil {
			return fmt.Errorf("sandbox.hide: %v", err)
		}
	}
	l := c.Sandbox.Limits
	if l.MemoryMB != 0 && l.MemoryMB < 64 {
		return fmt.Errorf("sandbox.limits.memory_mb: %d is too small to start most programs; use 64 or more (0 keeps the default)", l.MemoryMB)
	}
	if l.Processes != 0 && l.Processes < 8 {
		return fmt.Errorf("sandbox.limits.processes: %d is too small for a shell pipeline; use 8 or more (0 keeps the default)", l.Processes)
	}
	if l.Enforce != "" && l.Enforce != EnforceRequired && l.Enforce != EnforceBestEffort {
		return fmt.Errorf("sandbox.limits.enforce: %q is not %s or %s", l.Enforce, EnforceRequired, EnforceBestEffort)
	}
	if l.OpenFiles != 0 && l.OpenFiles < 16 {
		return fmt.Errorf("sandbox.limits.open_files: %d is too small; use 16 or more (0 keeps the default)", l.OpenFiles)
	}
	return nil
}

// ParseAllowTCP splits one allow_tcp entry: "host:port", the host an IP
// address or a DNS name, the port in 1..65535. A name comes back in
// lower case without a trailing dot (names are case-insensitive), so
// "LOCALHOST:8080" and "localhost.:8080" are localhost:8080, which means
// the host's loopback (127.0.0.1 and ::1) at that port.
func ParseAllowTCP(entry string) (host string, port uint16, err error) {
	host, ps, err := net.SplitHostPort(entry)
	if err != nil || host == "" {
		return "", 0, fmt.Errorf("%q is not host:port; write e.g. localhost:8080, 127.0.0.1:8080 or api.openai.com:443", entry)
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("%q needs a port between 1 and 65535", entry)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, uint16(p), nil
	}
	if name := strings.ToLower(strings.TrimSuffix(host, ".")); validHostName(name) {
		return name, uint16(p), nil
	}
	return "", 0, fmt.Errorf("%q: %q is neither an IP address nor a host name", entry, host)
}

// validHostName accepts DNS names (letters, digits, '-', '_' and dots),
// which is also what a hosts file takes.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 || h[0] == '.' || h[0] == '-' {
		return false
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

// ProfileNames returns the profile names in a stable order.
func (s Sandbox) ProfileNames() []string {
	names := make([]string, 0, len(s.Profiles))
	for n := range s.Profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (p Profile) validate() error {
	for _, list := range [][]string{p.ReadOnly, p.Path} {
		for _, e := range list {
			if err := validProfilePath(e); err != nil {
				return err
			}
		}
	}
	for k, v := range p.Env {
		if k == "" || strings.ContainsAny(k, "= \t") {
			return fmt.Errorf("env: %q is not a variable name", k)
		}
		if agentos.ReservedEnv(k) || k == "AGENTOS" {
			hint := ""
			if k == "PATH" {
				hint = " (list directories under path: instead)"
			}
			return fmt.Errorf("env: %s is set by AgentOS%s", k, hint)
		}
		if strings.Contains(v, "{") && !placeholderRe().MatchString(v) {
			return fmt.Errorf("env %s: %q uses a placeholder other than {home}, {repo} or {cache}", k, v)
		}
	}
	for _, t := range p.Tools {
		if t == "" || strings.Contains(t, "/") {
			return fmt.Errorf("tools: %q must be a program name (looked up on PATH)", t)
		}
	}
	return nil
}

// placeholderRe matches a value whose braces are only known placeholders.
var placeholderRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([^{}]|\{(home|repo|cache)\})*$`) })

// validProfilePath accepts ~/…, {home}…, {repo}…, absolute and relative
// paths, none climbing out with "..".
func validProfilePath(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	if slices.Contains(strings.Split(filepath.ToSlash(p), "/"), "..") {
		return fmt.Errorf("%q: no \"..\" in paths", p)
	}
	if strings.Contains(p, "{") && !placeholderRe().MatchString(p) {
		return fmt.Errorf("%q uses a placeholder other than {home}, {repo} or {cache}", p)
	}
	return nil
}
