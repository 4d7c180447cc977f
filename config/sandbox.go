package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
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
}

// SandboxLimits are per-command resource limits.
type SandboxLimits struct {
	// CPUSeconds is CPU time (not wall clock; the timeout is exec.default_timeout).
	CPUSeconds uint64 `yaml:"cpu_seconds"`
	// MemoryMB bounds address space; Go and JVM programs reserve far more
	// than they use, so keep it at 2048 or more for them.
	MemoryMB uint64 `yaml:"memory_mb"`
	// Processes bounds processes and threads together.
	Processes uint64 `yaml:"processes"`
	// FileSizeMB bounds the size of any file a command writes.
	FileSizeMB uint64 `yaml:"file_size_mb"`
	// OpenFiles bounds open file descriptors.
	OpenFiles uint64 `yaml:"open_files"`
}

// Required reports whether a missing sandbox feature must refuse the run.
func (s Sandbox) Required() bool { return s.Require == nil || *s.Require }

// validateSandbox checks the allow_tcp entries and that the limits leave
// room to start a program.
func validateSandbox(c *Config) error {
	for _, e := range c.Sandbox.AllowTCP {
		if _, _, err := ParseAllowTCP(e); err != nil {
			return fmt.Errorf("sandbox.allow_tcp: %v", err)
		}
	}
	l := c.Sandbox.Limits
	if l.MemoryMB != 0 && l.MemoryMB < 64 {
		return fmt.Errorf("sandbox.limits.memory_mb: %d is too small to start most programs; use 64 or more (0 keeps the default)", l.MemoryMB)
	}
	if l.Processes != 0 && l.Processes < 8 {
		return fmt.Errorf("sandbox.limits.processes: %d is too small for a shell pipeline; use 8 or more (0 keeps the default)", l.Processes)
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
