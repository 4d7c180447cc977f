package config

import (
	"fmt"
	"net/url"
	"regexp"
)

// Memory configures the memory and the MemoryPack.
type Memory struct {
	// PackBudgetBytes bounds a MemoryPack's item text (default 8192).
	PackBudgetBytes int `yaml:"pack_budget_bytes"`
	// URL of a remote memory service (agentos memory serve); empty: local.
	URL string `yaml:"url"`
	// TokenEnv names the environment variable holding the service's token,
	// for the client (with URL) and for `agentos memory serve`.
	TokenEnv string `yaml:"token_env"`
}

// DefaultPackBudgetBytes is PackBudget when pack_budget_bytes is unset.
const DefaultPackBudgetBytes = 8192

// PackBudget returns the MemoryPack budget in bytes.
func (m Memory) PackBudget() int {
	if m.PackBudgetBytes <= 0 {
		return DefaultPackBudgetBytes
	}
	return m.PackBudgetBytes
}

// memoryEnvNameRe is our own so this file does not depend on another section's.
var memoryEnvNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func validateMemory(c *Config) error {
	m := c.Memory
	if m.PackBudgetBytes < 0 || m.PackBudgetBytes > 1<<20 {
		return fmt.Errorf("memory.pack_budget_bytes: must be between 0 (default %d) and 1048576, got %d", DefaultPackBudgetBytes, m.PackBudgetBytes)
	}
	if m.URL != "" {
		u, err := url.Parse(m.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("memory.url: %q is not an http:// or https:// URL", m.URL)
		}
		if u.User != nil {
			return fmt.Errorf("memory.url: put no credentials in the URL; name the token's variable in memory.token_env")
		}
	}
	if m.TokenEnv != "" && !memoryEnvNameRe.MatchString(m.TokenEnv) {
		return fmt.Errorf("memory.token_env: %q is not an environment variable name", m.TokenEnv)
	}
	return nil
}
