// Package httpapi is the HTTP JSON API of `agentos serve`: tasks, plans,
// questions and answers, approvals, ReviewPacks, the audit log, memory
// search, locks and the scheduler's explanations, through the same
// coordinator functions the CLI calls. Every request is made by the holder
// of a bearer token (package tokens) and every write is audited as that
// holder; approving and answering also need the person's own signature
// (sign.go). The API is described by the OpenAPI 3.1 document it serves at
// /openapi.json.
package httpapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/tokens"
)

// Session is what one request works with, opened fresh for it as one CLI
// command opens its own: the policy in force now, the store, the pipeline.
// package cli implements it over its Factory, so a request goes through
// exactly what the matching command does.
type Session interface {
	// Store is the store, for reading.
	Store(ctx context.Context) (agentos.Store, error)
	// WriteStore is the store, for writes outside the pipeline (locks).
	WriteStore(ctx context.Context) (agentos.Store, error)
	// Coordinator is the pipeline for the verbs that change something
	// (with the housekeeping the CLI does first).
	Coordinator(ctx context.Context) (*coordinator.Coordinator, error)
	// CoordinatorReadOnly is the pipeline over the read-only store.
	CoordinatorReadOnly(ctx context.Context) (*coordinator.Coordinator, error)
	// Memory is the memory, for reading.
	Memory(ctx context.Context) (memory.Service, error)
	// AuditVerify is `agentos audit verify --json`: its document, and the
	// error the command would exit with (nil: everything verified).
	AuditVerify(ctx context.Context) (doc any, failed error, err error)
	// SchedulerExplain is `agentos scheduler explain TASK --json`.
	SchedulerExplain(ctx context.Context, task string) (any, error)
	// Close releases what the session opened.
	Close()
}

// Options configure a Server.
type Options struct {
	// Open opens the session of one request.
	Open func(ctx context.Context) (Session, error)
	// Tokens authenticates bearer tokens.
	Tokens *tokens.Service
	// UI, when set, serves every path outside /api/, /openapi.json and
	// Extra (the web page at /). It authenticates its requests itself: the
	// API's security headers, body limit and timeouts still apply.
	UI http.Handler
	// Extra mounts more handlers by path prefix ("/mcp" serves /mcp and
	// /mcp/…), behind the same bearer-token check and rate limit as the
	// API: IdentityFrom(r.Context()) names the caller, whose role the
	// handler checks.
	Extra map[string]http.Handler
	// ErrorLog receives internal errors, whose text clients never see.
	ErrorLog io.Writer
	// MaxBodyBytes bounds a request body (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Rate and Burst limit each token's requests: Rate a second on
	// average, Burst at once (defaults DefaultRate, DefaultBurst).
	Rate  float64
	Burst int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Redact redacts the messages of errors and outcomes, which can quote
	// outside text (a failing check's last line), as the CLI redacts what
	// it prints (default: unchanged).
	Redact func(string) string
}

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 4 << 20
	DefaultRate         = 20
	DefaultBurst        = 40
)

