package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
)

func testServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Options{
		Coordinator: func(context.Context) (*coordinator.Coordinator, error) {
			return nil, agentos.Errorf(agentos.EINTERNAL, "no pipeline in this test")
		},
		Authenticate: func(_ context.Context, token string) (Identity, error) {
			if token == "good-token" {
				return Identity{Name: "alice", Actor: agentos.Human("alice"), Role: RoleViewer}, nil
			}
			return Identity{}, agentos.Errorf(agentos.EDENIED, "unknown token")
		},
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func cookie(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// login signs in and returns the session cookie and the page's CSRF token.
func login(t *testing.T, s *Server, overTLS bool) (*http.Cookie, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	nonce := cookie(rec, loginCookie)
	if nonce == nil || !nonce.HttpOnly || nonce.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login form cookie = %+v, want HttpOnly SameSite=Strict", nonce)
	}
	form := url.Values{"csrf": {nonce.Value}, "token": {"good-token"}}
	req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(nonce)
	if overTLS {
		req.TLS = &tls.ConnectionState{}
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	sess := cookie(rec, sessionCookie)
	if rec.Code != http.StatusSeeOther || sess == nil {
		t.Fatalf("POST /login = %d %s, want a redirect with a session", rec.Code, rec.Body)
	}
	if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Secure != overTLS {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Strict, Secure=%v", sess, overTLS)
	}
	v, _ := s.sessions.Load(sess.Value)
	return sess, v.(*session).csrf
}

func TestSessionCookie(t *testing.T) {
	s := testServer(t)
	login(t, s, false)
	login(t, s, true)
	// A wrong token makes no session, and the token never lands in a URL.
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	nonce := cookie(rec, loginCookie)
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"csrf": {nonce.Value}, "token": {"bad"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(nonce)
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || cookie(rec, sessionCookie) != nil || rec.Header().Get("Location") != "" {
		t.Fatalf("bad token: %d, cookies %v, location %q", rec.Code, rec.Result().Cookies(), rec.Header().Get("Location"))
	}
}

// TestCSRF: a POST with the session cookie but without the page's CSRF
// token, or from another origin, changes nothing (the session survives).
func TestCSRF(t *testing.T) {
	s := testServer(t)
	sess, csrf := login(t, s, false)
	post := func(form url.Values, origin string) int {
		req := httptest.NewRequest("POST", "http://example.com/logout", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.AddCookie(sess)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		origin string
	}{
		{"no token", url.Values{}, ""},
		{"wrong token", url.Values{"csrf": {"x" + csrf}}, ""},
		{"another site", url.Values{"csrf": {csrf}}, "https://evil.example"},
	} {
		if code := post(tc.form, tc.origin); code != http.StatusForbidden {
			t.Errorf("%s: POST /logout = %d, want 403", tc.name, code)
		}
		if _, ok := s.sessions.Load(sess.Value); !ok {
			t.Fatalf("%s: the session was ended", tc.name)
		}
	}
	if code := post(url.Values{"csrf": {csrf}}, "http://example.com"); code != http.StatusSeeOther {
		t.Fatalf("POST /logout with the token = %d, want 303", code)
	}
	if _, ok := s.sessions.Load(sess.Value); ok {
		t.Fatal("logout left the session")
	}
}

// TestCSP: every page forbids inline script and style, and no template or
// asset relies on them.
func TestCSP(t *testing.T) {
	s := testServer(t)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Fatalf("CSP = %q", csp)
	}
	inline := regexp.MustCompile(`(?i)<script(?:[^>]*)>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:|https?://`)
	fs.WalkDir(templateFS, ".", func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			return nil
		}
		b, _ := fs.ReadFile(templateFS, p)
		if m := inline.Find(b); m != nil {
			t.Errorf("%s: %q needs inline code or a remote resource, which the CSP forbids", p, m)
		}
		return nil
	})
}

// TestEscaped: text from a plan or a model is data on the page.
func TestEscaped(t *testing.T) {
	s := testServer(t)
	evil := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	data := map[string]any{
		"Task": &agentos.Task{ID: "t1", State: agentos.StateAwaitingApproval}, "Goal": evil, "Reason": evil, "Request": evil,
		"Plan": map[string]any{"Hash": "sha256:1", "Base": "b", "Policy": "p", "Memory": "m", "Checks": []string{evil}, "Steps": []stepView{stepOf(1, agentos.Step{Kind: agentos.StepPatch, Paths: []string{evil},
			Rationale: evil, Diff: "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-" + evil + "\n+" + evil + "\n"}, func(s string) string { return s })}},
		"Gates": []gateView{{RuleID: evil, Reason: evil}},
	}
	for _, view := range []string{"", "split"} {
		data["View"] = view
		rec := httptest.NewRecorder()
		s.renderPage(rec, "task", 200, page{Title: evil, Who: &Identity{Name: "alice"}, CSRF: "c", Data: data})
		body := rec.Body.String()
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") || !strings.Contains(body, "&lt;script&gt;alert(1)") {
			t.Fatalf("view %q: unescaped text on the page:\n%s", view, body)
		}
	}
}

func TestParseDiff(t *testing.T) {
	d := parseDiff("diff --git a/f.txt b/f.txt\n--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n")
	if len(d.Files) != 1 || d.Files[0].Name != "f.txt" {
		t.Fatalf("files = %+v", d.Files)
	}
	var got bytes.Buffer
	for _, r := range d.Files[0].Rows {
		got.WriteString(r.Hunk + "|" + r.OldN + ":" + r.Old + "|" + r.NewN + ":" + r.New + "\n")
	}
	want := "@@ -1,3 +1,3 @@|:|:\n|1:one|1:one\n|2:two|2:TWO\n|3:three|3:three\n"
	if got.String() != want {
		t.Fatalf("side by side rows:\n%s\nwant:\n%s", got.String(), want)
	}
}
