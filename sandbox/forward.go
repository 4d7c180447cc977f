package sandbox

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
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
	// Listen is the address on loopback inside the sandbox's network
	// namespace: the entry's own address for IPv4 (a non-loopback one is
	// added to lo), [::1]:PORT for IPv6, and an address of its own in
	// 127.0.1.0/24 for a name, mapped in the sandbox's /etc/hosts.
	Listen string `json:"listen"`
	// Name is the host name mapped to Listen's address ("" for an IP).
	Name string `json:"name,omitempty"`
	Port uint16 `json:"port"`
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
		host, port, err := config.ParseAllowTCP(e)
		if err != nil {
			return nil, agentos.Errorf(agentos.EINVALID, "sandbox: allow_tcp entry %v", err)
		}
		f := forward{Dest: net.JoinHostPort(host, strconv.Itoa(int(port))), Port: port}
		var addr netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			ip = ip.Unmap()
			switch {
			case ip.Is4() && (ip.IsLoopback() || ip.IsUnspecified()):
				addr = ip
				if ip.IsUnspecified() {
					addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
				}
			case ip.Is4():
				// The address itself, added to loopback inside: a URL
				// naming it works unchanged.
				addr = ip
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
