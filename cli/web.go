package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/tokens"
	"github.com/agentos/agentos/web"
)

// webPage is the web page `agentos serve` mounts at /. Every request
// builds the pipeline afresh in a session of its own, as one CLI command
// and one API request do (serveSession), so a passkey or rule just
// committed is in force on the next request; the session closes when the
// request ends.
func webPage(stop context.Context, root string, parent *Factory, errLog io.Writer, svc *tokens.Service) (*web.Server, error) {
	open := func(ctx context.Context) *serveSession {
		s := newServeSession(root, parent, errLog)
		context.AfterFunc(ctx, s.Close)
		return s
	}
	return web.New(web.Options{
		Coordinator: func(ctx context.Context) (*coordinator.Coordinator, error) { return open(ctx).Coordinator(ctx) },
		Reader:      func(ctx context.Context) (*coordinator.Coordinator, error) { return open(ctx).CoordinatorReadOnly(ctx) },
		Memory:      func(ctx context.Context) (memory.Service, error) { return open(ctx).Memory(ctx) },
		VerifyAudit: func(ctx context.Context) (any, error, error) { return open(ctx).AuditVerify(ctx) },
		// Live updates read only the audit chain: the store, no pipeline.
		Audit: func(ctx context.Context) (agentos.AuditStore, error) { return open(ctx).Store(ctx) },
		Authenticate: func(ctx context.Context, token string) (web.Identity, error) {
			t, err := svc.Authenticate(ctx, token)
			if err != nil {
				return web.Identity{}, err
			}
			return web.Identity{Name: t.Name, Actor: t.Actor, Role: web.Role(t.Role)}, nil
		},
		// The policy was loaded at start (serveRun's f.DB): as the API does.
		Redact: parent.redactText,
		Logf:   func(format string, args ...any) { fmt.Fprintf(errLog, "agentos: "+format+"\n", args...) },
		// A signal to serve stops the runs the page's decisions started.
		Stop: stop,
	})
}
