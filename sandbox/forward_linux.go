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

	"github.com/agentos/agentos/sandbox/internal/helper"
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

// maxRelayConns bounds the connections one run may have open through its
// allowlist; more are closed at once.
const maxRelayConns = 256

// relayDialTimeout bounds the parent's dial of a destination.
const relayDialTimeout = 30 * time.Second

// helperForwards is fs as the helper opens them: each listening address
// parsed here, so that the helper needs no address parsing of its own.
func helperForwards(fs []forward) []helper.Forward {
	var out []helper.Forward
	for _, f := range fs {
		ap := netip.MustParseAddrPort(f.Listen)
		out = append(out, helper.Forward{Dest: f.Dest, Addr: ap.Addr().AsSlice(), Port: ap.Port(), Optional: f.Optional})
	}
	return out
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
// helper's end as a file to pass as helper.ForwardFD.
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
