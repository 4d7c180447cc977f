package otlp

import (
	"context"
	"testing"

	"github.com/agentos/agentos/telemetry"
)

// Which signals the variables and the policy turn on.
func TestSignals(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		cfg                   Config
		traces, metrics, logs bool
	}{
		{Config{Getenv: env()}, false, false, false},
		{Config{Endpoint: "http://c:4318", Getenv: env()}, true, true, true},
		{Config{Getenv: env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")}, true, true, true},
		{Config{Getenv: env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces")}, true, false, false},
		{Config{Endpoint: "http://c:4318", Getenv: env("OTEL_LOGS_EXPORTER", "none")}, true, true, false},
		{Config{Endpoint: "http://c:4318", Getenv: env("OTEL_SDK_DISABLED", "true")}, false, false, false},
	} {
		tr, m, l := c.cfg.Signals()
		if tr != c.traces || m != c.metrics || l != c.logs {
			t.Errorf("%+v: signals %v %v %v", c.cfg.Endpoint, tr, m, l)
		}
	}
	// Setup with nothing on turns nothing on.
	shutdown, err := Setup(context.Background(), Config{Getenv: env()})
	if err != nil || telemetry.On() || shutdown(context.Background()) != nil {
		t.Fatalf("Setup off: %v, on %v", err, telemetry.On())
	}
}
