package memory

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentos/agentos/internal/jsonbody"

	"github.com/agentos/agentos"
)

// DefaultMaxBodyBytes bounds a request body: an item's text is at most
// MaxTextBytes, so 1 MiB leaves room for a long task text and nothing more.
const DefaultMaxBodyBytes = 1 << 20

// ServerClient is one client of the memory service: whoever holds Token
// acts as Actor. What a request body says about authorship is ignored.
type ServerClient struct {
	Name  string
	Token string
	// Actor is who the client's writes are by: human:NAME for a person
	// (whose items are kept as the kind they say), else agent:NAME (whose
	// items are kept as observations). Empty: agent:NAME.
	Actor agentos.Actor
}

// LegacyClient names the client of ServerOptions.Token.
const LegacyClient = "default"

// OpenClient names the client of an open (no token) service.
const OpenClient = "open"

// ServerOptions configures a Server.
type ServerOptions struct {
	// Token is the single bearer token of the older configuration: its
	// holder is the client "default", acting as agent:default.
	Token string
	// Clients are the named clients, each with its own token and actor.
	Clients []ServerClient
	// Audit, when set, receives a memory.write event for every write, by
	// the client's actor (agentos memory serve always sets it).
	Audit agentos.AuditStore
	// Open serves without a token; Serve refuses it on a non-loopback
	// listener and the handler refuses non-loopback peers.
	Open bool
	// MaxBodyBytes bounds request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// ErrorLog receives internal errors, whose text clients never see.
	ErrorLog io.Writer
	// Redact redacts every text a client writes or reads (nil: the
	// built-in rules; agentos memory serve passes the policy's).
	Redact func(string) string
}

// Server exposes a Service over HTTP JSON:
//
//	GET  /v1/health                      no token needed
//	POST /v1/memory/search               Query -> {"hits": [Hit]}
//	POST /v1/memory/items                MemoryItem -> MemoryItem (201)
//	GET  /v1/memory/items?kind=&tag=&source=&all=&limit=  -> {"items": [MemoryItem]}
//	GET  /v1/memory/items/{id}           -> MemoryItem
//	POST /v1/memory/items/{id}/edit      {"text", "actor"} -> MemoryItem
//	POST /v1/memory/items/{id}/remove    {"actor"} -> 204
//	POST /v1/memory/items/{id}/promote   {"kind", "text"} -> MemoryItem (person clients only)
//
// Writes are made as the client the bearer token names: an item's author
// and an edit's actor in the body are ignored. Every write is audited.
//
//	POST /v1/memory/pack                 {"task", "query"} -> MemoryPack
//
// Errors are {"error": message, "code": agentos error code} with a 4xx
// status for bad input and 500 (message hidden) for anything else.
type Server struct {
	svc  Service
	opts ServerOptions
	mux  *http.ServeMux
}

