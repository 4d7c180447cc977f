//go:build linux

package sandbox_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/sandbox"
)

// echoServer answers "pong" to "ping" and reports every connection it
// accepted on conns.
type echoServer struct {
	ln    net.Listener
	conns chan net.Conn
}

func newEchoServer(t *testing.T) *echoServer { return newEchoServerAt(t, "127.0.0.1") }

func newEchoServerAt(t *testing.T, ip string) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp4", net.JoinHostPort(ip, "0"))
	must(t, err)
	s := &echoServer{ln: ln, conns: make(chan net.Conn, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case s.conns <- c:
			default:
			}
			go func() {
				buf := make([]byte, 4)
				if _, err := io.ReadFull(c, buf); err == nil && string(buf) == "ping" {
					c.Write([]byte("pong"))
				}
			}()
		}
	}()
	return s
}

func (s *echoServer) addr() string { return s.ln.Addr().String() }
func (s *echoServer) port() int    { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *echoServer) accepted() bool {
	select {
	case <-s.conns:
		return true
	case <-time.After(100 * time.Millisecond):
		return false
	}
}

// hostIPv4 is a non-loopback IPv4 address of this machine.
func hostIPv4(t *testing.T) string {
	t.Helper()
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address here")
	return ""
}

// openSockets counts this process's sockets: the relay's listeners,
// connections and socketpair are all sockets.
func openSockets(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	must(t, err)
	n := 0
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

func (b box) allowProbe(t *testing.T, allow []string, args ...string) (string, sandbox.Result, error) {
	s := b.spec(t, append([]string{testExe(t)}, args[1:]...)...)
	s.Env = append(s.Env, probeEnv+"="+args[0])
	s.AllowTCP = allow
	return b.run(t, s)
}

func TestAllowTCP(t *testing.T) {
	b := newBox(t)
	if m := sandbox.Check().MissingAllowTCP(); len(m) > 0 {
		t.Skipf("TCP allowlist unavailable here: %v", m)
	}
	a, other := newEchoServer(t), newEchoServer(t)
	allow := []string{a.addr()}

	t.Run("allowed destination exchanges bytes", func(t *testing.T) {
		out, res, err := b.allowProbe(t, allow, "echo", a.addr())
		if err != nil || res.ExitCode != 0 || !strings.Contains(out, "ESCAPED") {
			t.Fatalf("could not talk to the allowlisted listener: %v %+v %q", err, res, out)
		}
		if !a.accepted() {
			t.Fatal("the allowlisted listener saw no connection")
		}
	})
	t.Run("localhost name of an allowed destination", func(t *testing.T) {
		// localhost is mapped to the entry's own listener in the
		// sandbox's /etc/hosts; the parent resolves it on the host.
		out, res, err := b.allowProbe(t, []string{fmt.Sprintf("localhost:%d", a.port())}, "echo", fmt.Sprintf("localhost:%d", a.port()))
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("could not reach an allowlisted name: %v %+v %q", err, res, out)
		}
	})
	t.Run("a non-loopback address, reached at that address", func(t *testing.T) {
		ip := hostIPv4(t)
		h := newEchoServerAt(t, ip)
		out, res, err := b.allowProbe(t, []string{h.addr()}, "echo", h.addr())
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("could not reach %s: %v %+v %q", h.addr(), err, res, out)
		}
		_, res, err = b.allowProbe(t, []string{h.addr()}, "dial", net.JoinHostPort(ip, "22"))
		failedClosed(t, res, err)
	})
	// Each attempt below must fail closed.
	t.Run("another listener on 127.0.0.1", func(t *testing.T) {
		_, res, err := b.allowProbe(t, allow, "dial", other.addr())
		failedClosed(t, res, err)
		if other.accepted() {
			t.Fatal("the other listener accepted a connection from the sandbox")
		}
	})
	t.Run("the allowed port at another address", func(t *testing.T) {
		_, res, err := b.allowProbe(t, allow, "dial", fmt.Sprintf("127.0.0.2:%d", a.port()))
		failedClosed(t, res, err)
	})
	t.Run("bash /dev/tcp to another listener", func(t *testing.T) {
		_, res, err := b.run(t, func() sandbox.Spec {
			s := b.spec(t, "/bin/sh", "-c", fmt.Sprintf(`exec bash -c 'echo x > /dev/tcp/127.0.0.1/%d'`, other.port()))
			s.AllowTCP = allow
			return s
		}())
		failedClosed(t, res, err)
		if other.accepted() {
			t.Fatal("the other listener accepted a connection from the sandbox")
		}
	})
	t.Run("listen on loopback", func(t *testing.T) {
		for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:0"} {
			_, res, err := b.allowProbe(t, allow, "listen", addr)
			failedClosed(t, res, err)
		}
	})
	t.Run("mptcp bind", func(t *testing.T) {
		_, res, err := b.allowProbe(t, allow, "mptcp", "127.0.0.1:8080")
		failedClosed(t, res, err)
	})
	t.Run("dns", func(t *testing.T) {
		_, res, err := b.allowProbe(t, allow, "dns", "example.com")
		failedClosed(t, res, err)
	})
	t.Run("udp to a resolver", func(t *testing.T) {
		_, res, err := b.allowProbe(t, allow, "udp", "1.1.1.1:53")
		failedClosed(t, res, err)
	})
	t.Run("a name not mapped", func(t *testing.T) {
		_, res, err := b.allowProbe(t, []string{fmt.Sprintf("localhost:%d", a.port())}, "dns", "agentos-unmapped.example")
		failedClosed(t, res, err)
	})
	t.Run("an address outside", func(t *testing.T) {
		_, res, err := b.allowProbe(t, allow, "dial", "1.1.1.1:443")
		failedClosed(t, res, err)
	})
	t.Run("netlink socket", func(t *testing.T) {
		_, res, err := b.allowProbe(t, allow, "netlink")
		failedClosed(t, res, err)
	})
}

