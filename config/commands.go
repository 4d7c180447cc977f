package config

import "fmt"

// Commands is red line 3's allowlist plus prefix rules over argv.
type Commands struct {
	// Allow lists the program names (argv[0] as written, or its base name)
	// that exec steps and verify checks may run.
	Allow []string `yaml:"allow"`
	// Rules are prefix rules with a decision (allow | approve | deny); the
	// strictest matching decision wins.
	Rules []CommandRule `yaml:"rules"`
}

// CommandRule is one prefix rule over argv.
type CommandRule struct {
	ID       string     `yaml:"id"`
	Prefix   []string   `yaml:"prefix"`
	Decision string     `yaml:"decision"`
	Reason   string     `yaml:"reason"`
	Match    [][]string `yaml:"match"`     // example argvs that must match
	NotMatch [][]string `yaml:"not_match"` // example argvs that must not match
}

// The rules' examples are checked by package cmdrule (cmdrule.New, agentos
// policy test); here only their shape, so a malformed file fails at load.
func init() {
	sectionValidators = append(sectionValidators, func(c *Config) error {
		seen := map[string]bool{}
		for i, r := range c.Commands.Rules {
			where := fmt.Sprintf("commands.rules[%d]", i)
			if r.ID == "" {
				return fmt.Errorf("%s: missing id; give every rule an id for the audit log", where)
			}
			if seen[r.ID] {
				return fmt.Errorf("%s: duplicate id %q; rule ids must be unique", where, r.ID)
			}
			seen[r.ID] = true
			if len(r.Prefix) == 0 || r.Prefix[0] == "" {
				return fmt.Errorf("%s (%s): prefix must start with a program name", where, r.ID)
			}
			switch r.Decision {
			case "allow", "approve", "deny":
			default:
				return fmt.Errorf("%s (%s): decision %q; use allow, approve or deny", where, r.ID, r.Decision)
			}
		}
		return nil
	})
}