// NewServer returns a Server for svc. A token is required unless opts.Open.
func NewServer(svc Service, opts ServerOptions) (*Server, error) {
	if opts.Token != "" {
		opts.Clients = append([]ServerClient{{Name: LegacyClient, Token: opts.Token}}, opts.Clients...)
	}
	if len(opts.Clients) == 0 && !opts.Open {
		return nil, agentos.Errorf(agentos.EINVALID, "the memory service needs a bearer token (set one with --token-env NAME or memory.serve.clients), or pass --open on a loopback address")
	}
	if len(opts.Clients) > 0 && opts.Open {
		return nil, agentos.Errorf(agentos.EINVALID, "the memory service is either open or token-protected, not both: drop --open or the token")
	}
	seen := map[string]bool{}
	for i := range opts.Clients {
		c := &opts.Clients[i]
		if c.Name == "" || c.Token == "" {
			return nil, agentos.Errorf(agentos.EINVALID, "memory service client %d: needs a name and a token", i+1)
		}
		if seen[c.Name] || seen["\x00"+c.Token] {
			return nil, agentos.Errorf(agentos.EINVALID, "memory service client %q: names and tokens must differ between clients", c.Name)
		}
		seen[c.Name], seen["\x00"+c.Token] = true, true
		if c.Actor == "" {
			c.Actor = agentos.Agent(c.Name)
		}
		if !c.Actor.IsHuman() && !c.Actor.IsAgent() {
			return nil, agentos.Errorf(agentos.EINVALID, "memory service client %q: actor %q must be human:NAME or agent:NAME", c.Name, c.Actor)
		}
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.ErrorLog == nil {
		opts.ErrorLog = io.Discard
	}
	// Clients are outside: what they write is redacted before it is
	// stored, and what they read is redacted too.
	s := &Server{svc: WithRedaction(svc, opts.Redact), opts: opts, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	s.handle("POST /v1/memory/search", s.search)
	s.handle("POST /v1/memory/items", s.add)
	s.handle("GET /v1/memory/items", s.list)
	s.handle("GET /v1/memory/items/{id}", s.get)
	s.handle("POST /v1/memory/items/{id}/edit", s.edit)
	s.handle("POST /v1/memory/items/{id}/remove", s.remove)
	s.handle("POST /v1/memory/items/{id}/promote", s.promote)
	s.handle("POST /v1/memory/pack", s.pack)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, agentos.Errorf(agentos.ENOTFOUND, "no endpoint %s %s: see the agentos memory serve documentation", r.Method, r.URL.Path))
	})
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Serve serves on ln until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.opts.Open && !isLoopback(ln.Addr().String()) {
		return agentos.Errorf(agentos.EDENIED, "an open memory service (no token) may listen only on a loopback address, not %s: use --listen 127.0.0.1:PORT or a token", ln.Addr())
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

type clientKey struct{}

// writer is the Service a request writes through: as its client, audited.
func (s *Server) writer(r *http.Request) (Service, ServerClient) {
	c, _ := r.Context().Value(clientKey{}).(ServerClient)
	if s.opts.Audit == nil {
		return s.svc, c
	}
	return &Audited{Service: s.svc, Log: s.opts.Audit, Client: c.Name}, c
}

func (s *Server) handle(pattern string, h func(*http.Request) (int, any, error)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.authorized(w, r)
		if !ok {
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), clientKey{}, c))
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		status, body, err := h(r)
		if err != nil {
			s.fail(w, err)
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	})
}

