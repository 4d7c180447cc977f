package cli

import (
	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/redact"
)

// policyRedactor is the redactor of cfg: the built-in rules plus
// redact.patterns. The coordinator, the memory verbs and memory serve use
// it, each through its choke point (coordinator/redact.go,
// memory.Redacted).
func policyRedactor(cfg *config.Config) (*redact.Redactor, error) {
	r, err := redact.New(cfg.Redact.Patterns)
	if err != nil {
		return nil, agentos.WrapError(agentos.EINVALID, err, "agentos.yaml: redact: %v", err)
	}
	return r, nil
}
