package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/telemetry"
	"github.com/agentos/agentos/telemetry/otlp"
)

// telemetryFlushTimeout bounds the flush at exit: a collector that is down
// costs a command at most this, never its outcome.
const telemetryFlushTimeout = 5 * time.Second

// startTelemetry turns OpenTelemetry on for a verb that runs the pipeline,
// as the policy's otel section or the OTEL_EXPORTER_OTLP_* variables say
// (docs/telemetry.md). At exit it sends the audit events this command
// appended as logs and flushes. A telemetry failure is a warning: it never
// changes what the command does.
func (f *Factory) startTelemetry(ctx context.Context, cfg *config.Config, db agentos.Store) {
	if f.telemetryOn {
		return
	}
	f.telemetryOn = true
	shutdown, err := otlp.Setup(ctx, otlp.Config{Endpoint: cfg.Otel.Endpoint, ServiceName: cfg.Otel.ServiceName, Getenv: os.Getenv})
	if err != nil {
		fmt.Fprintf(f.IO.ErrOut, "agentos: warning: %s; continuing without telemetry\n", agentos.ErrorMessage(err))
		return
	}
	if !telemetry.On() {
		return
	}
	from, _, _ := db.ChainHead(ctx)
	f.closers = append(f.closers, func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), telemetryFlushTimeout)
		defer cancel()
		if evs, err := db.Events(ctx, agentos.EventFilter{FromSeq: from + 1}); err == nil {
			telemetry.Audit(ctx, evs)
		}
		if err := shutdown(ctx); err != nil {
			fmt.Fprintf(f.IO.ErrOut, "agentos: warning: OpenTelemetry export: %v\n", err)
		}
	})
}
