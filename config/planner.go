package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Planner selects and configures who proposes plans for natural-language
// requests (`agentos run "…"`). A plan file (`agentos run --plan FILE`) needs
// none of this.
//
//	planner:
//	  kind: openai            # file (default) | openai | contractor
//	  openai:
//	    base_url: https://api.openai.com/v1   # or http://127.0.0.1:11434/v1 (Ollama), :8000/v1 (vLLM), :8080/v1 (llama.cpp)
//	    model: gpt-5.5
//	    api_key_env: OPENAI_API_KEY           # the NAME of the variable; never the key
//	  contractor:
//	    name: claude                          # claude | codex | opencode | custom
//	    argv: [claude, -p, "{prompt}"]        # optional: overrides the default command line
//	    env: {ANTHROPIC_BASE_URL: http://127.0.0.1:8082}
//	    env_pass: [ANTHROPIC_API_KEY]
//	    allow_tcp: [localhost:8082]           # the only destinations; network: true for all
type Planner struct {
	// Kind: file (default), openai, contractor.
	Kind string `yaml:"kind"`
	// OpenAI configures the LLM planner (any OpenAI-compatible endpoint).
	OpenAI OpenAIPlanner `yaml:"openai"`
	// Contractor configures an agent CLI that does the work in a scratch worktree.
	Contractor Contractor `yaml:"contractor"`
}

// OpenAIPlanner configures the LLM planner.
type OpenAIPlanner struct {
	// BaseURL of the OpenAI-compatible API, ending in /v1 (default: OpenAI's).
	BaseURL string `yaml:"base_url"`
	// Model to ask, e.g. gpt-5.5, or a local model name (qwen3-coder, …).
	Model string `yaml:"model"`
	// APIKeyEnv is the name of the environment variable holding the key. The
	// key itself is never written to the config, logs or audit. Empty: no key
	// (local servers).
	APIKeyEnv string `yaml:"api_key_env"`
	// Timeout of one HTTP request (default 120s).
	Timeout string `yaml:"timeout"`
	// MaxRetries of one request on 408, 409, 429, 5xx and connection errors
	// (default 2; Retry-After is honoured).
	MaxRetries *int `yaml:"max_retries"`
	// MaxRepairs is how often an answer that breaks the schema or the plan
	// rules is sent back with the exact error (default 2).
	MaxRepairs *int `yaml:"max_repairs"`
	// MaxOutputTokens caps each answer (default 16384).
	MaxOutputTokens int64 `yaml:"max_output_tokens"`
	// ContextBytes is the budget of repository context sent with the plan
	// request (default 200000).
	ContextBytes int `yaml:"context_bytes"`
}

// Contractor configures an agent CLI run as a contractor.
type Contractor struct {
	// Name: claude, codex, opencode or custom.
	Name string `yaml:"name"`
	// Argv overrides the default command line; "{prompt}" is replaced by the
	// task prompt, "{worktree}" by the scratch worktree, "{settings}" by the
	// generated settings file. Required for custom.
	Argv []string `yaml:"argv"`
	// Env is set in the contractor's environment (no secrets: use EnvPass).
	Env map[string]string `yaml:"env"`
	// EnvPass names variables passed through from AgentOS's environment
	// (API keys, proxies).
	EnvPass []string `yaml:"env_pass"`
	// Timeout of the whole contractor run (default 30m).
	Timeout string `yaml:"timeout"`
	// Network: true gives the contractor the host's whole network, an
	// explicit opt-in. By default its network is off: allow_tcp names the
	// only destinations it may reach (its model endpoint).
	Network *bool `yaml:"network"`
	// AllowTCP lists the only destinations ("host:port") the contractor
	// may reach, e.g. its model endpoint; when set, network is ignored and
	// nothing else is reachable.
	AllowTCP []string `yaml:"allow_tcp"`
	// Model names the model the contractor uses, for pricing its usage
	// when the CLI does not name it in its output (Codex, OpenCode).
	Model string `yaml:"model"`
}

// PlannerKinds are the valid planner.kind values.
var PlannerKinds = []string{"file", "openai", "contractor"}

// ContractorNames are the valid planner.contractor.name values.
var ContractorNames = []string{"claude", "codex", "opencode", "custom"}

// Defaults of the openai planner.
const (
	DefaultOpenAIBaseURL   = "https://api.openai.com/v1"
	DefaultOpenAITimeout   = 120 * time.Second
	DefaultOpenAIRetries   = 2
	DefaultOpenAIRepairs   = 2
	DefaultMaxOutputTokens = 16384
	DefaultContextBytes    = 200000
	DefaultContractorLimit = 30 * time.Minute
)

var envNameRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// RequestTimeout is the per-request timeout of the openai planner.
func (o OpenAIPlanner) RequestTimeout() time.Duration {
	if d, err := time.ParseDuration(o.Timeout); err == nil && d > 0 {
		return d
	}
	return DefaultOpenAITimeout
}

// Retries is the per-request retry count.
func (o OpenAIPlanner) Retries() int {
	if o.MaxRetries != nil {
		return *o.MaxRetries
	}
	return DefaultOpenAIRetries
}

// Repairs is how often a bad answer is sent back.
func (o OpenAIPlanner) Repairs() int {
	if o.MaxRepairs != nil {
		return *o.MaxRepairs
	}
	return DefaultOpenAIRepairs
}