// Server serves the API.
type Server struct {
	opts Options
	mux  *http.ServeMux
	rate *limiter
	// base outlives requests: a run a request started goes on when its
	// client goes away (as a run does when a terminal closes its pipe),
	// and stops when the server does.
	base   context.Context
	cancel context.CancelCauseFunc
	// inflight counts requests being served: Serve returns only once each
	// has ended, so a run a request started ends (cancelled, with its
	// ReviewPack) before the process exits.
	inflight sync.WaitGroup
	tls      bool
	// roles is the least role of each route ("GET /api/v1/tasks").
	roles map[string]tokens.Role
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Open == nil || opts.Tokens == nil {
		return nil, agentos.Errorf(agentos.EINTERNAL, "httpapi: Options.Open and Options.Tokens are required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Rate <= 0 {
		opts.Rate = DefaultRate
	}
	if opts.Burst <= 0 {
		opts.Burst = DefaultBurst
	}
	if opts.ErrorLog == nil {
		opts.ErrorLog = io.Discard
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Redact == nil {
		opts.Redact = func(s string) string { return s }
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), rate: newLimiter(opts.Rate, opts.Burst, opts.Now), roles: map[string]tokens.Role{}}
	s.base, s.cancel = context.WithCancelCause(context.Background())
	s.routes()
	s.mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(openAPI)
	})
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.authenticate(w, r); !ok {
			return
		}
		s.fail(w, agentos.Errorf(agentos.ENOTFOUND, "no endpoint %s %s: see /openapi.json", r.Method, r.URL.Path))
	})
	for prefix, h := range opts.Extra {
		prefix = "/" + strings.Trim(prefix, "/")
		if prefix == "/" || prefix == "/api" || strings.HasPrefix(prefix, "/api/") || prefix == "/openapi.json" {
			return nil, agentos.Errorf(agentos.EINTERNAL, "httpapi: Extra handler %q would shadow the API", prefix)
		}
		guarded := s.guard(h)
		s.mux.Handle(prefix, guarded)
		s.mux.Handle(prefix+"/", guarded)
	}
	if opts.UI != nil {
		s.mux.Handle("/", opts.UI)
	} else {
		s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			s.fail(w, agentos.Errorf(agentos.ENOTFOUND, "no page %s: the API is under /api/v1 (see /openapi.json)", r.URL.Path))
		})
	}
	return s, nil
}

// ServeHTTP applies what every response needs (security headers, the
// body limit) and routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Done()
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if s.tls || r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if isAPI(r.URL.Path) {
		// JSON only: nothing in a response may run or be framed.
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Cache-Control", "no-store")
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	s.mux.ServeHTTP(w, r)
}

func isAPI(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/openapi.json"
}

// Authenticate returns who the request's bearer token names: for a handler
// mounted beside the API that takes tokens too.
func (s *Server) Authenticate(r *http.Request) (Identity, error) {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return Identity{}, agentos.Errorf(agentos.EDENIED, "missing bearer token (send Authorization: Bearer TOKEN, made by `agentos token create`)")
	}
	t, err := s.opts.Tokens.Authenticate(r.Context(), strings.TrimSpace(secret))
	if err != nil {
		return Identity{}, err
	}
	return identityOf(t), nil
}

// authenticate checks the token and the rate limit; on failure it has
// written the response.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (Identity, bool) {
	// A token in a URL ends up in logs, history and Referer headers. (The
	// UI's own single-use links are its business: this is the API's and
	// Extra's rule.)
	q := r.URL.Query()
	for _, k := range []string{"access_token", "token", "bearer", "api_key"} {
		if q.Has(k) {
			s.fail(w, agentos.Errorf(agentos.EINVALID, "a token is never accepted in a URL (query parameter %q): send it in the Authorization: Bearer header, and revoke the token you exposed", k))
			return Identity{}, false
		}
	}
	id, err := s.Authenticate(r)
	if err != nil {
		if agentos.ErrorCode(err) == agentos.EDENIED {
			w.Header().Set("WWW-Authenticate", `Bearer realm="agentos"`)
			s.writeError(w, http.StatusUnauthorized, err)
			return Identity{}, false
		}
		s.fail(w, err)
		return Identity{}, false
	}
	if wait := s.rate.take(id.Token); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		s.writeError(w, http.StatusTooManyRequests, agentos.Errorf(agentos.EDENIED, "too many requests for token %s: at most %g a second (burst %d); retry after %s", id.Token, s.opts.Rate, s.opts.Burst, wait.Round(time.Millisecond)))
		return Identity{}, false
	}
	return id, true
}

// guard puts h behind the token check: IdentityFrom names the caller.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		h.ServeHTTP(w, r.WithContext(ContextWithIdentity(r.Context(), id)))
	})
}