// authorized returns the client the request's bearer token names.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) (ServerClient, bool) {
	if s.opts.Open {
		if isLoopback(r.RemoteAddr) {
			return ServerClient{Name: OpenClient, Actor: agentos.Agent(OpenClient)}, true
		}
		writeJSON(w, http.StatusForbidden, apiError{"this memory service is open to loopback clients only", agentos.EDENIED})
		return ServerClient{}, false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok {
		// Compare with every token so the time taken does not say which matched.
		var found ServerClient
		for _, c := range s.opts.Clients {
			if subtle.ConstantTimeCompare([]byte(got), []byte(c.Token)) == 1 {
				found = c
			}
		}
		if found.Name != "" {
			return found, true
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="agentos-memory"`)
	writeJSON(w, http.StatusUnauthorized, apiError{"missing or wrong bearer token (send Authorization: Bearer TOKEN; memory.token_env names its variable)", agentos.EDENIED})
	return ServerClient{}, false
}

// statusOf is the one table from error codes to HTTP statuses (Client maps
// back through the code in the body, not the status).
func statusOf(code string) int {
	switch code {
	case agentos.EINVALID:
		return http.StatusBadRequest
	case agentos.ENOTFOUND:
		return http.StatusNotFound
	case agentos.ECONFLICT:
		return http.StatusConflict
	case agentos.EDENIED:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		writeJSON(w, http.StatusRequestEntityTooLarge, apiError{fmt.Sprintf("request body is larger than %d bytes: send less", mbe.Limit), agentos.EINVALID})
		return
	}
	code := agentos.ErrorCode(err)
	status := statusOf(code)
	msg := agentos.ErrorMessage(err)
	if status == http.StatusInternalServerError {
		fmt.Fprintf(s.opts.ErrorLog, "memory service: %v\n", err)
		msg, code = "internal error in the memory service (see its log)", agentos.EINTERNAL
	}
	writeJSON(w, status, apiError{msg, code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

type searchResponse struct {
	Hits []Hit `json:"hits"`
}

func (s *Server) search(r *http.Request) (int, any, error) {
	var q Query
	if err := jsonbody.Decode(r, &q); err != nil {
		return 0, nil, err
	}
	hits, err := s.svc.Search(r.Context(), q)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, searchResponse{Hits: hits}, nil
}

func (s *Server) add(r *http.Request) (int, any, error) {
	var it agentos.MemoryItem
	if err := jsonbody.Decode(r, &it); err != nil {
		return 0, nil, err
	}
	svc, c := s.writer(r)
	it.Author = string(c.Actor) // never what the client says
	out, err := svc.Add(r.Context(), it)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, out, nil
}

type listResponse struct {
	Items []agentos.MemoryItem `json:"items"`
}

func (s *Server) list(r *http.Request) (int, any, error) {
	v := r.URL.Query()
	f := ListFilter{Kind: agentos.MemoryKind(v.Get("kind")), Tag: v.Get("tag"), Source: v.Get("source")}
	if a := v.Get("all"); a != "" {
		b, err := strconv.ParseBool(a)
		if err != nil {
			return 0, nil, agentos.Errorf(agentos.EINVALID, "all=%q: use true or false", a)
		}
		f.All = b
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return 0, nil, agentos.Errorf(agentos.EINVALID, "limit=%q: use a positive number", l)
		}
		f.Limit = n
	}
	items, err := s.svc.List(r.Context(), f)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, listResponse{Items: items}, nil
}

func (s *Server) get(r *http.Request) (int, any, error) {
	it, err := s.svc.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, it, nil
}

type editRequest struct {
	Text  string `json:"text"`
	Actor string `json:"actor"`
}

func (s *Server) edit(r *http.Request) (int, any, error) {
	var req editRequest
	if err := jsonbody.Decode(r, &req); err != nil {
		return 0, nil, err
	}
	svc, c := s.writer(r)
	it, err := svc.Edit(r.Context(), r.PathValue("id"), req.Text, string(c.Actor))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, it, nil
}

type removeRequest struct {
	Actor string `json:"actor"`
}

func (s *Server) remove(r *http.Request) (int, any, error) {
	var req removeRequest
	if err := jsonbody.Decode(r, &req); err != nil {
		return 0, nil, err
	}
	svc, c := s.writer(r)
	if err := svc.Remove(r.Context(), r.PathValue("id"), string(c.Actor)); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

type promoteRequest struct {
	Kind  agentos.MemoryKind `json:"kind"`
	Text  string             `json:"text,omitempty"`
	Actor string             `json:"actor,omitempty"` // ignored: the token says who
}

func (s *Server) promote(r *http.Request) (int, any, error) {
	var req promoteRequest
	if err := jsonbody.Decode(r, &req); err != nil {
		return 0, nil, err
	}
	svc, c := s.writer(r)
	it, err := svc.Promote(r.Context(), r.PathValue("id"), req.Kind, req.Text, string(c.Actor))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, it, nil
}

type packRequest struct {
	Task  string              `json:"task"`
	Query agentos.MemoryQuery `json:"query"`
}

func (s *Server) pack(r *http.Request) (int, any, error) {
	var req packRequest
	if err := jsonbody.Decode(r, &req); err != nil {
		return 0, nil, err
	}
	if strings.TrimSpace(req.Task) == "" {
		return 0, nil, agentos.Errorf(agentos.EINVALID, `pack request has no task: send {"task": ID, "query": {...}}`)
	}
	p, err := s.svc.BuildPack(r.Context(), req.Task, req.Query)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, p, nil
}
