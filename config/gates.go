package config

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/agentos/agentos"
)

// Gate is one policy-as-code rule over a plan. The rules are ordered; every
// matching rule yields a decision and the strictest effect wins
// (allow < require_approval < deny). The policy package compiles When.
type Gate struct {
	ID     string `yaml:"id"`
	When   string `yaml:"when"`   // CEL condition
	Effect string `yaml:"effect"` // allow | require_approval | deny
	// Message is the reason shown and recorded when the rule matches.
	Message string `yaml:"message"`
	// Approvers may approve a plan this rule holds (human names); empty: the
	// global approvers list, and when that is empty too, any human.
	Approvers []string `yaml:"approvers"`
	// Approvals is how many distinct approvers are needed (N of M; default 1).
	Approvals int `yaml:"approvals"`
	// Match and NotMatch are examples the rule must and must not match,
	// checked when the policy loads and by `agentos policy test`.
	Match    []GateExample `yaml:"match"`
	NotMatch []GateExample `yaml:"not_match"`
}

// GateExample is a small hand-written plan a rule is tested against. The
// step fields at the top level are a one-step plan; Steps gives several.
type GateExample struct {
	Mode        string        `yaml:"mode"`   // task mode (default semi_auto)
	Labels      []string      `yaml:"labels"` // task labels
	Risk        string        `yaml:"risk"`   // intent risk
	IntentKind  string        `yaml:"intent_kind"`
	Steps       []ExampleStep `yaml:"steps"`
	ExampleStep `yaml:",inline"`
}

// ExampleStep is one step of a GateExample.
type ExampleStep struct {
	Kind     string   `yaml:"kind"`
	Path     string   `yaml:"path"`
	Paths    []string `yaml:"paths"`
	From     string   `yaml:"from"`
	To       string   `yaml:"to"`
	Content  string   `yaml:"content"`
	Diff     string   `yaml:"diff"`
	Argv     []string `yaml:"argv"`
	Network  bool     `yaml:"network"`
	StepRisk string   `yaml:"step_risk"`
	// LinesAdded and LinesRemoved synthesise content (write) or a diff
	// (patch) of that many lines when Content and Diff are empty.
	LinesAdded   int `yaml:"lines_added"`
	LinesRemoved int `yaml:"lines_removed"`
	// Bytes synthesises a write of that many bytes on one line when
	// Content is empty (for rules on plan.bytes_changed).
	Bytes int `yaml:"bytes"`
	// Repeat makes N copies of the step; "{n}" in paths becomes 1..N.
	Repeat int `yaml:"repeat"`
}

// IsZero reports whether no step field is set.
func (s ExampleStep) IsZero() bool {
	return s.Kind == "" && s.Path == "" && len(s.Paths) == 0 && s.From == "" && s.To == "" &&
		s.Content == "" && s.Diff == "" && len(s.Argv) == 0 && !s.Network && s.StepRisk == "" &&
		s.LinesAdded == 0 && s.LinesRemoved == 0 && s.Bytes == 0 && s.Repeat == 0
}

// AutoApprove is a standing approval: in full_auto, a plan that needs
// approval runs only when an auto_approve rule covers every rule holding it.
// A change to the policy file itself is never covered.
type AutoApprove struct {
	ID   string `yaml:"id"`
	When string `yaml:"when"` // CEL condition, same variables as gates
	// Rules lists the gate ids this standing approval may cover; empty: all.
	Rules   []string `yaml:"rules"`
	Message string   `yaml:"message"`
}

// Redact configures secret redaction.
type Redact struct {
	// Patterns are extra regular expressions (RE2) whose matches are
	// redacted from the audit log and ReviewPacks and count as secrets for
	// the gates.
	Patterns []string `yaml:"patterns"`
}

var gateIDRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`) })

// validateGates checks what needs no CEL: ids, effects, approvers and
// patterns. The policy package type-checks the conditions.
func validateGates(c *Config) error {
	seen := map[string]bool{}
	for i, g := range c.Gates {
		where := fmt.Sprintf("gates[%d]", i)
		if g.ID == "" {
			return fmt.Errorf("%s: id is required", where)
		}
		if !gateIDRe().MatchString(g.ID) || strings.HasPrefix(g.ID, "builtin.") {
			return fmt.Errorf("%s: id %q must be lower-case letters, digits, '.', '_' or '-' and not start with \"builtin.\"", where, g.ID)
		}
		if seen[g.ID] {
			return fmt.Errorf("%s: duplicate gate id %q", where, g.ID)
		}
		seen[g.ID] = true
		where = fmt.Sprintf("gates[%d] (%s)", i, g.ID)
		if strings.TrimSpace(g.When) == "" {
			return fmt.Errorf("%s: when is required (a CEL condition)", where)
		}
		switch g.Effect {
		case "allow", "require_approval", "deny":
		default:
			return fmt.Errorf("%s: effect %q must be allow, require_approval or deny", where, g.Effect)
		}
		if g.Approvals < 0 {
			return fmt.Errorf("%s: approvals must be 1 or more, got %d", where, g.Approvals)
		}
		if g.Effect != "require_approval" && (g.Approvals > 0 || len(g.Approvers) > 0) {
			return fmt.Errorf("%s: approvers and approvals apply only to effect require_approval", where)
		}
		if err := validApprovers(where+".approvers", g.Approvers); err != nil {
			return err
		}
		n := g.Approvals
		if n == 0 {
			n = 1
		}
		pool := g.Approvers
		if len(pool) == 0 {
			pool = c.Approvers
		}
		if len(pool) > 0 && n > len(pool) {
			return fmt.Errorf("%s: approvals: %d but only %d approvers are listed", where, n, len(pool))
		}
	}
	if err := validApprovers("approvers", c.Approvers); err != nil {
		return err
	}
	for i, a := range c.AutoApprove {
		where := fmt.Sprintf("auto_approve[%d]", i)
		if a.ID == "" || !gateIDRe().MatchString(a.ID) {
			return fmt.Errorf("%s: id %q must be lower-case letters, digits, '.', '_' or '-'", where, a.ID)
		}
		if seen[a.ID] {
			return fmt.Errorf("%s: duplicate id %q", where, a.ID)
		}
		seen[a.ID] = true
		if strings.TrimSpace(a.When) == "" {
			return fmt.Errorf("%s (%s): when is required (a CEL condition)", where, a.ID)
		}
	}
	for i, p := range c.Redact.Patterns {
		if _, err := regexp.Compile(p); err != nil {
			return fmt.Errorf("redact.patterns[%d]: %v", i, err)
		}
		if regexp.MustCompile(p).MatchString("") {
			return fmt.Errorf("redact.patterns[%d]: %q matches the empty string; make it match a secret", i, p)
		}
	}
	return nil
}

func validApprovers(where string, names []string) error {
	for _, n := range names {
		switch {
		case strings.TrimSpace(n) == "" || n == "human:":
			return fmt.Errorf("%s: empty approver name", where)
		case strings.HasPrefix(n, "agent:") || n == "system":
			return fmt.Errorf("%s: %q is not a human; only humans may approve", where, n)
		}
		// "human:agent:x", "Agent:planner", "System": names that read as
		// another actor kind never stand for a person.
		if err := agentos.ValidHumanName(strings.TrimPrefix(n, "human:")); err != nil {
			return fmt.Errorf("%s: %v", where, err)
		}
	}
	return nil
}
