//go:build linux

package sandbox_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentos/agentos/sandbox"
)

// newEchoServer6 is an echo server on [::1] only (skips where the host
// has no IPv6 loopback).
func newEchoServer6(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
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

func hasIPv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func allowTCPBox(t *testing.T) box {
	t.Helper()
	b := newBox(t)
	if m := sandbox.Check().MissingAllowTCP(); len(m) > 0 {
		unavailable(t, "TCP allowlist unavailable here: %v", m)
	}
	return b
}

// TestAllowTCPLocalhost: localhost:PORT means the host's loopback at that
// port, reached inside at localhost, 127.0.0.1 and [::1], whichever of
// 127.0.0.1 and ::1 serves on the host.
func TestAllowTCPLocalhost(t *testing.T) {
	b := allowTCPBox(t)
	v4 := newEchoServer(t)
	entry := fmt.Sprintf("localhost:%d", v4.port())
	for _, dst := range []string{entry, v4.addr(), fmt.Sprintf("[::1]:%d", v4.port()), fmt.Sprintf("LOCALHOST:%d", v4.port())} {
		t.Run("a 127.0.0.1 server at "+dst, func(t *testing.T) {
			if strings.HasPrefix(dst, "[::1]") && !hasIPv6Loopback() {
				t.Skip("no IPv6 loopback here")
			}
			out, res, err := b.allowProbe(t, []string{entry}, "echo", dst)
			if err != nil || res.ExitCode != 0 || !strings.Contains(out, "ESCAPED") {
				t.Fatalf("could not reach %s with allow_tcp %s: %v %+v %q", dst, entry, err, res, out)
			}
			if !v4.accepted() {
				t.Fatal("the host's listener saw no connection")
			}
		})
	}
	t.Run("an ::1 server", func(t *testing.T) {
		v6 := newEchoServer6(t)
		entry := fmt.Sprintf("localhost:%d", v6.port())
		for _, dst := range []string{entry, fmt.Sprintf("127.0.0.1:%d", v6.port())} {
			out, res, err := b.allowProbe(t, []string{entry}, "echo", dst)
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("could not reach the ::1 listener at %s: %v %+v %q", dst, err, res, out)
			}
			if !v6.accepted() {
				t.Fatal("the ::1 listener saw no connection")
			}
		}
	})
	t.Run("with the same port as an address", func(t *testing.T) {
		for _, allow := range [][]string{{v4.addr(), entry}, {entry, v4.addr()}, {fmt.Sprintf("[::1]:%d", v4.port()), entry}} {
			out, res, err := b.allowProbe(t, allow, "echo", entry)
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("allow_tcp %v: %v %+v %q", allow, err, res, out)
			}
		}
	})
	t.Run("another port on loopback", func(t *testing.T) {
		other := newEchoServer(t)
		_, res, err := b.allowProbe(t, []string{entry}, "dial", fmt.Sprintf("localhost:%d", other.port()))
		failedClosed(t, res, err)
		if other.accepted() {
			t.Fatal("a listener on another port accepted a connection from the sandbox")
		}
	})
}

// fakeResolver replaces sandbox.LookupNetIP for one test: names map to
// addresses, anything else does not resolve. It records what was asked.
type fakeResolver struct {
	mu    sync.Mutex
	addrs map[string][]netip.Addr
	asked []string
}

func useResolver(t *testing.T, addrs map[string][]netip.Addr) *fakeResolver {
	r := &fakeResolver{addrs: addrs}
	old := sandbox.LookupNetIP
	sandbox.LookupNetIP = r.lookup
	t.Cleanup(func() { sandbox.LookupNetIP = old })
	return r
}

func (r *fakeResolver) lookup(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, host)
	if a, ok := r.addrs[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *fakeResolver) set(host string, a ...netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addrs[host] = a
}

func (r *fakeResolver) wasAsked(host string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.asked {
		if h == host {
			return true
		}
	}
	return false
}

// selfSigned makes a certificate for name and writes it (PEM) to dir.
func selfSigned(t *testing.T, name, dir string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	p := filepath.Join(dir, "ca.pem")
	must(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, p
}

// TestAllowTCPByName: an entry naming a host is resolved by agentos,
// outside; inside, the command reaches it by that name over TLS (the
// client's SNI and Host are the name: the relay only carries bytes), other
// names do not resolve, and the relay dials only what the name resolves to.
func TestAllowTCPByName(t *testing.T) {
	b := allowTCPBox(t)
	const name = "registry.agentos.test"
	cert, caFile := selfSigned(t, name, b.wt)

	type seen struct{ sni, host string }
	hits := make(chan seen, 16)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits <- seen{r.TLS.ServerName, r.Host}
			fmt.Fprint(w, "registry-ok")
		}),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	entry := fmt.Sprintf("%s:%d", name, port)
	url := fmt.Sprintf("https://%s:%d/", name, port)
	res := useResolver(t, map[string][]netip.Addr{name: {netip.MustParseAddr("127.0.0.1")}})

	t.Run("https by name", func(t *testing.T) {
		out, r, err := b.allowProbe(t, []string{entry}, "https", url, caFile)
		if err != nil || r.ExitCode != 0 || !strings.Contains(out, "body: registry-ok") {
			t.Fatalf("could not reach %s by name: %v %+v %q", url, err, r, out)
		}
		select {
		case h := <-hits:
			if h.sni != name || h.host != fmt.Sprintf("%s:%d", name, port) {
				t.Fatalf("the server saw SNI %q and Host %q, want %q", h.sni, h.host, name)
			}
		case <-time.After(time.Second):
			t.Fatal("the server saw no request")
		}
		if !res.wasAsked(name) {
			t.Fatal("the name was not resolved by agentos")
		}
	})
	t.Run("other names do not resolve inside", func(t *testing.T) {
		for _, other := range []string{"proxy.golang.org", "localhost.agentos.test", "agentos.test"} {
			_, r, err := b.allowProbe(t, []string{entry}, "dns", other)
			failedClosed(t, r, err)
		}
	})
	t.Run("only to the addresses of the name", func(t *testing.T) {
		// The name now resolves to an address where nothing listens: the
		// relay must not fall back to the listener it reached before.
		res.set(name, netip.MustParseAddr("127.0.0.2"))
		_, r, err := b.allowProbe(t, []string{entry}, "https", url, caFile)
		failedClosed(t, r, err)
		select {
		case <-hits:
			t.Fatal("the old address was reached")
		default:
		}
		res.set(name)
		_, r, err = b.allowProbe(t, []string{entry}, "https", url, caFile)
		failedClosed(t, r, err)
	})
}
