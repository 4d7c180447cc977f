package sandbox

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The TCP allowlist. Inside the sandbox's own network namespace the helper
// brings loopback up and, still holding its namespace capabilities, opens
// one listening socket per entry. It passes those sockets to the parent
// over a unix socketpair (SCM_RIGHTS) and closes its own copies before it
// confines itself and execs the command. The parent accepts on them: a
// socket stays in the namespace it was created in, whoever holds it. For
// every connection the command makes to an allowlisted loopback address,
// the parent dials the real destination from the host network and relays
// the bytes. Nothing runs inside the sandbox but the command (which stays
// pid 1 of its pid namespace), and the only route out is those sockets:
// loopback is the namespace's only interface, Landlock allows TCP connect
// to the allowlisted ports only and no TCP bind at all.

// forwardFD is the helper's end of the socketpair that carries the
// listening sockets to the parent (present only with an allowlist).
const forwardFD = 5

// maxRelayConns bounds the connections one run may have open through its
// allowlist; more are closed at once.
const maxRelayConns = 256

// relayDialTimeout bounds the parent's dial of a destination.
const relayDialTimeout = 30 * time.Second

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
func addLoopbackAddr(a netip.Addr, n int) error {
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
	ip := a.As4()
	ifr.SetInet4Addr(ip[:])
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFADDR, ifr); err != nil {
		return fmt.Errorf("adding %s to loopback inside the sandbox: %v", a, err)
	}
	if ifr, err = unix.NewIfreq(name); err != nil {
		return err
	}
	ifr.SetInet4Addr([]byte{255, 255, 255, 255})
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFNETMASK, ifr); err != nil {
		return fmt.Errorf("setting %s/32 on loopback inside the sandbox: %v", a, err)
	}
	return nil
}

// openForwards runs in the helper, in the sandbox's network namespace and
// before confinement: loopback up, one listener per entry, all of them
// sent to the parent; the helper keeps none.
func openForwards(fs []forward) error {
	if len(fs) == 0 {
		return nil
	}
	unix.CloseOnExec(forwardFD)
	defer unix.Close(forwardFD)
	if err := loopbackUp(); err != nil {
		return err
	}
	added := map[netip.Addr]bool{}
	for _, f := range fs {
		a := netip.MustParseAddrPort(f.Listen).Addr()
		if a.Is4() && !a.IsLoopback() && !added[a] {
			added[a] = true
			if err := addLoopbackAddr(a, len(added)); err != nil {
				return fmt.Errorf("allow_tcp %s: %v", f.Dest, err)
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
		fd, err := listenTCP(f.Listen)
		if err != nil {
			if f.Optional {
				continue
			}
			return fmt.Errorf("allow_tcp %s: listening on %s inside the sandbox: %v", f.Dest, f.Listen, err)
		}
		fds = append(fds, fd)
		which = append(which, byte(i))
	}
	if len(which) == 0 {
		which = []byte{0}
	}
	if err := unix.Sendmsg(forwardFD, which, unix.UnixRights(fds...), nil, 0); err != nil {
		return fmt.Errorf("allow_tcp: passing the listeners to agentos: %v", err)
	}
	return nil
}

func listenTCP(addr string) (int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return -1, err
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
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

// relay is the parent's side of the allowlist for one run.
type relay struct {
	ctx    context.Context
	cancel context.CancelFunc
	fs     []forward
	sock   *net.UnixConn
	wg     sync.WaitGroup
	mu     sync.Mutex
	lns    []net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	// ready is closed once the listeners arrived (or never will).
	ready chan struct{}
}

// newRelay makes the socketpair: the parent's end as a relay, the
// helper's end as a file to pass as forwardFD.
func newRelay(fs []forward) (*relay, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("allow_tcp: socketpair: %v", err)
	}
	pf := os.NewFile(uintptr(fds[0]), "allow-tcp")
	c, err := net.FileConn(pf)
	pf.Close()
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("allow_tcp: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &relay{ctx: ctx, cancel: cancel, fs: fs, sock: c.(*net.UnixConn), conns: map[net.Conn]struct{}{}, ready: make(chan struct{})}
	return r, os.NewFile(uintptr(fds[1]), "allow-tcp-helper"), nil
}

// start receives the listeners (the helper sends them before it execs the
// command; a connection made before the parent accepts waits in the
// backlog) and accepts on each.
func (r *relay) start() {
	r.wg.Go(func() {
		defer close(r.ready)
		oob := make([]byte, unix.CmsgSpace(4*len(r.fs)))
		which := make([]byte, len(r.fs))
		n, oobn, _, _, err := r.sock.ReadMsgUnix(which, oob)
		r.sock.Close()
		if err != nil || oobn == 0 {
			return
		}
		which = which[:n]
		var fds []int
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if got, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, got...)
				}
			}
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		for i, fd := range fds {
			f := os.NewFile(uintptr(fd), "allow-tcp-listener")
			ln, err := net.FileListener(f)
			f.Close()
			if err != nil || i >= len(which) || int(which[i]) >= len(r.fs) || r.closed {
				if ln != nil {
					ln.Close()
				}
				continue
			}
			r.lns = append(r.lns, ln)
			fw := r.fs[which[i]]
			r.wg.Go(func() { r.accept(ln, fw) })
		}
	})
}

func (r *relay) accept(ln net.Listener, fw forward) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if !r.track(c) {
			c.Close()
			continue
		}
		r.wg.Go(func() {
			defer r.untrack(c)
			out, err := r.dial(fw)
			if err != nil {
				return
			}
			if !r.track(out) {
				out.Close()
				return
			}
			defer r.untrack(out)
			pipe(c, out)
		})
	}
}

// dial connects to the forward's destination from the host network: to
// its targets only, in order, the first that answers.
func (r *relay) dial(fw forward) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(r.ctx, relayDialTimeout)
	defer cancel()
	targets, err := fw.targets(ctx)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	for _, t := range targets {
		var c net.Conn
		if c, err = d.DialContext(ctx, "tcp", t.String()); err == nil {
			return c, nil
		}
	}
	return nil, err
}

// pipe copies both ways, passing half-closes on, until both sides are done.
func pipe(a, b net.Conn) {
	done := make(chan struct{})
	go func() {
		io.Copy(b, a)
		closeWrite(b)
		close(done)
	}()
	io.Copy(a, b)
	closeWrite(a)
	<-done
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.conns) >= 2*maxRelayConns {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

// listeners is how many listeners arrived from the helper.
func (r *relay) listeners() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lns)
}

// close ends the relay when the run ends: listeners, every relayed
// connection and every goroutine are gone when it returns.
func (r *relay) close() {
	r.cancel()
	r.sock.Close()
	r.mu.Lock()
	r.closed = true
	for _, ln := range r.lns {
		ln.Close()
	}
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
