package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/httpapi"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/tokens"
	"github.com/spf13/cobra"
)

// ServeOptions are the inputs of `agentos serve`.
type ServeOptions struct {
	F              *Factory
	Listen         string
	TLSCert        string
	TLSKey         string
	InsecureListen bool
	MaxBody        int64
	Rate           float64
	Burst          int
	// UI and Extra are mounted beside the API (the web page at /, the MCP
	// endpoint at /mcp): see httpapi.Options.
	UI    http.Handler
	Extra map[string]http.Handler
}

func newCmdServe(f *Factory) *cobra.Command {
	opts := &ServeOptions{F: f}
	cmd := &cobra.Command{
		Use:   "serve [--listen HOST:PORT] [--tls-cert FILE --tls-key FILE]",
		Short: "Serve the HTTP API (tasks, plans, questions, approvals, reviews, audit, memory, locks) for this repository",
		Long: `Serve answers the HTTP JSON API under /api/v1, described by the OpenAPI 3.1
document at /openapi.json (docs/api.md). Every request carries a bearer token
made with ` + "`agentos token create`" + ` (Authorization: Bearer TOKEN); its role says
what it may do, and every write is audited as the token's holder. Approving
and answering also need the person's own signature: a token alone never
decides.

It listens on a loopback address unless --listen says otherwise; any other
address needs TLS (--tls-cert and --tls-key) or --insecure-listen.`,
		Example: `  agentos token create --name alice --role approver
  agentos serve --listen 127.0.0.1:8080`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return serveRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:8080", "`host:port` to listen on (a loopback address unless TLS or --insecure-listen)")
	cmd.Flags().StringVar(&opts.TLSCert, "tls-cert", "", "TLS certificate `file` (PEM)")
	cmd.Flags().StringVar(&opts.TLSKey, "tls-key", "", "TLS private key `file` (PEM)")
	cmd.Flags().BoolVar(&opts.InsecureListen, "insecure-listen", false, "allow a non-loopback address without TLS (tokens cross the network in clear text)")
	cmd.Flags().Int64Var(&opts.MaxBody, "max-body", httpapi.DefaultMaxBodyBytes, "largest request body in `bytes`")
	cmd.Flags().Float64Var(&opts.Rate, "rate", httpapi.DefaultRate, "requests a second per token, on average")
	cmd.Flags().IntVar(&opts.Burst, "burst", httpapi.DefaultBurst, "requests per token at once")
	return cmd
}

func serveRun(ctx context.Context, opts *ServeOptions) error {
	f := opts.F
	if (opts.TLSCert == "") != (opts.TLSKey == "") {
		return usageErr("--tls-cert and --tls-key go together")
	}
	if err := httpapi.ListenCheck(opts.Listen, opts.TLSCert != "", opts.InsecureListen); err != nil {
		return err
	}
	repo, err := f.Repo(ctx)
	if err != nil {
		return err
	}
	// The tokens are checked on one long-lived handle; each request opens
	// its own session, as a CLI command does.
	db, err := f.DB(ctx)
	if err != nil {
		return err
	}
	ts, ok := db.(agentos.TokenStore)
	if !ok {
		return agentos.Errorf(agentos.EINVALID, "this store keeps no API tokens")
	}
	errLog := &syncWriter{w: f.IO.ErrOut}
	// Before a token is refused, the store is opened afresh, as a
	// request's session does: replaced under serve, the long-lived handle
	// reads the other store's tokens (each of SQLite's connections notices
	// the new file when it does), and a good token got 401 where the truth
	// is 409, the store replaced, and how to restore it. Only a refusal
	// pays for the open.
	svc := &tokens.Service{DB: ts, Now: f.Now, Audit: db, Recheck: func(ctx context.Context) error {
		s := newServeSession(repo.Root, f, errLog)
		defer s.Close()
		_, err := s.Store(ctx)
		return err
	}}
	// The policy's webhooks are delivered beside the API, as beside a
	// worker: serve is a repository's other long-running process.
	stopHooks, err := f.startWebhooks(ctx, db, func(format string, args ...any) {
		fmt.Fprintf(errLog, "agentos serve: "+format+"\n", args...)
	})
	if err != nil {
		return err
	}
	defer stopHooks()
	// The MCP server's streamable HTTP endpoint, behind the tokens (mcp.go).
	extra, waitMCP, err := withMCPEndpoint(ctx, f, opts.Extra)
	if err != nil {
		return err
	}
	if opts.UI == nil {
		page, err := webPage(ctx, repo.Root, f, errLog, svc)
		if err != nil {
			return err
		}
		defer page.Close()
		opts.UI = page
	}
	srv, err := httpapi.New(httpapi.Options{
		Open: func(ctx context.Context) (httpapi.Session, error) {
			return newServeSession(repo.Root, f, errLog), nil
		},
		Tokens:       svc,
		UI:           opts.UI,
		Extra:        extra,
		ErrorLog:     errLog,
		MaxBodyBytes: opts.MaxBody,
		Rate:         opts.Rate,
		Burst:        opts.Burst,
		Now:          f.Now,
		// The policy was loaded above (f.DB): redactText reads it only.
		Redact: f.redactText,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return agentos.WrapError(agentos.EINVALID, err, "cannot listen on %s: %v", opts.Listen, err)
	}
	defer ln.Close()
	scheme := "http"
	if opts.TLSCert != "" {
		scheme = "https"
	}
	live := 0
	if all, err := svc.List(ctx); err == nil {
		for _, t := range all {
			if t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || f.Now().Before(t.ExpiresAt)) {
				live++
			}
		}
	}
	note := fmt.Sprintf("%d live token(s)", live)
	if live == 0 {
		note = "no live token yet: make one with `agentos token create --name NAME --role viewer`"
	}
	fmt.Fprintf(errLog, "agentos: serving the API on %s://%s/api/v1 (%s); stop with Ctrl-C\n", scheme, ln.Addr(), note)
	err = srv.Serve(ctx, ln, httpapi.ServeOptions{CertFile: opts.TLSCert, KeyFile: opts.TLSKey})
	// MCP calls run apart from the requests that carried them: their runs
	// end (cancelled, with their ReviewPacks) before serve exits.
	waitMCP()
	return err
}

// syncWriter serialises writes of concurrent requests to one stream.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// serveSession is one request's httpapi.Session: a Factory of its own, as
// one CLI command has, so the request loads the policy in force now and
// goes through exactly what the command does. It prints nothing.
type serveSession struct {
	f *Factory
}

func newServeSession(root string, parent *Factory, errLog io.Writer) *serveSession {
	f := NewFactory(strings.NewReader(""), io.Discard, io.Discard)
	f.Dir, f.Now, f.Quiet = root, parent.Now, true
	return &serveSession{f: f}
}

func (s *serveSession) Store(ctx context.Context) (agentos.Store, error) { return s.f.DBReadOnly(ctx) }
func (s *serveSession) WriteStore(ctx context.Context) (agentos.Store, error) {
	return s.f.DB(ctx)
}
func (s *serveSession) Coordinator(ctx context.Context) (*coordinator.Coordinator, error) {
	return s.f.Coordinator(ctx)
}
func (s *serveSession) CoordinatorReadOnly(ctx context.Context) (*coordinator.Coordinator, error) {
	return s.f.CoordinatorReadOnly(ctx)
}
func (s *serveSession) Memory(ctx context.Context) (memory.Service, error) {
	return s.f.memoryReader(ctx)
}
func (s *serveSession) AuditVerify(ctx context.Context) (any, error, error) {
	v, err := s.f.auditVerify(ctx)
	if err != nil {
		return nil, nil, err
	}
	return v.doc, v.failed, nil
}
func (s *serveSession) SchedulerExplain(ctx context.Context, task string) (any, error) {
	return schedulerExplain(ctx, s.f, task)
}

// StateDir is the repository's .agentos directory (kept worktrees).
func (s *serveSession) StateDir() string {
	dir, err := s.f.StatePath(context.Background())
	if err != nil {
		return ""
	}
	return dir
}
func (s *serveSession) Close() { s.f.Close() }