// URL is the base URL with the default applied.
func (o OpenAIPlanner) URL() string {
	if o.BaseURL == "" {
		return DefaultOpenAIBaseURL
	}
	return o.BaseURL
}

// RunTimeout is the contractor's whole-run timeout.
func (c Contractor) RunTimeout() time.Duration {
	if d, err := time.ParseDuration(c.Timeout); err == nil && d > 0 {
		return d
	}
	return DefaultContractorLimit
}

// NetworkAllowed reports whether the contractor gets the host's whole
// network: only when the policy says network: true.
func (c Contractor) NetworkAllowed() bool { return c.Network != nil && *c.Network }

// modelEndpoints are the default endpoints of the contractors that talk to
// a hosted model, for the message that asks for allow_tcp.
var modelEndpoints = map[string]string{
	"claude":   "api.anthropic.com:443",
	"codex":    "api.openai.com:443",
	"opencode": "api.anthropic.com:443",
}

func validatePlanner(c *Config) error {
	p := c.Planner
	if p.Kind != "" && !slices.Contains(PlannerKinds, p.Kind) {
		return fmt.Errorf("planner.kind: %q is not one of %s", p.Kind, strings.Join(PlannerKinds, ", "))
	}
	o := p.OpenAI
	if o.APIKeyEnv != "" && !envNameRe().MatchString(o.APIKeyEnv) {
		return fmt.Errorf("planner.openai.api_key_env: must be the NAME of an environment variable (e.g. OPENAI_API_KEY), not a key; remove the key from %s and rotate it", FileName)
	}
	if o.Timeout != "" {
		if d, err := time.ParseDuration(o.Timeout); err != nil || d <= 0 {
			return fmt.Errorf("planner.openai.timeout: %q is not a positive duration (e.g. 120s)", o.Timeout)
		}
	}
	if o.MaxRetries != nil && (*o.MaxRetries < 0 || *o.MaxRetries > 10) {
		return fmt.Errorf("planner.openai.max_retries: must be 0 to 10, got %d", *o.MaxRetries)
	}
	if o.MaxRepairs != nil && (*o.MaxRepairs < 0 || *o.MaxRepairs > 10) {
		return fmt.Errorf("planner.openai.max_repairs: must be 0 to 10, got %d", *o.MaxRepairs)
	}
	if o.MaxOutputTokens < 0 || o.ContextBytes < 0 {
		return fmt.Errorf("planner.openai: max_output_tokens and context_bytes must not be negative")
	}
	if p.Kind == "openai" && o.Model == "" {
		return fmt.Errorf("planner.openai.model: required when planner.kind is openai (e.g. gpt-5.5, or the name your local server serves)")
	}
	k := p.Contractor
	if k.Name != "" && !slices.Contains(ContractorNames, k.Name) {
		return fmt.Errorf("planner.contractor.name: %q is not one of %s", k.Name, strings.Join(ContractorNames, ", "))
	}
	if p.Kind == "contractor" && k.Name == "" {
		return fmt.Errorf("planner.contractor.name: required when planner.kind is contractor (%s)", strings.Join(ContractorNames, ", "))
	}
	if k.Name == "custom" && len(k.Argv) == 0 {
		return fmt.Errorf("planner.contractor.argv: required for the custom contractor")
	}
	for name := range k.Env {
		if !envNameRe().MatchString(name) {
			return fmt.Errorf("planner.contractor.env: %q is not a variable name", name)
		}
	}
	for _, name := range k.EnvPass {
		if !envNameRe().MatchString(name) {
			return fmt.Errorf("planner.contractor.env_pass: %q is not a variable name", name)
		}
	}
	for _, e := range k.AllowTCP {
		if _, _, err := ParseAllowTCP(e); err != nil {
			return fmt.Errorf("planner.contractor.allow_tcp: %v", err)
		}
	}
	// Until issue 13 a contractor got the host network when neither was
	// set; it is off now, and such a policy would cut the CLI off from its
	// model: refused, naming the new form.
	if ep, ok := modelEndpoints[k.Name]; ok && k.Network == nil && len(k.AllowTCP) == 0 {
		return fmt.Errorf("planner.contractor: %s needs its model endpoint and a contractor's network is off unless named: add `allow_tcp: [%s]` (your endpoint, e.g. a local proxy's localhost:PORT), or `network: true` for the host's whole network", k.Name, ep)
	}
	if k.Timeout != "" {
		if d, err := time.ParseDuration(k.Timeout); err != nil || d <= 0 {
			return fmt.Errorf("planner.contractor.timeout: %q is not a positive duration (e.g. 30m)", k.Timeout)
		}
	}
	return nil
}

// HowToConfigureOpenAI says, in one line, how to configure a model planner
// (planner.kind openai).
const HowToConfigureOpenAI = "add to agentos.yaml `planner: {kind: openai, openai: {model: gpt-5.5, api_key_env: OPENAI_API_KEY}}` " +
	"and export OPENAI_API_KEY (the file names the variable, never the key); for a local OpenAI-compatible server, no key: " +
	"`base_url: http://127.0.0.1:11434/v1` (Ollama), `http://127.0.0.1:8000/v1` (vLLM) or `http://127.0.0.1:8080/v1` (llama.cpp server) " +
	"with the model name it serves; see docs/planners.md"
