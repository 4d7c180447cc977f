package config

import (
	"fmt"
	"net/url"
	"regexp"
	"sync"
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
	// Serve configures `agentos memory serve`.
	Serve MemoryServe `yaml:"serve"`
}

// MemoryServe configures the memory service.
type MemoryServe struct {
	// Clients are the service's named clients, each with its own bearer
	// token. A client's writes are by its actor, whatever the request
	// says; the single token of token_env, if set, is the client
	// "default" acting as agent:default.
	Clients []MemoryClient `yaml:"clients"`
}

// MemoryClient is one named client of the memory service.
type MemoryClient struct {
	Name string `yaml:"name"`
	// TokenEnv names the variable holding this client's token.
	TokenEnv string `yaml:"token_env"`
	// Actor is human:NAME for a person, whose items keep the kind they say,
	// or agent:NAME (the default, agent:<name>), whose items are kept as
	// observations until a person promotes them.
	Actor string `yaml:"actor"`
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
var memoryEnvNameRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

var (
	memoryClientNameRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`) })
	memoryActorRe      = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(human|agent):[^\s:][^\s]{0,127}$`) })
)

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
	if m.TokenEnv != "" && !memoryEnvNameRe().MatchString(m.TokenEnv) {
		return fmt.Errorf("memory.token_env: %q is not an environment variable name", m.TokenEnv)
	}
	names := map[string]bool{}
	for i, cl := range m.Serve.Clients {
		where := fmt.Sprintf("memory.serve.clients[%d]", i)
		if !memoryClientNameRe().MatchString(cl.Name) || cl.Name == "default" || cl.Name == "open" {
			return fmt.Errorf("%s.name: %q must be 1-64 letters, digits, '.', '_' or '-' (not default or open)", where, cl.Name)
		}
		if names[cl.Name] {
			return fmt.Errorf("%s.name: %q is named twice", where, cl.Name)
		}
		names[cl.Name] = true
		if !memoryEnvNameRe().MatchString(cl.TokenEnv) {
			return fmt.Errorf("%s.token_env: %q is not an environment variable name", where, cl.TokenEnv)
		}
		if cl.Actor != "" && !memoryActorRe().MatchString(cl.Actor) {
			return fmt.Errorf("%s.actor: %q must be human:NAME or agent:NAME", where, cl.Actor)
		}
	}
	return nil
}
