package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// freeport NAME sets $NAME to a TCP port free on 127.0.0.1 right now.
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport NAME")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ts.Fatalf("freeport: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ts.Setenv(args[0], strconv.Itoa(port))
}

// httpcall METHOD URL TOKEN [BODY] sends a JSON request as a client that
// is not agentos (so it can claim anything) and prints "STATUS BODY" to
// stdout. It waits for the server to listen (a background `agentos memory
// serve` just started), up to 200 tries.
func cmdHTTPCall(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: httpcall METHOD URL TOKEN [BODY]")
	}
	body := ""
	if len(args) == 4 {
		body = args[3]
	}
	var resp *http.Response
	for try := 0; ; try++ {
		req, err := http.NewRequest(args[0], args[1], strings.NewReader(body))
		ts.Check(err)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if args[2] != "-" {
			req.Header.Set("Authorization", "Bearer "+args[2])
		}
		resp, err = http.DefaultClient.Do(req)
		if err == nil {
			break
		}
		if try == 200 {
			ts.Fatalf("httpcall: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%d %s\n", resp.StatusCode, b)
}
