// Package config loads agentos.yaml, the repository's policy: allowlists,
// command rules, sandbox, modes, gates, scheduler rules, memory and planners.
//
// The file is code: it is reviewed and versioned, and its hash (over the raw
// bytes) is pinned in every plan, so any edit makes earlier plans and
// approvals stale. Unknown keys and wrong types are load errors naming the
// line. Each section's type lives in its own file of this package.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
	"go.yaml.in/yaml/v3"
)

// FileName is the policy file at the repository root.
const FileName = agentos.PolicyFile

// Config is the parsed policy file.
type Config struct {
	Version int `yaml:"version"`
	// Target is the branch verified commits integrate into.
	Target string `yaml:"target"`
	// Commands is the command allowlist (red line 3) and prefix rules.
	Commands Commands `yaml:"commands"`
	// Exec sets defaults for exec steps and verify checks.
	Exec Exec `yaml:"exec"`
	// Sandbox confines every command (issue: sandbox).
	Sandbox Sandbox `yaml:"sandbox"`
	// Modes sets autonomy-mode budgets.
	Modes Modes `yaml:"modes"`
	// Memory configures the MemoryPack.
	Memory Memory `yaml:"memory"`
	// Gates are policy-as-code rules over plans.
	Gates []Gate `yaml:"gates"`
	// Approvers may approve plans that need a human.
	Approvers []string `yaml:"approvers"`
	// Signers are the people who may answer, approve or administer, each
	// known by SSH public key(s) (config/signers.go); none: solo use.
	Signers []Signer `yaml:"signers"`
	// Approvals holds the rules every approval follows (four eyes).
	Approvals Approvals `yaml:"approvals"`
	// AutoApprove are standing approvals for full_auto (config/gates.go).
	AutoApprove []AutoApprove `yaml:"auto_approve"`
	// Redact adds secret patterns to the built-in ones.
	Redact Redact `yaml:"redact"`
	// Scheduler rules decide dispatch order and holds.
	Scheduler Scheduler `yaml:"scheduler"`
	// Planner selects who proposes plans for natural-language requests.
	Planner Planner `yaml:"planner"`
	// Retention says how long worktrees of finished tasks are kept.
	Retention Retention `yaml:"retention"`
	// Integration says where verified commits land (config/integration.go).
	Integration Integration `yaml:"integration"`
	// Store selects the database (config/store.go); empty: SQLite in .agentos/.
	Store Store `yaml:"store"`
	// Audit names the audit key and pins its public half (config/audit.go).
	Audit Audit `yaml:"audit"`
	// Verify gives plans without checks the policy's default and decides
	// whether a plan with none may commit (config/verify.go).
	Verify Verify `yaml:"verify"`
	// Limits bound plan files, files, goals and answers (config/limits.go).
	Limits Limits `yaml:"limits"`
	// Commit signs AgentOS's commits (config/commit.go).
	Commit Commit `yaml:"commit"`
	// Webhooks POST task state changes to receivers (config/webhooks.go).
	Webhooks Webhooks `yaml:"webhooks"`
	// MCP governs the MCP gateway, `agentos mcp proxy` (config/mcp.go).
	MCP MCP `yaml:"mcp"`
	// BlockedExpiresAfter cancels a task blocked longer than this (e.g. "72h"); empty: never.
	BlockedExpiresAfter string `yaml:"blocked_expires_after"`
	// Budgets bound what model calls may consume; Prices say what a
	// model's tokens cost (config/budget.go).
	Budgets Budgets `yaml:"budgets"`
	Prices  Prices  `yaml:"prices"`
	// Otel exports traces, metrics and audit logs (config/otel.go).
	Otel Otel `yaml:"otel"`

	// Hash is "sha256:…" of the file's bytes (the policy hash).
	Hash string `yaml:"-"`
	// Raw is the file as read.
	Raw []byte `yaml:"-"`
}

// Exec holds defaults for every command AgentOS runs.
type Exec struct {
	// EnvAllow lists the parent's environment variables a command may see.
	EnvAllow []string `yaml:"env_allow"`
	// DefaultTimeout applies to steps and checks without their own.
	DefaultTimeout string `yaml:"default_timeout"`
}

// Modes holds per-mode settings.
type Modes struct {
	SemiAuto ModeSettings `yaml:"semi_auto"`
	// FullAuto exists only so that a budget set here is refused (red line 2).
	FullAuto    ModeSettings `yaml:"full_auto"`
	Interactive ModeSettings `yaml:"interactive"`
	Default     string       `yaml:"default"`
}

// ModeSettings holds one mode's settings.
type ModeSettings struct {
	QuestionBudget *int `yaml:"question_budget"`
}

// Retention says what is kept after a task ends.
type Retention struct {
	// Worktrees: "keep" (default; removed by `agentos task clean`) or a duration.
	Worktrees string `yaml:"worktrees"`
}

