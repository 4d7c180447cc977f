// Package otlp installs OpenTelemetry export for package telemetry: the
// SDK's tracer, meter and logger providers with OTLP/HTTP (protobuf)
// exporters, as the policy's otel section or the standard
// OTEL_EXPORTER_OTLP_* variables say (docs/telemetry.md). The CLI wires it;
// the pipeline sees only package telemetry, which needs the API alone.
package otlp

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Config says where telemetry goes.
type Config struct {
	// Endpoint is the OTLP/HTTP base URL from the policy ("": the
	// variables decide).
	Endpoint    string
	ServiceName string
	// Getenv reads the OTEL_* variables (os.Getenv when nil). The
	// exporters read the rest of them (headers, TLS, timeouts) themselves.
	Getenv func(string) string
}

// Signals says which signals cfg turns on: all three with an endpoint in
// the policy or OTEL_EXPORTER_OTLP_ENDPOINT, else each with its own
// OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT; OTEL_SDK_DISABLED=true and
// OTEL_<SIGNAL>_EXPORTER=none turn them off.
func (cfg Config) Signals() (traces, metrics, logs bool) {
	get := cfg.Getenv
	if get == nil {
		get = os.Getenv
	}
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return false, false, false
	}
	on := func(signal string) bool {
		if get("OTEL_"+signal+"_EXPORTER") == "none" {
			return false
		}
		return cfg.Endpoint != "" || get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || get("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
	}
	return on("TRACES"), on("METRICS"), on("LOGS")
}

// Setup turns telemetry on as cfg says (or leaves it off) and returns the
// function that ends the open spans, flushes and turns it off again; it is
// safe to call that when Setup turned nothing on.
func Setup(ctx context.Context, cfg Config) (shutdown func(context.Context) error, err error) {
	traces, metrics, logs := cfg.Signals()
	if !traces && !metrics && !logs {
		return func(context.Context) error { return nil }, nil
	}
	name := cfg.ServiceName
	if name == "" {
		name = "agentos"
	}
	res, err := resource.Merge(resource.Environment(), resource.NewSchemaless(
		attribute.String("service.name", name), attribute.String("service.version", agentos.Version)))
	if err != nil {
		res = resource.NewSchemaless(attribute.String("service.name", name))
	}
	url := func(path string) string { return strings.TrimRight(cfg.Endpoint, "/") + path }
	var p telemetry.Providers
	var closers []func(context.Context) error
	fail := func(what string, err error) (func(context.Context) error, error) {
		for _, c := range closers {
			c(ctx)
		}
		return nil, agentos.WrapError(agentos.EINVALID, err, "OpenTelemetry: cannot set up the %s exporter: %v", what, err)
	}
	if traces {
		var opts []otlptracehttp.Option
		if cfg.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(url("/v1/traces")))
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return fail("trace", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		p.Tracer = tp
		closers = append(closers, tp.Shutdown)
		// Other code in the process (an SDK's own instrumentation) joins
		// the same traces.
		otel.SetTracerProvider(tp)
	}
	if metrics {
		var opts []otlpmetrichttp.Option
		if cfg.Endpoint != "" {
			opts = append(opts, otlpmetrichttp.WithEndpointURL(url("/v1/metrics")))
		}
		exp, err := otlpmetrichttp.New(ctx, opts...)
		if err != nil {
			return fail("metric", err)
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)), sdkmetric.WithResource(res))
		p.Meter = mp
		closers = append(closers, mp.Shutdown)
	}
	if logs {
		var opts []otlploghttp.Option
		if cfg.Endpoint != "" {
			opts = append(opts, otlploghttp.WithEndpointURL(url("/v1/logs")))
		}
		exp, err := otlploghttp.New(ctx, opts...)
		if err != nil {
			return fail("log", err)
		}
		lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)), sdklog.WithResource(res))
		p.Logger = lp
		closers = append(closers, lp.Shutdown)
	}
	otel.SetTextMapPropagator(propagation.TraceContext{})
	uninstall := telemetry.Install(p)
	return func(ctx context.Context) error {
		uninstall() // the spans still open end, and are exported below
		var errs []error
		for _, c := range closers {
			errs = append(errs, c(ctx))
		}
		closers = nil
		return errors.Join(errs...)
	}, nil
}
