package config

// Memory configures the memory and the MemoryPack.
type Memory struct {
	// PackBudgetBytes bounds a MemoryPack's item text (default 8192).
	PackBudgetBytes int `yaml:"pack_budget_bytes"`
	// URL of a remote memory service (agentos memory serve); empty: local.
	URL string `yaml:"url"`
	// TokenEnv names the environment variable holding the service's token.
	TokenEnv string `yaml:"token_env"`
}
