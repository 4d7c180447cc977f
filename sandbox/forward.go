package sandbox

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
)

// maxAllowTCP bounds the allowlist (one listening socket each, passed to
// the parent in one message).
const maxAllowTCP = 64

// forward is one allow_tcp listener: inside the sandbox a listener on
// Listen, outside the parent dialing the entry's destination for every
// connection accepted there.
type forward struct {
	// Dest is the entry as given ("host:port"), for messages.
	Dest string `json:"dest"`
	// Listen is the address on loopback inside the sandbox's network
	// namespace: the entry's own address for IPv4 (a non-loopback one is
	// added to lo), [::1]:PORT for IPv6, 127.0.0.1:PORT and [::1]:PORT
	// for localhost, and an address of its own in 127.0.1.0/24 for a
	// name, mapped in the sandbox's /etc/hosts.
	Listen string `json:"listen"`
	// Name is the host name mapped to Listen's address and resolved
	// outside for every connection ("" for an IP or localhost).
	Name string `json:"name,omitempty"`
	Port uint16 `json:"port"`
	// Loopback means the host's loopback at Port: 127.0.0.1 and ::1,
	// the listener's own family first (localhost, and an IP entry of
	// 127.0.0.1 or ::1 that meets a localhost entry on one listener).
	Loopback bool `json:"loopback,omitempty"`
	// Optional marks a listener the run does without when the sandbox
	// cannot open it: localhost's [::1] one where IPv6 is off.
	Optional bool `json:"optional,omitempty"`
}

// LookupNetIP resolves an allow_tcp host name outside the sandbox, once
// for every relayed connection. It is a variable so that tests can map a
// name to a listener of their own; nothing else should change it.
var LookupNetIP = net.DefaultResolver.LookupNetIP

// planForwards turns the allowlist into listeners. Two entries that would
// listen on the same address inside the sandbox are refused, unless both
// mean the host's loopback at that port.
func planForwards(entries []string) ([]forward, error) {
	if len(entries) > maxAllowTCP {
		return nil, agentos.Errorf(agentos.EINVALID, "sandbox: %d allow_tcp entries, at most %d are supported; merge destinations behind one proxy", len(entries), maxAllowTCP)
	}
	var out []forward
	names := map[string]netip.Addr{}
	byListen := map[string]int{}
	add := func(f forward) error {
		i, ok := byListen[f.Listen]
		if !ok {
			byListen[f.Listen] = len(out)
			out = append(out, f)
			return nil
		}
		prev := &out[i]
		switch {
		case prev.Dest == f.Dest:
		case prev.loopbackDest() && f.loopbackDest():
			// localhost:P with 127.0.0.1:P or [::1]:P: all of them
			// mean the host's loopback, and so does the listener.
			prev.Loopback = true
			prev.Optional = prev.Optional && f.Optional
		default:
			return agentos.Errorf(agentos.EINVALID, "sandbox: allow_tcp entries %s and %s would both be reached at %s inside the sandbox; keep one of them", prev.Dest, f.Dest, f.Listen)
		}
		return nil
	}
	for _, e := range entries {
		host, port, err := config.ParseAllowTCP(e)
		if err != nil {
			return nil, agentos.Errorf(agentos.EINVALID, "sandbox: allow_tcp entry %v", err)
		}
		f := forward{Dest: net.JoinHostPort(host, strconv.Itoa(int(port))), Port: port}
		if host == "localhost" {
			// Loopback on the host, reached inside at both loopback
			// addresses: curl and others take localhost to mean
			// 127.0.0.1 and ::1 without reading /etc/hosts.
			f.Loopback = true
			v4, v6 := f, f
			v4.Listen = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port).String()
			v6.Listen = netip.AddrPortFrom(netip.IPv6Loopback(), port).String()
			v6.Optional = true
			if err := add(v4); err != nil {
				return nil, err
			}
			if err := add(v6); err != nil {
				return nil, err
			}
			continue
		}
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
		if err := add(f); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loopbackDest reports whether the forward's destination is the host's
// own loopback (localhost, 127.0.0.1, ::1 or an unspecified address).
func (f forward) loopbackDest() bool {
	if f.Loopback {
		return true
	}
	if f.Name != "" {
		return false
	}
	ap, err := netip.ParseAddrPort(f.Dest)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	return a == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || a == netip.IPv6Loopback() || a.IsUnspecified()
}

// targets are the addresses the parent dials, in order, for a connection
// accepted on the forward's listener: only the entry's own address, the
// host's loopback, or what the name resolves to outside right now.
func (f forward) targets(ctx context.Context) ([]netip.AddrPort, error) {
	switch {
	case f.Loopback:
		v4 := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), f.Port)
		v6 := netip.AddrPortFrom(netip.IPv6Loopback(), f.Port)
		if netip.MustParseAddrPort(f.Listen).Addr().Is6() {
			return []netip.AddrPort{v6, v4}, nil
		}
		return []netip.AddrPort{v4, v6}, nil
	case f.Name != "":
		addrs, err := LookupNetIP(ctx, "ip", f.Name)
		if err != nil {
			return nil, err
		}
		var out []netip.AddrPort
		for _, a := range addrs {
			out = append(out, netip.AddrPortFrom(a.Unmap(), f.Port))
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s has no address", f.Name)
		}
		return out, nil
	}
	ap, err := netip.ParseAddrPort(f.Dest)
	if err != nil {
		return nil, err
	}
	return []netip.AddrPort{netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, nil
}

// hostsFile is the sandbox's /etc/hosts when an allowlist is in force:
// localhost and the allowlisted names, each at its listener's address.
func hostsFile(fs []forward) []byte {
	seen := map[string]bool{}
	b := []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
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