// TestAllowTCPEndsWithTheRun: a connection held open until the timeout
// kills the command is closed on the destination's side, and the run
// leaves no listener, connection or descriptor behind.
func TestAllowTCPEndsWithTheRun(t *testing.T) {
	b := newBox(t)
	if m := sandbox.Check().MissingAllowTCP(); len(m) > 0 {
		t.Skipf("TCP allowlist unavailable here: %v", m)
	}
	a := newEchoServer(t)
	allow := []string{a.addr()}
	// A first run, so that lazily opened descriptors (the poller) exist
	// before the baseline.
	b.allowProbe(t, allow, "echo", a.addr())
	<-a.conns
	before := openSockets(t)

	s := b.spec(t, testExe(t), a.addr(), "hold")
	s.Env = append(s.Env, probeEnv+"=echo")
	s.AllowTCP = allow
	s.Timeout = 2 * time.Second
	start := time.Now()
	_, res, _ := b.run(t, s)
	if !res.TimedOut || time.Since(start) > 15*time.Second {
		t.Fatalf("the timeout did not end the run: %+v after %s", res, time.Since(start))
	}
	var held net.Conn
	select {
	case held = <-a.conns:
	case <-time.After(time.Second):
		t.Fatal("the held connection never reached the destination")
	}
	held.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := held.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the relayed connection outlived the run: read = %v, want EOF", err)
	}
	held.Close()
	if after := openSockets(t); after > before {
		t.Fatalf("%d sockets open after the run, %d before: the relay lingers", after, before)
	}
}

func TestAllowTCPRefusesBadEntries(t *testing.T) {
	wt := t.TempDir()
	for _, e := range []string{"127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "host:http", "bad host:80", ":80"} {
		_, err := sandbox.Run(t.Context(), sandbox.Spec{Argv: []string{"/bin/true"}, Worktree: wt, Require: true, AllowTCP: []string{e}})
		if agentos.ErrorCode(err) != agentos.EINVALID {
			t.Errorf("%q: err = %v, want invalid", e, err)
		}
	}
	_, err := sandbox.Run(t.Context(), sandbox.Spec{Argv: []string{"/bin/true"}, Worktree: wt, Require: true,
		AllowTCP: []string{"[2001:db8::1]:80", "[2001:db8::2]:80"}})
	if agentos.ErrorCode(err) != agentos.EINVALID || !strings.Contains(err.Error(), "[::1]:80") {
		t.Errorf("two destinations on one listener: err = %v, want invalid naming [::1]:80", err)
	}
	// localhost is reached inside at [::1] too, so an IPv6 destination on
	// its port would take its place there.
	_, err = sandbox.Run(t.Context(), sandbox.Spec{Argv: []string{"/bin/true"}, Worktree: wt, Require: true,
		AllowTCP: []string{"[2001:db8::1]:80", "localhost:80"}})
	if agentos.ErrorCode(err) != agentos.EINVALID || !strings.Contains(err.Error(), "[::1]:80") {
		t.Errorf("localhost and an IPv6 destination on one port: err = %v, want invalid naming [::1]:80", err)
	}
}

func TestAllowTCPPolicyIsCheckedAtLoad(t *testing.T) {
	ok := "version: 1\nsandbox:\n  allow_tcp: [\"127.0.0.1:8080\", \"api.openai.com:443\", \"[::1]:11434\"]\n"
	c, err := config.Parse([]byte(ok), "agentos.yaml")
	if err != nil || len(c.Sandbox.AllowTCP) != 3 {
		t.Fatalf("valid allow_tcp refused: %v", err)
	}
	for _, e := range []string{"127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "host:http", "bad host:80", ":80"} {
		_, err := config.Parse(fmt.Appendf(nil, "version: 1\nsandbox:\n  allow_tcp: [%q]\n", e), "agentos.yaml")
		if agentos.ErrorCode(err) != agentos.EINVALID || !strings.Contains(err.Error(), "sandbox.allow_tcp") {
			t.Errorf("%q: err = %v, want invalid naming sandbox.allow_tcp", e, err)
		}
	}
}
