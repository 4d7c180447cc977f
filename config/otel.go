package config

import (
	"fmt"
	"net/url"
)

// Otel turns on OpenTelemetry export (docs/telemetry.md): traces, metrics
// and the audit events as logs, over OTLP/HTTP. Off unless Endpoint is set
// here or the standard OTEL_EXPORTER_OTLP_*ENDPOINT variables are.
type Otel struct {
	// Endpoint is the OTLP/HTTP base URL (e.g. http://localhost:4318):
	// /v1/traces, /v1/metrics and /v1/logs are sent under it. It wins over
	// the variables. Headers (credentials) come from the standard
	// OTEL_EXPORTER_OTLP_HEADERS variable, never from this file.
	Endpoint string `yaml:"endpoint"`
	// ServiceName is the service.name resource attribute (default agentos).
	ServiceName string `yaml:"service_name"`
}

func validateOtel(c *Config) error {
	if e := c.Otel.Endpoint; e != "" {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("otel.endpoint: %q is not an http(s) URL (e.g. http://localhost:4318)", e)
		}
		if u.User != nil {
			return fmt.Errorf("otel.endpoint: put no credentials in the policy; use OTEL_EXPORTER_OTLP_HEADERS")
		}
	}
	return nil
}