// Error is the body of every error response.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is an error: the agentos error code (as the CLI's --json
// errors carry it) and the one line a person reads.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// StatusOf is the one table from agentos error codes to HTTP statuses.
func StatusOf(code string) int {
	switch code {
	case agentos.EINVALID:
		return http.StatusBadRequest
	case agentos.ENOTFOUND:
		return http.StatusNotFound
	case agentos.EDENIED:
		return http.StatusForbidden
	case agentos.ECONFLICT, agentos.EBLOCKED, agentos.EAWAITINGAPPROVAL, agentos.EHELD, agentos.ECANCELLED, agentos.EDECLINED:
		return http.StatusConflict
	case agentos.EFAILED:
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		s.writeError(w, http.StatusRequestEntityTooLarge, agentos.Errorf(agentos.EINVALID, "request body is larger than %d bytes: send less", mbe.Limit))
		return
	}
	s.writeError(w, StatusOf(agentos.ErrorCode(err)), err)
}

func (s *Server) writeError(w http.ResponseWriter, status int, err error) {
	code, msg := agentos.ErrorCode(err), agentos.ErrorMessage(err)
	if status == http.StatusInternalServerError {
		fmt.Fprintf(s.opts.ErrorLog, "agentos serve: %s\n", s.opts.Redact(err.Error()))
		code, msg = agentos.EINTERNAL, "internal error in agentos serve (see its log)"
	}
	writeJSON(w, status, Error{ErrorBody{Code: code, Message: s.opts.Redact(msg)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// limiter is a token bucket per API token.
type limiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	now    func() time.Time
	bucket map[string]*bucket
}

type bucket struct {
	level float64
	at    time.Time
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, bucket: map[string]*bucket{}}
}

// take spends one request of key's bucket; it returns how long to wait
// when the bucket is empty (0: go ahead).
func (l *limiter) take(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.bucket[key]
	if b == nil {
		b = &bucket{level: l.burst, at: now}
		l.bucket[key] = b
	}
	b.level = min(l.burst, b.level+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.level < 1 {
		return time.Duration((1 - b.level) / l.rate * float64(time.Second))
	}
	b.level--
	return 0
}

// ListenCheck says whether addr may be listened on: a loopback address
// always; any other only with TLS, or with insecure set (the person said
// the network is otherwise protected).
func ListenCheck(addr string, withTLS, insecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return agentos.Errorf(agentos.EINVALID, "--listen %q: use host:port, e.g. 127.0.0.1:8080", addr)
	}
	if isLoopbackHost(host) || withTLS || insecure {
		return nil
	}
	return agentos.Errorf(agentos.EDENIED, "--listen %s is not a loopback address: serve it with TLS (--tls-cert FILE --tls-key FILE), or pass --insecure-listen if something else protects the network (tokens would cross it in clear text)", addr)
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServeOptions are how Serve listens.
type ServeOptions struct {
	// CertFile and KeyFile serve TLS; both or neither.
	CertFile, KeyFile string
}

// Timeouts of the HTTP server: a slow or idle client holds a connection
// only this long. Handlers that run a task lift the write deadline.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 60 * time.Second
	MaxHeaderBytes    = 32 << 10
)

// Serve serves on ln until ctx is done, then shuts down gracefully (runs
// that requests started are cancelled like a worker's on shutdown).
func (s *Server) Serve(ctx context.Context, ln net.Listener, o ServeOptions) error {
	if (o.CertFile == "") != (o.KeyFile == "") {
		return agentos.Errorf(agentos.EINVALID, "--tls-cert and --tls-key go together")
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          nil,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if o.CertFile != "" {
		s.tls = true
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	shutDown := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(shutDown)
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// The signal's cause reaches the runs, which end cancelled "by
		// SIGTERM" as a foreground run does.
		s.cancel(context.Cause(ctx))
		_ = srv.Shutdown(sctx)
	})
	var err error
	if o.CertFile != "" {
		err = srv.ServeTLS(ln, o.CertFile, o.KeyFile)
	} else {
		err = srv.Serve(ln)
	}
	if !stop() {
		// Serve returns as soon as Shutdown starts: wait for it, then for
		// every request still running (a run ending cancelled writes its
		// ReviewPack and releases its locks), so none is cut off by exit.
		<-shutDown
	} else {
		s.cancel(err) // the listener failed: stop what requests started
	}
	s.inflight.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
