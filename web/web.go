// Package web is AgentOS's review page: server-rendered HTML (html/template)
// and one small script, all embedded in the binary, served by `agentos
// serve` beside the JSON API. It shows the queue, a task's plan with its
// diffs, gates, MemoryPack, questions and approvals, the ReviewPack, the
// audit timeline and memory search, and lets a person answer and approve
// with a WebAuthn passkey listed in the committed policy.
//
// The page adds transport, never rules: reading goes through the store the
// pipeline writes, and every decision goes through the coordinator's own
// Answer, Approve and Reject with a signed statement that admission
// verifies again (package signers). A session (a token pasted once) says
// who is asking and which role their token holds; only the passkey's
// signature says who decides, so a token alone never approves or answers.
package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/memory"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Role is what a token allows, as the API's tokens name them.
type Role string

const (
	RoleViewer    Role = "viewer"
	RoleSubmitter Role = "submitter"
	RoleAnswerer  Role = "answerer"
	RoleApprover  Role = "approver"
	RoleAdmin     Role = "admin"
)

// may reports whether role r allows what need names. Roles are ordered
// viewer < submitter < answerer < approver < admin, as the API orders them.
func (r Role) may(need Role) bool {
	rank := map[Role]int{RoleViewer: 1, RoleSubmitter: 2, RoleAnswerer: 3, RoleApprover: 4, RoleAdmin: 5}
	return rank[r] >= rank[need] && rank[need] > 0
}

// Identity is who holds a token: a person's (or service's) name, the actor
// its requests act as, and the token's role.
type Identity struct {
	Name  string
	Actor agentos.Actor
	Role  Role
}

// Options are what the page needs from the server that mounts it.
type Options struct {
	// Coordinator returns the pipeline with the policy in force now (the
	// committed policy: a passkey just committed counts on the next call).
	Coordinator func(ctx context.Context) (*coordinator.Coordinator, error)
	// Reader is Coordinator for pages that only read (nil: Coordinator);
	// it may open the store read-only and skip housekeeping.
	Reader func(ctx context.Context) (*coordinator.Coordinator, error)
	// Audit returns the audit log live updates watch (nil: Reader's
	// store); asked once a second while pages listen, so it should be cheap.
	Audit func(ctx context.Context) (agentos.AuditStore, error)
	// Memory returns the memory service agentos.yaml selects (nil: no
	// memory search).
	Memory func(ctx context.Context) (memory.Service, error)
	// Authenticate resolves a bearer token to its holder; it is asked on
	// every request, so a revoked or expired token ends its sessions.
	Authenticate func(ctx context.Context, token string) (Identity, error)
	// VerifyAudit runs `agentos audit verify` (chain, payloads, the
	// evidence outside the store, commit trailers): its JSON document and
	// what failed (nil: all verified). Nil: the page checks the chain only.
	VerifyAudit func(ctx context.Context) (doc any, failed error, err error)
	// Redact redacts error and outcome messages, which can quote outside
	// text such as a failing check's output (default: unchanged). Page
	// content passes the redactor of the policy each request loads.
	Redact func(string) string
	// Prefix is where the page is mounted ("" for the root).
	Prefix string
	// Logf receives server-side errors (nil: log.Printf).
	Logf func(format string, args ...any)
	// Poll is how often live updates look for new audit events (default 1s).
	Poll time.Duration
	// Stop, when it ends, stops the runs that decisions made on the page
	// started (they outlive the browser, not the server): each ends
	// cancelled with Stop's cause, as a run stopped by a signal does.
	// Nil: they are never stopped.
	Stop context.Context
}

// Server is the web page's http.Handler.
type Server struct {
	opt      Options
	tmpl     map[string]*template.Template
	mux      *http.ServeMux
	sessions sync.Map // session id -> *session
	pending  sync.Map // challenge id -> *pending
	hub      *hub
	pages    pageCache
}

type session struct {
	token   string // kept in memory only, to re-authenticate every request
	csrf    string
	expires time.Time
}

const (
	sessionCookie = "agentos_session"
	loginCookie   = "agentos_login"
	sessionTTL    = 12 * time.Hour
	maxForm       = 64 << 10
)

