package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/rogpeppe/go-internal/testscript"
)

// The web page is tested in real headless Chromium (Debian's chromium),
// driven over the DevTools protocol by chromedp, with Chromium's virtual
// authenticator standing in for a person's passkey (a CTAP2 platform
// authenticator that verifies the user). Scripts guard with
// [!have:chromium] skip, which under CI=true is a failure, never a skip.

type browserSession struct {
	ctx    context.Context
	cancel func()
	base   string
}

var (
	browsersMu sync.Mutex
	browsers   = map[*testscript.TestScript]*browserSession{}
)

func browserOf(ts *testscript.TestScript) *browserSession {
	browsersMu.Lock()
	defer browsersMu.Unlock()
	b := browsers[ts]
	if b == nil {
		ts.Fatalf("browser: run `browser start URL` first")
	}
	return b
}

// do runs void actions, bounded so that a page that never reacts fails the
// script with a message (and what the page showed) instead of hanging it.
func (b *browserSession) do(ts *testscript.TestScript, what string, actions ...chromedp.Action[chromedp.Void]) {
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fatal(ts, what, err)
	}
}

func (b *browserSession) fatal(ts *testscript.TestScript, what string, err error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	ts.Fatalf("browser %s: %v (at %s: %s)", what, err, loc, body)
}

// value runs an action that returns a string, bounded like do.
func (b *browserSession) value(ts *testscript.TestScript, what string, a chromedp.Action[string]) string {
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fatal(ts, what, err)
	}
	return v
}

// browser start URL | login TOKEN | logout | register FILE | open PATH |
// answer TASK ID=VALUE... | approve TASK [COMMENT] | reject TASK REASON |
// text SELECTOR
//
// Every command that ends in a page message prints it to stdout.
func cmdBrowser(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: browser start URL | login TOKEN | logout | register FILE | open PATH | answer TASK ID=VALUE... | approve TASK [COMMENT] | reject TASK REASON | text SELECTOR")
	}
	if args[0] == "start" {
		browserStart(ts, args[1:])
		return
	}
	b := browserOf(ts)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	switch args[0] {
	case "login":
		b.do(ts, "login",
			chromedp.Navigate(b.base+"/login"),
			chromedp.SendKeys(css("#token"), args[1]),
			chromedp.Submit(css("#token")),
			chromedp.WaitVisible(css("nav")),
		)
		fmt.Fprintln(ts.Stdout(), b.value(ts, "login", chromedp.Text(css("main h1"))))
	case "logout":
		b.do(ts, "logout", chromedp.Navigate(b.base+"/"), chromedp.Click(css(".who button")), chromedp.WaitVisible(css("#token")))
	case "open":
		b.do(ts, "open", chromedp.Navigate(b.base+args[1]))
		fmt.Fprintln(ts.Stdout(), b.value(ts, "open", chromedp.Text(css("main"))))
	case "text":
		fmt.Fprintln(ts.Stdout(), b.value(ts, "text", chromedp.Text(css(args[1]))))
	case "register":
		b.do(ts, "register", chromedp.Navigate(b.base+"/passkeys"), chromedp.Click(css("#register")))
		line := b.value(ts, "register", chromedp.Poll[string](`document.getElementById("policy-line").value || (document.querySelector("#register-form .result.error") || {}).textContent || ""`, chromedp.WithPollingTimeout(30*time.Second)))
		if !strings.HasPrefix(line, "  - ") {
			ts.Fatalf("browser register: %s", line)
		}
		ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(strings.TrimPrefix(line, "  - ")+"\n"), 0o644))
	case "answer":
		actions := []chromedp.Action[chromedp.Void]{chromedp.Navigate(b.base + "/tasks/" + args[1]), chromedp.WaitVisible(css("#answer-form"))}
		for _, kv := range args[2:] {
			id, v, _ := strings.Cut(kv, "=")
			actions = append(actions, chromedp.SetValue(css("#q-"+id), v))
		}
		actions = append(actions, chromedp.Click(css("#answer-form button[type=submit]")))
		b.decide(ts, "#answer-form", actions)
	case "approve", "reject":
		actions := []chromedp.Action[chromedp.Void]{chromedp.Navigate(b.base + "/tasks/" + args[1]), chromedp.WaitVisible(css("#decide-form"))}
		if len(args) > 2 {
			actions = append(actions, chromedp.SendKeys(css("#comment"), strings.Join(args[2:], " ")))
		}
		actions = append(actions, chromedp.Click(css("#"+args[0])))
		b.decide(ts, "#decide-form", actions)
	default:
		ts.Fatalf("browser: unknown command %q", args[0])
	}
}

// decide runs a signing form's actions and prints the message it ends
// with: "ok: …" or "refused: …" (the server's one line).
func (b *browserSession) decide(ts *testscript.TestScript, form string, actions []chromedp.Action[chromedp.Void]) {
	b.do(ts, "decide", actions...)
	final := `(() => { const e = document.querySelector("` + form + ` .result"); const t = e ? e.textContent : "";
	  return (t && !t.startsWith("Preparing") && !t.startsWith("Touch")) ? (e.classList.contains("error") ? "refused: " : "ok: ") + t : ""; })()`
	fmt.Fprintln(ts.Stdout(), b.value(ts, "decide", chromedp.Poll[string](final, chromedp.WithPollingTimeout(45*time.Second))))
}

func browserStart(ts *testscript.TestScript, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: browser start URL")
	}
	path, err := exec.LookPath("chromium")
	if err != nil {
		ts.Fatalf("browser: chromium is not installed (guard the script with [!have:chromium] skip): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the test may run as root, where Chromium's own sandbox refuses to start
		chromedp.UserDataDir(ts.MkAbs("chromium-profile")),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browserSession{ctx: ctx, cancel: func() { cancel(); acancel() }, base: strings.TrimSuffix(args[0], "/")}
	// The first Run starts the browser: no timeout on it (see chromedp.Run).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.cancel()
		ts.Fatalf("browser: chromium does not start: %v", err)
	}
	// Wait for the server (started in the background just before).
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		err := chromedp.Do(cctx, chromedp.Navigate(b.base+"/login"), chromedp.WaitVisible(chromedp.CSS("#token")))
		ccancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.cancel()
			ts.Fatalf("browser: %s/login never answered: %v", b.base, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.cancel()
		ts.Fatalf("browser: WebAuthn domain: %v", err)
	}
	if _, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
		Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
		IsUserVerified: true, AutomaticPresenceSimulation: true,
	}}); err != nil {
		b.cancel()
		ts.Fatalf("browser: virtual authenticator: %v", err)
	}
	browsersMu.Lock()
	browsers[ts] = b
	browsersMu.Unlock()
	ts.Defer(func() {
		browsersMu.Lock()
		delete(browsers, ts)
		browsersMu.Unlock()
		b.cancel()
	})
}
