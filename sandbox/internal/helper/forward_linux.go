package helper

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The helper's part of the TCP allowlist (the parent's is sandbox's
// forward_linux.go): inside the sandbox's own network namespace it brings
// loopback up and, still holding its namespace capabilities, opens one
// listening socket per entry, passes them to the parent over ForwardFD
// (SCM_RIGHTS) and closes its own copies before it confines itself and
// execs the command.

// loopbackUp sets IFF_UP on lo, which gives it 127.0.0.0/8 and ::1.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("network namespace: socket for loopback: %v", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("network namespace: reading loopback flags: %v", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("network namespace: bringing loopback up: %v", err)
	}
	return nil
}

// addLoopbackAddr puts a/32 on lo (as the alias lo:N), so that the
// command reaches an allowlisted IPv4 address at that address.
func addLoopbackAddr(a [4]byte, n int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	name := fmt.Sprintf("lo:%d", n)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetInet4Addr(a[:])
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFADDR, ifr); err != nil {
		return fmt.Errorf("adding %s to loopback inside the sandbox: %v", ip4(a), err)
	}
	if ifr, err = unix.NewIfreq(name); err != nil {
		return err
	}
	ifr.SetInet4Addr([]byte{255, 255, 255, 255})
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFNETMASK, ifr); err != nil {
		return fmt.Errorf("setting %s/32 on loopback inside the sandbox: %v", ip4(a), err)
	}
	return nil
}

// openForwards runs in the sandbox's network namespace and before
// confinement: loopback up, one listener per entry, all of them sent to
// the parent; the helper keeps none.
func openForwards(fs []Forward) error {
	if len(fs) == 0 {
		return nil
	}
	unix.CloseOnExec(ForwardFD)
	defer unix.Close(ForwardFD)
	if err := loopbackUp(); err != nil {
		return err
	}
	added := map[[4]byte]bool{}
	for _, f := range fs {
		if len(f.Addr) == 4 && f.Addr[0] != 127 {
			a := [4]byte(f.Addr)
			if !added[a] {
				added[a] = true
				if err := addLoopbackAddr(a, len(added)); err != nil {
					return fmt.Errorf("allow_tcp %s: %v", f.Dest, err)
				}
			}
		}
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	// The message says which forward each descriptor is for: an optional
	// listener the namespace cannot have (::1 with IPv6 off) is left out.
	var which []byte
	for i, f := range fs {
		fd, err := listenTCP(f.Addr, f.Port)
		if err != nil {
			if f.Optional {
				continue
			}
			return fmt.Errorf("allow_tcp %s: listening on port %d inside the sandbox: %v", f.Dest, f.Port, err)
		}
		fds = append(fds, fd)
		which = append(which, byte(i))
	}
	if len(which) == 0 {
		which = []byte{0}
	}
	if err := unix.Sendmsg(ForwardFD, which, unix.UnixRights(fds...), nil, 0); err != nil {
		return fmt.Errorf("allow_tcp: passing the listeners to agentos: %v", err)
	}
	return nil
}

// ip4 formats a for messages (net/netip is left out of the helper: its
// initialisation is one of the costly ones).
func ip4(a [4]byte) string { return fmt.Sprintf("%d.%d.%d.%d", a[0], a[1], a[2], a[3]) }

func listenTCP(addr []byte, port uint16) (int, error) {
	var sa unix.Sockaddr
	family := unix.AF_INET
	switch len(addr) {
	case 4:
		sa = &unix.SockaddrInet4{Port: int(port), Addr: [4]byte(addr)}
	case 16:
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(port), Addr: [16]byte(addr)}
	default:
		return -1, fmt.Errorf("bad listening address %v", addr)
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
