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
		{"OK contractor", "planner:\n  kind: contractor\n  contractor:\n    name: claude\n    env_pass: [ANTHROPIC_API_KEY]\n", ""},
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
