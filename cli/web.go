package cli

import (
	"context"
	"io"
	"strings"

	"github.com/agentos/agentos/coordinator"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/web"
)

// webOptions wires the web page to the repository in dir. Every request
// builds the pipeline afresh, as one CLI command does (policy of the base,
// store anchor, redaction), so a passkey or rule just committed is in force
// on the next request; what it opened is closed when the request ends.
func webOptions(dir string, auth func(ctx context.Context, token string) (web.Identity, error)) web.Options {
	open := func(ctx context.Context) *Factory {
		f := NewFactory(strings.NewReader(""), io.Discard, io.Discard)
		f.Dir = dir
		context.AfterFunc(ctx, f.Close)
		return f
	}
	return web.Options{
		Coordinator:  func(ctx context.Context) (*coordinator.Coordinator, error) { return open(ctx).Coordinator(ctx) },
		Reader:       func(ctx context.Context) (*coordinator.Coordinator, error) { return open(ctx).CoordinatorReadOnly(ctx) },
		Memory:       func(ctx context.Context) (memory.Service, error) { return open(ctx).memoryReader(ctx) },
		Authenticate: auth,
	}
}
