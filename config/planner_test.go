package config

import (
	"strings"
	"testing"
)

func TestPlannerConfig(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"OK openai", "planner:\n  kind: openai\n  openai:\n    model: gpt-5.5\n    api_key_env: OPENAI_API_KEY\n    timeout: 90s\n", ""},
		{"OK local", "planner:\n  kind: openai\n  openai:\n    base_url: http://127.0.0.1:11434/v1\n    model: qwen3-coder\n", ""},
		{"OK contractor", "planner:\n  kind: contractor\n  contractor:\n    name: claude\n    env_pass: [ANTHROPIC_API_KEY]\n    allow_tcp: [api.anthropic.com:443]\n", ""},
		{"OK contractor whole network", "planner:\n  kind: contractor\n  contractor:\n    name: codex\n    network: true\n", ""},
		{"OK custom contractor offline", "planner:\n  kind: contractor\n  contractor:\n    name: custom\n    argv: [my-agent]\n", ""},
		{"ErrContractorNoEndpoint", "planner:\n  kind: contractor\n  contractor:\n    name: claude\n    env_pass: [ANTHROPIC_API_KEY]\n", "add `allow_tcp: [api.anthropic.com:443]`"},
		{"ErrKeyInConfig", "planner:\n  kind: openai\n  openai:\n    model: m\n    api_key_env: sk-proj-abc123-XYZ\n", "not a key"},
		{"ErrKeyField", "planner:\n  openai:\n    api_key: sk-abc\n", "api_key"},
		{"ErrKind", "planner:\n  kind: magic\n", `"magic" is not one of`},
		{"ErrNoModel", "planner:\n  kind: openai\n", "planner.openai.model: required"},
		{"ErrTimeout", "planner:\n  openai:\n    timeout: soon\n", "not a positive duration"},
		{"ErrContractor", "planner:\n  kind: contractor\n  contractor:\n    name: aider\n", `"aider" is not one of`},
		{"ErrCustomArgv", "planner:\n  kind: contractor\n  contractor:\n    name: custom\n", "argv: required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte("version: 1\n"+tc.yaml), "agentos.yaml")
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Parse = %v", err)
				}
				if c.Planner.OpenAI.Retries() != DefaultOpenAIRetries {
					t.Errorf("Retries() = %d", c.Planner.OpenAI.Retries())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestContractorNetworkOffByDefault(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want bool
	}{
		{"name: custom\n    argv: [x]\n", false},
		{"name: claude\n    allow_tcp: [localhost:8082]\n", false},
		{"name: claude\n    network: false\n", false},
		{"name: claude\n    network: true\n", true},
	} {
		c, err := Parse([]byte("version: 1\nplanner:\n  kind: contractor\n  contractor:\n    "+tc.yaml), "agentos.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Planner.Contractor.NetworkAllowed(); got != tc.want {
			t.Errorf("%q: NetworkAllowed = %v, want %v", tc.yaml, got, tc.want)
		}
	}
}