// New returns the page. Close it to stop live updates.
func New(opt Options) (*Server, error) {
	if opt.Coordinator == nil || opt.Authenticate == nil {
		return nil, errors.New("web: Coordinator and Authenticate are required")
	}
	if opt.Logf == nil {
		opt.Logf = log.Printf
	}
	if opt.Redact == nil {
		opt.Redact = func(s string) string { return s }
	}
	if opt.Reader == nil {
		opt.Reader = opt.Coordinator
	}
	if opt.Audit == nil {
		opt.Audit = func(ctx context.Context) (agentos.AuditStore, error) {
			c, err := opt.Reader(ctx)
			if err != nil {
				return nil, err
			}
			return c.DB, nil
		}
	}
	if opt.Poll <= 0 {
		opt.Poll = time.Second
	}
	s := &Server{opt: opt, mux: http.NewServeMux()}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.hub = newHub(s.chainChanges, opt.Poll)
	s.routes()
	return s, nil
}

// Close stops the live-update poller and ends every event stream.
func (s *Server) Close() { s.hub.close() }

func (s *Server) routes() {
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheForever(http.FileServerFS(static))))
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.authed(RoleViewer, s.logout))
	s.mux.HandleFunc("GET /{$}", s.authed(RoleViewer, s.queuePage))
	s.mux.HandleFunc("GET /events", s.authed(RoleViewer, s.events))
	s.mux.HandleFunc("GET /tasks/{id}", s.authed(RoleViewer, s.taskPage))
	s.mux.HandleFunc("GET /tasks/{id}/review", s.authed(RoleViewer, s.reviewPage))
	s.mux.HandleFunc("GET /audit", s.authed(RoleViewer, s.auditPage))
	s.mux.HandleFunc("GET /memory", s.authed(RoleViewer, s.memoryPage))
	s.mux.HandleFunc("GET /passkeys", s.authed(RoleViewer, s.passkeyPage))
	s.mux.HandleFunc("POST /passkeys/begin", s.authed(RoleViewer, s.registerBegin))
	s.mux.HandleFunc("POST /passkeys/finish", s.authed(RoleViewer, s.registerFinish))
	s.mux.HandleFunc("POST /tasks/{id}/sign/begin", s.authed(RoleAnswerer, s.signBegin))
	s.mux.HandleFunc("POST /tasks/{id}/sign/finish", s.authed(RoleAnswerer, s.signFinish))
}

// ServeHTTP sets the security headers every response carries and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No inline script or style anywhere: the CSP allows only our own files.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer a browser sends
	// "Origin: null" with a form's POST, and the Origin check needs the
	// page's own origin. Other sites still get no Referer.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if s.opt.Prefix != "" {
		http.StripPrefix(s.opt.Prefix, s.mux).ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func cacheForever(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

func randomID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// secure reports whether r came over TLS (cookies are then Secure).
func secure(r *http.Request) bool { return r.TLS != nil }

func (s *Server) path(p string) string { return s.opt.Prefix + p }

// request is an authenticated request: who asks, and their session.
type request struct {
	*http.Request
	who  Identity
	sess *session
	sid  string
}

// authed checks the session cookie, re-authenticates its token, requires
// role need, and on POST checks the CSRF token and the Origin.
func (s *Server) authed(need Role, h func(http.ResponseWriter, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		var sess *session
		if err == nil {
			if v, ok := s.sessions.Load(c.Value); ok {
				sess = v.(*session)
			}
		}
		if sess == nil || time.Now().After(sess.expires) {
			if sess != nil {
				s.sessions.Delete(c.Value)
			}
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "text/event-stream" {
				http.Redirect(w, r, s.path("/login"), http.StatusSeeOther)
				return
			}
			s.fail(w, r, agentos.Errorf(agentos.EDENIED, "not signed in: open %s and paste your token", s.path("/login")))
			return
		}
		who, err := s.opt.Authenticate(r.Context(), sess.token)
		if err != nil {
			s.sessions.Delete(c.Value)
			s.fail(w, r, agentos.WrapError(agentos.EDENIED, err, "your token no longer signs you in (%s): sign in again", agentos.ErrorMessage(err)))
			return
		}
		if r.Method == http.MethodPost {
			if err := checkOrigin(r); err != nil {
				s.fail(w, r, err)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				got = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
				s.fail(w, r, agentos.Errorf(agentos.EDENIED, "the form's CSRF token does not match your session: reload the page"))
				return
			}
		}
		if !who.Role.may(need) {
			s.fail(w, r, agentos.Errorf(agentos.EDENIED, "%s's token has the role %s; this needs %s", who.Name, who.Role, need))
			return
		}
		h(w, &request{Request: r, who: who, sess: sess, sid: c.Value})
	}
}

// checkOrigin refuses a POST whose Origin header names another site (a
// second line behind SameSite=Strict cookies and the CSRF token).
func checkOrigin(r *http.Request) error {
	o := r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	want := "http://" + r.Host
	if secure(r) {
		want = "https://" + r.Host
	}
	if !strings.EqualFold(o, want) {
		return agentos.Errorf(agentos.EDENIED, "a form from %s may not post here (%s)", o, want)
	}
	return nil
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	nonce := randomID()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: nonce, Path: s.path("/login"), HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode, MaxAge: 600})
	s.render(w, r, "login", http.StatusOK, map[string]any{"CSRF": nonce, "Error": r.URL.Query().Get("error")})
}

