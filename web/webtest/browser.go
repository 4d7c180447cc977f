// Package webtest drives the web page in real headless Chromium over the
// DevTools protocol (chromedp), with Chromium's virtual authenticator
// standing in for a person's passkey: a CTAP2 platform authenticator that
// verifies its user. Tests use it; the agentos binary does not import it.
package webtest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Chromium returns the path of Debian's chromium. A test that needs it
// skips without it, except under CI=true, where it must fail (the
// testscripts' [have:chromium] condition does this).
func Chromium() (string, error) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		return "", fmt.Errorf("chromium is not installed (Debian: apt-get install chromium): %v", err)
	}
	return path, nil
}

// Browser is one headless Chromium tab with a virtual authenticator.
type Browser struct {
	ctx    context.Context
	cancel func()
	Base   string
	// Timeout bounds each action (default 60s).
	Timeout time.Duration
}

// Start launches chromium (profile in dataDir), waits until base/login
// answers, and adds the virtual authenticator.
func Start(chromium, base, dataDir string) (*Browser, error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // tests may run as root, where Chromium's own sandbox refuses to start
		chromedp.UserDataDir(dataDir),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{ctx: ctx, cancel: func() { cancel(); acancel() }, Base: strings.TrimSuffix(base, "/"), Timeout: 60 * time.Second}
	// The first Do starts the browser: no timeout on it (see chromedp.Run).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.Close()
		return nil, fmt.Errorf("chromium does not start: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		err := chromedp.Do(cctx, chromedp.Navigate(b.Base+"/login"), chromedp.WaitVisible(chromedp.CSS("#token")))
		ccancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Close()
			return nil, fmt.Errorf("%s/login never answered: %v", b.Base, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.Close()
		return nil, fmt.Errorf("WebAuthn domain: %v", err)
	}
	if _, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
		Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
		IsUserVerified: true, AutomaticPresenceSimulation: true,
	}}); err != nil {
		b.Close()
		return nil, fmt.Errorf("virtual authenticator: %v", err)
	}
	return b, nil
}

// Close ends the browser.
func (b *Browser) Close() { b.cancel() }

func (b *Browser) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return fmt.Errorf("browser %s: %v (at %s: %q)", what, err, loc, body)
}

func (b *Browser) do(what string, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	return b.wrap(what, chromedp.Do(ctx, actions...))
}

func (b *Browser) value(what string, a chromedp.Action[string]) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	return v, b.wrap(what, err)
}

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

// Login signs in with token and returns the first page's heading.
func (b *Browser) Login(token string) (string, error) {
	if err := b.do("login", chromedp.Navigate(b.Base+"/login"), chromedp.SendKeys(css("#token"), token),
		chromedp.Submit(css("#token")), chromedp.WaitVisible(css("header .who"))); err != nil {
		return "", err
	}
	return b.value("login", chromedp.Text(css("main h1")))
}

// Logout signs out.
func (b *Browser) Logout() error {
	return b.do("logout", chromedp.Navigate(b.Base+"/"), chromedp.Click(css(".who button")), chromedp.WaitVisible(css("#token")))
}

// Open navigates to path and returns the main region's text.
func (b *Browser) Open(path string) (string, error) {
	if err := b.do("open "+path, chromedp.Navigate(b.Base+path), chromedp.WaitVisible(css("main"))); err != nil {
		return "", err
	}
	return b.value("open "+path, chromedp.Text(css("main")))
}

// Eval evaluates a JavaScript expression returning a string.
func (b *Browser) Eval(expr string) (string, error) {
	return b.value("eval", chromedp.Evaluate[string](expr))
}

