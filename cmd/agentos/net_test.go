package main

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
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentos/agentos/sandbox"
	"github.com/rogpeppe/go-internal/testscript"
)

// testResolveEnv maps host names for the relay of an agentos started by a
// script ("name=ip,name=ip"), so that a script can allow a registry by
// name and serve it from a local listener. Only this test binary reads
// it: the real agentos resolves with the system's resolver.
const testResolveEnv = "AGENTOS_TEST_RESOLVE"

// useTestResolver installs the mapping of testResolveEnv, if any, as the
// sandbox's resolver; names it does not list do not resolve.
func useTestResolver() {
	spec := os.Getenv(testResolveEnv)
	if spec == "" {
		return
	}
	m := map[string][]netip.Addr{}
	for kv := range strings.SplitSeq(spec, ",") {
		name, ip, _ := strings.Cut(kv, "=")
		if a, err := netip.ParseAddr(ip); err == nil {
			m[name] = append(m[name], a)
		}
	}
	sandbox.LookupNetIP = func(_ context.Context, _, host string) ([]netip.Addr, error) {
		if a, ok := m[host]; ok {
			return a, nil
		}
		return nil, &net.DNSError{Err: "no such host (" + testResolveEnv + ")", Name: host, IsNotFound: true}
	}
}

// hostServers are the listeners scripts start on the host, by name.
var hostServers sync.Map // name -> *hostServer

type hostServer struct {
	mu   sync.Mutex
	hits []string // "SNI Host" of every request
}

func (s *hostServer) record(r *http.Request) {
	sni := "-"
	if r.TLS != nil {
		sni = r.TLS.ServerName
	}
	s.mu.Lock()
	s.hits = append(s.hits, sni+" "+r.Host)
	s.mu.Unlock()
}

// serve NAME ADDR [TLSNAME] starts an HTTP server on the host at ADDR
// (e.g. 127.0.0.1:0 or [::1]:0) that answers "hello from NAME" and records
// each request; $NAME_PORT is its port. With TLSNAME it serves HTTPS with a
// certificate for that name, written to NAME.pem in the current directory. It stops with the
// script.
func cmdServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: serve NAME ADDR [TLSNAME]")
	}
	name := args[0]
	ln, err := net.Listen("tcp", args[1])
	if err != nil {
		ts.Fatalf("serve: %v", err)
	}
	s := &hostServer{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.record(r)
		fmt.Fprintf(w, "hello from %s\n", name)
	})}
	if len(args) == 3 {
		cert, pemBytes, err := selfSignedFor(args[2])
		if err != nil {
			ts.Fatalf("serve: %v", err)
		}
		ts.Check(os.WriteFile(ts.MkAbs(name+".pem"), pemBytes, 0o644))
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		go srv.ServeTLS(ln, "", "")
	} else {
		go srv.Serve(ln)
	}
	hostServers.Store(name, s)
	ts.Defer(func() { srv.Close() })
	ts.Setenv(name+"_PORT", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}

// served NAME N [PATTERN] checks that the server NAME answered exactly N
// requests, and with PATTERN that each one's "SNI Host" contains it: the
// judgement is made on the host, not from agentos's output.
func cmdServed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: served NAME N [PATTERN]")
	}
	v, ok := hostServers.Load(args[0])
	if !ok {
		ts.Fatalf("served: no server %s", args[0])
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	s := v.(*hostServer)
	s.mu.Lock()
	hits := append([]string(nil), s.hits...)
	s.mu.Unlock()
	if len(hits) != want {
		ts.Fatalf("server %s answered %d requests %q, want %d", args[0], len(hits), hits, want)
	}
	for _, h := range hits {
		if len(args) == 3 && !strings.Contains(h, args[2]) {
			ts.Fatalf("server %s saw %q, want %q in it", args[0], h, args[2])
		}
	}
}

func selfSignedFor(name string) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