// login exchanges a pasted token for a session: the token never travels
// again, and never in a URL.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	c, err := r.Cookie(loginCookie)
	if err := checkOrigin(r); err != nil {
		s.fail(w, r, err)
		return
	}
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		s.fail(w, r, agentos.Errorf(agentos.EDENIED, "the sign-in form expired: reload it"))
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	who, err := s.opt.Authenticate(r.Context(), token)
	if err != nil || token == "" {
		w.Header().Set("Cache-Control", "no-store")
		s.render(w, r, "login", http.StatusUnauthorized, map[string]any{"CSRF": c.Value, "Error": "That token does not sign you in."})
		return
	}
	id := randomID()
	s.sweep()
	s.sessions.Store(id, &session{token: token, csrf: randomID(), expires: time.Now().Add(sessionTTL)})
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: s.path("/"), HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL.Seconds())})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: s.path("/login"), MaxAge: -1})
	_ = who
	http.Redirect(w, r, s.path("/"), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *request) {
	s.sessions.Delete(r.sid)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: s.path("/"), MaxAge: -1, HttpOnly: true, Secure: secure(r.Request), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r.Request, s.path("/login"), http.StatusSeeOther)
}

// statusOf maps an error code to an HTTP status (the API's table).
func statusOf(err error) int {
	switch agentos.ErrorCode(err) {
	case agentos.EINVALID:
		return http.StatusBadRequest
	case agentos.ENOTFOUND:
		return http.StatusNotFound
	case agentos.EDENIED:
		return http.StatusForbidden
	case agentos.ECONFLICT:
		return http.StatusConflict
	case agentos.EBLOCKED, agentos.EAWAITINGAPPROVAL, agentos.EHELD:
		return http.StatusAccepted
	}
	return http.StatusInternalServerError
}

// fail answers with the error's one line: JSON for the script, a page
// otherwise. Internal errors are logged, and their text is not shown.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	msg := s.opt.Redact(agentos.ErrorMessage(err))
	if r.Context().Err() != nil {
		return // the client went away (its session's store closed with it)
	}
	if agentos.ErrorCode(err) == agentos.EINTERNAL {
		s.opt.Logf("web: %s %s: %s", r.Method, r.URL.Path, s.opt.Redact(err.Error()))
		msg = "internal error (see the server's log)"
	}
	if wantsJSON(r) {
		writeJSON(w, code, map[string]string{"code": string(agentos.ErrorCode(err)), "error": msg})
		return
	}
	s.render(w, r, "error", code, map[string]any{"Code": agentos.ErrorCode(err), "Message": msg})
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json") || strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}

// digest shortens a hash for display.
func digest(s string) string {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func sum(b []byte) string { h := sha256.Sum256(b); return base64.RawURLEncoding.EncodeToString(h[:]) }