// Register creates a passkey on /passkeys and returns the signers: line the
// page shows ("NAME webauthn ORIGIN ID KEY comment").
func (b *Browser) Register() (string, error) {
	if err := b.do("register", chromedp.Navigate(b.Base+"/passkeys"), chromedp.Click(css("#register"))); err != nil {
		return "", err
	}
	line, err := b.value("register", chromedp.Poll[string](`document.getElementById("policy-line").value || (document.querySelector("#register-form .result.error") || {}).textContent || ""`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(line, "  - ") {
		return "", errors.New("browser register: " + line)
	}
	return strings.TrimPrefix(line, "  - "), nil
}

// Answer fills the task's question form (text inputs by question id) by
// keyboard and signs it with the passkey; it returns "ok: MESSAGE" or "refused: MESSAGE".
func (b *Browser) Answer(task string, answers map[string]string) (string, error) {
	actions := []chromedp.Action[chromedp.Void]{chromedp.Navigate(b.Base + "/tasks/" + task), chromedp.WaitVisible(css("#answer-form"))}
	// By keyboard, as a person without a mouse would: type each answer,
	// then Enter in the last field submits the form.
	last := ""
	for id, v := range answers {
		actions = append(actions, chromedp.Clear(css("#q-"+id)), chromedp.Focus(css("#q-"+id)), chromedp.KeyEvent(v))
		last = id
	}
	if last == "" {
		actions = append(actions, chromedp.Click(css("#answer-form button[type=submit]")))
	} else {
		actions = append(actions, chromedp.Focus(css("#q-"+last)), chromedp.KeyEvent("\r"))
	}
	return b.sign("#answer-form", actions)
}

// Decide presses approve or reject on the task page after typing comment,
// and returns "ok: MESSAGE" or "refused: MESSAGE".
func (b *Browser) Decide(task, decision, comment string) (string, error) {
	actions := []chromedp.Action[chromedp.Void]{chromedp.Navigate(b.Base + "/tasks/" + task), chromedp.WaitVisible(css("#decide-form"))}
	if comment != "" {
		actions = append(actions, chromedp.SendKeys(css("#comment"), comment))
	}
	actions = append(actions, chromedp.Click(css("#"+decision)))
	return b.sign("#decide-form", actions)
}

func (b *Browser) sign(form string, actions []chromedp.Action[chromedp.Void]) (string, error) {
	if err := b.do("sign", actions...); err != nil {
		return "", err
	}
	final := `(() => { const e = document.querySelector("` + form + ` .result"); const t = e ? e.textContent : "";
	  return (t && !t.startsWith("Preparing") && !t.startsWith("Touch")) ? (e.classList.contains("error") ? "refused: " : "ok: ") + t : ""; })()`
	return b.value("sign", chromedp.Poll[string](final, chromedp.WithPollingTimeout(45*time.Second)))
}

// Post sends body (JSON) to path from the signed-in page, with its CSRF
// token, as a script on the page could, and returns "STATUS BODY".
func (b *Browser) Post(path, body string) (string, error) {
	expr := `fetch(` + strconvQuote(b.Base+path) + `, {method: "POST", credentials: "same-origin",
	  headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": document.querySelector('meta[name="csrf"]').content},
	  body: ` + strconvQuote(body) + `}).then(async r => r.status + " " + await r.text())`
	return b.value("post", chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
}

func strconvQuote(s string) string { return strconv.Quote(s) }

// WaitText waits, without reloading, until the element sel's text holds
// text (live updates) and returns that text.
func (b *Browser) WaitText(sel, text string) (string, error) {
	expr := `(() => { const e = document.querySelector(` + strconvQuote(sel) + `); return e && e.innerText.includes(` + strconvQuote(text) + `) ? e.innerText : ""; })()`
	return b.value("wait for "+text, chromedp.Poll[string](expr, chromedp.WithPollingTimeout(30*time.Second)))
}

// Phone opens path in a phone-sized viewport (390×844) and returns how
// many pixels the page is wider than the screen (0: nothing to scroll
// sideways; wide diffs scroll inside their own box).
func (b *Browser) Phone(path string) (int, error) {
	if err := b.do("phone "+path, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3)),
		chromedp.Navigate(b.Base+path), chromedp.WaitVisible(css("main"))); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	over, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Math.max(0, document.documentElement.scrollWidth - window.innerWidth)`))
	if err != nil {
		return 0, b.wrap("phone", err)
	}
	return over, b.do("phone", chromedp.ResetViewport())
}
