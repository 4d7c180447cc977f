package main

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/agentos/agentos/web/webtest"
	"github.com/rogpeppe/go-internal/testscript"
)

// browser drives the web page of a running `agentos serve` in real headless
// Chromium with a virtual authenticator (package webtest). Scripts guard
// with [!have:chromium] skip, which under CI=true fails instead.
//
//	browser start URL | login TOKEN | logout | register FILE | open PATH |
//	answer TASK ID=VALUE... | approve TASK [COMMENT] | reject TASK REASON |
//	post PATH JSON | waittext SELECTOR TEXT | phone PATH | eval EXPR
//
// login, open, answer, approve and reject print what the page says; post
// prints the status and body of a request sent from the signed-in page.
func cmdBrowser(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: browser start URL | login TOKEN | logout | register FILE | open PATH | answer TASK ID=VALUE... | approve TASK [COMMENT] | reject TASK REASON")
	}
	if args[0] == "start" {
		if len(args) != 2 {
			ts.Fatalf("usage: browser start URL")
		}
		path, err := webtest.Chromium()
		ts.Check(err)
		b, err := webtest.Start(path, args[1], ts.MkAbs("chromium-profile"))
		ts.Check(err)
		browsersMu.Lock()
		browsers[ts] = b
		browsersMu.Unlock()
		ts.Defer(func() {
			browsersMu.Lock()
			delete(browsers, ts)
			browsersMu.Unlock()
			b.Close()
		})
		return
	}
	browsersMu.Lock()
	b := browsers[ts]
	browsersMu.Unlock()
	if b == nil {
		ts.Fatalf("browser: run `browser start URL` first")
	}
	var out string
	var err error
	switch args[0] {
	case "login": // login TOKEN or login @FILE (the token printed by `agentos token create`)
		tok := args[1]
		if f, ok := strings.CutPrefix(tok, "@"); ok {
			tok = strings.TrimSpace(ts.ReadFile(f))
		}
		out, err = b.Login(tok)
	case "phone": // phone PATH: prints "overflow N", the pixels the page is wider than a phone
		var n int
		if n, err = b.Phone(args[1]); err == nil {
			out = fmt.Sprintf("overflow %d", n)
		}
	case "eval":
		out, err = b.Eval(args[1])
	case "waittext": // waittext SELECTOR TEXT: the open page shows TEXT without a reload
		out, err = b.WaitText(args[1], args[2])
	case "post": // post PATH JSON: a request the page's own script would not send
		out, err = b.Post(args[1], args[2])
	case "logout":
		err = b.Logout()
	case "open":
		out, err = b.Open(args[1])
	case "register":
		var line string
		if line, err = b.Register(); err == nil {
			err = os.WriteFile(ts.MkAbs(args[1]), []byte(line+"\n"), 0o644)
		}
	case "answer":
		answers := map[string]string{}
		for _, kv := range args[2:] {
			k, v, _ := strings.Cut(kv, "=")
			answers[k] = v
		}
		out, err = b.Answer(args[1], answers)
	case "approve", "reject":
		out, err = b.Decide(args[1], args[0], strings.Join(args[2:], " "))
	default:
		ts.Fatalf("browser: unknown command %q", args[0])
	}
	ts.Check(err)
	if out != "" {
		fmt.Fprintln(ts.Stdout(), out)
	}
}

var (
	browsersMu sync.Mutex
	browsers   = map[*testscript.TestScript]*webtest.Browser{}
)
