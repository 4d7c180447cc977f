package sandbox

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/agentos/agentos"
)

// maxAllowTCP bounds the allowlist (one listening socket each, passed to
// the parent in one message).
const maxAllowTCP = 64

// forward is one allow_tcp entry: inside the sandbox a listener on Listen,
// outside the parent dialing Dest for every connection accepted there.
type forward struct {
	// Dest is the entry as given ("host:port"); the parent dials it, so a
	// name is resolved outside the sandbox.
	Dest string `json:"dest"`
	// Listen is the loopback address inside the sandbox's network
	// namespace: 127.0.0.1:PORT for an IPv4 address (the entry's own
	// address when it is a loopback one), [::1]:PORT for IPv6, and an
	// address of its own in 127.0.1.0/24 for a name, mapped in the
	// sandbox's /etc/hosts.
	Listen string `json:"listen"`
	// Name is the host name mapped to Listen's address ("" for an IP).
	Name string `json:"name,omitempty"`
	Port uint16 `json:"port"`
}

// ParseAllowTCP splits one allow_tcp entry, "host:port" with a port in
// 1..65535 and a host that is an IP address or a DNS name.
func ParseAllowTCP(entry string) (host string, port uint16, err error) {
	host, ps, err := net.SplitHostPort(entry)
	if err != nil {
		return "", 0, agentos.Errorf(agentos.EINVALID, "sandbox: allow_tcp entry %q is not host:port (write e.g. 127.0.0.1:8080 or api.openai.com:443)", entry)
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || p == 0 {
		return "", 0, agentos.Errorf(agentos.EINVALID, "sandbox: allow_tcp entry %q needs a port between 1 and 65535", entry)
	}
	if _, err := netip.ParseAddr(host); err != nil && !validHostName(host) {
		return "", 0, agentos.Errorf(agentos.EINVALID, "sandbox: allow_tcp entry %q: %q is neither an IP address nor a host name", entry, host)
	}
	return host, uint16(p), nil
}

// validHostName accepts DNS names (letters, digits, '-', '_', dots), which
// is also what may go in /etc/hosts.
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

// planForwards turns the allowlist into listeners. Two entries that would
// listen on the same address inside the sandbox are refused.
func planForwards(entries []string) ([]forward, error) {
	if len(entries) > maxAllowTCP {
		return nil, agentos.Errorf(agentos.EINVALID, "sandbox: %d allow_tcp entries, at most %d are supported; merge destinations behind one proxy", len(entries), maxAllowTCP)
	}
	var out []forward
	names := map[string]netip.Addr{}
	byListen := map[string]string{}
	for _, e := range entries {
		host, port, err := ParseAllowTCP(e)
		if err != nil {
			return nil, err
		}
		f := forward{Dest: net.JoinHostPort(host, strconv.Itoa(int(port))), Port: port}
		var addr netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			ip = ip.Unmap()
			switch {
			case ip.Is4() && ip.IsLoopback():
				addr = ip
			case ip.Is4():
				addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
			default:
				addr = netip.IPv6Loopback()
			}
		} else {
			a, ok := names[host]
			if !ok {
				if len(names) >= 254 {
					return nil, agentos.Errorf(agentos.EINVALID, "sandbox: too many host names in allow_tcp")
				}
				a = netip.AddrFrom4([4]byte{127, 0, 1, byte(len(names) + 1)})
				names[host] = a
			}
			addr, f.Name = a, host
		}
		f.Listen = netip.AddrPortFrom(addr, port).String()
		if prev, ok := byListen[f.Listen]; ok {
			if prev == f.Dest {
				continue
			}
			return nil, agentos.Errorf(agentos.EINVALID, "sandbox: allow_tcp entries %s and %s would both be reached at %s inside the sandbox; keep one of them", prev, f.Dest, f.Listen)
		}
		byListen[f.Listen] = f.Dest
		out = append(out, f)
	}
	return out, nil
}

// hostsFile is the sandbox's /etc/hosts when an allowlist is in force:
// localhost and the allowlisted names, each at its listener's address.
func hostsFile(fs []forward) []byte {
	seen := map[string]bool{}
	var b []byte
	if !slices.ContainsFunc(fs, func(f forward) bool { return f.Name == "localhost" }) {
		b = []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	}
	for _, f := range fs {
		if f.Name == "" || seen[f.Name] {
			continue
		}
		seen[f.Name] = true
		ap := netip.MustParseAddrPort(f.Listen)
		b = fmt.Appendf(b, "%s\t%s\n", ap.Addr(), f.Name)
	}
	return b
}
