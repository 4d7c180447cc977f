package config

import "fmt"

// MCP governs `agentos mcp proxy`, the gateway between an agent and a
// third-party MCP server: every tools/call is decided by these rules (CEL,
// compiled by package mcpgateway) over the server's name, the tool, its
// annotations and the call's arguments.
type MCP struct {
	// Rules decide tools/call; the strictest matching effect wins
	// (deny > ask > allow).
	Rules []MCPRule `yaml:"rules"`
	// Default is the effect when no rule matches: deny (the default), ask
	// or allow.
	Default string `yaml:"default"`
}

// MCPRule is one gateway rule.
type MCPRule struct {
	ID string `yaml:"id"`
	// When is a CEL condition over server (string), tool (string),
	// annotations (read_only, destructive, idempotent, open_world: bool,
	// with MCP's defaults when the server leaves them out; title: string)
	// and arguments (the call's arguments, a map).
	When   string `yaml:"when"`
	Effect string `yaml:"effect"` // allow, ask or deny
	Reason string `yaml:"reason"`
}

// MCP gateway effects.
const (
	MCPAllow = "allow"
	MCPAsk   = "ask"
	MCPDeny  = "deny"
)

func validMCPEffect(e string) bool { return e == MCPAllow || e == MCPAsk || e == MCPDeny }

// Conditions compile in package mcpgateway (the policy loads them there);
// here only the shape, so a malformed file fails at load.
func validateMCP(c *Config) error {
	if d := c.MCP.Default; d != "" && !validMCPEffect(d) {
		return fmt.Errorf("mcp.default: %q is not an effect; use allow, ask or deny", d)
	}
	seen := map[string]bool{}
	for i, r := range c.MCP.Rules {
		where := fmt.Sprintf("mcp.rules[%d]", i)
		if r.ID == "" {
			return fmt.Errorf("%s: missing id; give every rule an id for the audit log", where)
		}
		if seen[r.ID] {
			return fmt.Errorf("%s: duplicate id %q; rule ids must be unique", where, r.ID)
		}
		seen[r.ID] = true
		if r.When == "" {
			return fmt.Errorf("%s (%s): missing when: a CEL condition (e.g. tool == \"read_file\")", where, r.ID)
		}
		if !validMCPEffect(r.Effect) {
			return fmt.Errorf("%s (%s): effect %q: use allow, ask or deny", where, r.ID, r.Effect)
		}
	}
	return nil
}