// Load reads and validates the policy file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, agentos.Errorf(agentos.ENOTFOUND, "no %s at %s: run `agentos init` first", FileName, path)
	}
	if err != nil {
		return nil, agentos.WrapError(agentos.EINVALID, err, "cannot read %s: %v", path, err)
	}
	return Parse(b, path)
}

// Parse parses and validates policy bytes; name is used in messages.
func Parse(b []byte, name string) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, agentos.WrapError(agentos.EINVALID, err, "%s: %s", name, YAMLError(err))
	}
	c.Raw = b
	c.Hash = canonjson.Sum(b)
	if err := c.Validate(); err != nil {
		return nil, agentos.WrapError(agentos.EINVALID, err, "%s: %v", name, err)
	}
	return c, nil
}

// Validate checks cross-field rules. Section validators live beside their types.
func (c *Config) Validate() error {
	if c.Version != 1 {
		return fmt.Errorf("version: must be 1, got %d", c.Version)
	}
	if c.Modes.FullAuto.QuestionBudget != nil {
		return fmt.Errorf("modes.full_auto.question_budget: full_auto allows no questions (red line 2); remove this setting")
	}
	if b := c.Modes.SemiAuto.QuestionBudget; b != nil && *b < 0 {
		return fmt.Errorf("modes.semi_auto.question_budget: must be 0 or more, got %d", *b)
	}
	if c.Modes.Default != "" {
		if _, err := agentos.ParseMode(c.Modes.Default); err != nil {
			return fmt.Errorf("modes.default: %v", err)
		}
	}
	if w := c.Retention.Worktrees; w != "" && w != "keep" {
		if d, err := time.ParseDuration(w); err != nil || d < 0 {
			return fmt.Errorf("retention.worktrees: %q is not a duration (e.g. 168h) or \"keep\"", w)
		}
	}
	if t := c.Exec.DefaultTimeout; t != "" {
		// "10 minutes" used to fall back to the default silently.
		if d, err := time.ParseDuration(t); err != nil || d <= 0 {
			return fmt.Errorf("exec.default_timeout: %q is not a positive duration (e.g. 90s, 10m, 1h)", t)
		}
	}
	if c.BlockedExpiresAfter != "" {
		if d, err := time.ParseDuration(c.BlockedExpiresAfter); err != nil || d <= 0 {
			return fmt.Errorf("blocked_expires_after: %q is not a positive duration (e.g. 72h)", c.BlockedExpiresAfter)
		}
	}
	if err := c.Integration.validate(); err != nil {
		return err
	}
	// Each section's own checks, in its file; the list is explicit so
	// what validates a policy is read here, not assembled by init funcs.
	for _, v := range []func(*Config) error{
		validateCommands, validateGates, validateMemory, validatePlanner, validateSandbox, validateScheduler, validateStore, validateVerify, validateLimits, validateAudit, validateCommit, validateSigners, validateWebhooks, validateBudgets, validateOtel, validateMCP,
	} {
		if err := v(c); err != nil {
			return err
		}
	}
	return nil
}

// QuestionBudget returns the effective budget for mode; red line 2 is decided
// in agentos.QuestionBudget, never here.
func (c *Config) QuestionBudget(mode agentos.Mode) int {
	configured := -1
	if mode == agentos.ModeSemiAuto && c.Modes.SemiAuto.QuestionBudget != nil {
		configured = *c.Modes.SemiAuto.QuestionBudget
	}
	return agentos.QuestionBudget(mode, configured)
}

// YAMLError turns a yaml.v3 error into one readable line: "line N: …".
func YAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, 0, len(te.Errors))
		for _, m := range te.Errors {
			msgs = append(msgs, humanYAML(m))
		}
		return strings.Join(msgs, "; ")
	}
	return humanYAML(strings.TrimPrefix(err.Error(), "yaml: "))
}

// yaml.v3's messages name Go types, which mean nothing to someone editing
// agentos.yaml; these rewrite them in the file's terms.
var (
	yamlUnknownRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`not found in type [\w.]+`) })
	yamlTypeRe    = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile("cannot unmarshal !!(\\w+)(?: (`[^`]*`))? into ([\\w.\\[\\]*]+)")
	})
)

func yamlKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "a mapping"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	}
	return "a " + goType
}

func humanYAML(m string) string {
	m = strings.TrimPrefix(m, "yaml: ")
	m = yamlUnknownRe().ReplaceAllString(m, "is not a known key here")
	m = yamlTypeRe().ReplaceAllStringFunc(m, func(x string) string {
		g := yamlTypeRe().FindStringSubmatch(x)
		val := g[2]
		if val == "" || g[1] == "seq" || g[1] == "map" {
			val = "a " + map[string]string{"seq": "list", "map": "mapping", "str": "string", "int": "number", "bool": "bool"}[g[1]]
		}
		return fmt.Sprintf("wrong type: %s, want %s", val, yamlKind(g[3]))
	})
	return strings.TrimSpace(m)
}
