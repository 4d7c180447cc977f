package config

import (
	"testing"

	"github.com/agentos/agentos"
)

func TestMemorySection(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		ok         bool
		budget     int
	}{
		{"Default", "version: 1\n", true, DefaultPackBudgetBytes},
		{"Remote", "version: 1\nmemory:\n  url: http://127.0.0.1:7788\n  token_env: MEM_TOKEN\n  pack_budget_bytes: 4096\n", true, 4096},
		{"ErrScheme", "version: 1\nmemory:\n  url: ftp://host\n", false, 0},
		{"ErrCredentials", "version: 1\nmemory:\n  url: https://u:p@host\n", false, 0},
		{"ErrTokenEnv", "version: 1\nmemory:\n  token_env: 'MY-TOKEN'\n", false, 0},
		{"ErrBudget", "version: 1\nmemory:\n  pack_budget_bytes: -1\n", false, 0},
		{"ErrUnknownKey", "version: 1\nmemory:\n  token: abc\n", false, 0},
		{"Clients", "version: 1\nmemory:\n  serve:\n    clients:\n      - {name: ci, token_env: CI_TOK}\n      - {name: alice, token_env: ALICE_TOK, actor: 'human:alice'}\n", true, DefaultPackBudgetBytes},
		{"ErrClientTwice", "version: 1\nmemory:\n  serve:\n    clients:\n      - {name: ci, token_env: A}\n      - {name: ci, token_env: B}\n", false, 0},
		{"ErrClientActor", "version: 1\nmemory:\n  serve:\n    clients:\n      - {name: ci, token_env: A, actor: system}\n", false, 0},
		{"ErrClientNoEnv", "version: 1\nmemory:\n  serve:\n    clients:\n      - {name: ci}\n", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), FileName)
			if !tc.ok {
				if agentos.ErrorCode(err) != agentos.EINVALID {
					t.Fatalf("Parse error = %v, want invalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Memory.PackBudget(); got != tc.budget {
				t.Fatalf("PackBudget = %d, want %d", got, tc.budget)
			}
		})
	}
}
