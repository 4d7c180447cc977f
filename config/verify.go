package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/workspace"
	"go.yaml.in/yaml/v3"
)

// Verify is the promise that every change is verified. A plan that brings
// no verify check of its own (a plan file without verify:, a model's or a
// contractor's plan, a rollback of such a plan) gets Default; a plan left
// with no check at all cannot commit unless AllowUnverified is true, and
// then its ReviewPack and commit message say UNVERIFIED.
type Verify struct {
	// Default are the checks of a plan that brings none, in the shape of a
	// plan file's verify checks.
	Default []VerifyCheck `yaml:"default"`
	// AllowUnverified lets a plan with zero checks commit; only an explicit
	// true does.
	AllowUnverified bool `yaml:"allow_unverified"`
}

// VerifyCheck is one default verify check.
type VerifyCheck struct {
	Name    string   `yaml:"name"`
	Argv    []string `yaml:"argv"`
	Cwd     string   `yaml:"cwd"`
	Timeout string   `yaml:"timeout"`
}

// TimeoutMS returns the check's timeout in milliseconds (0: the exec default).
func (v VerifyCheck) TimeoutMS() int64 {
	d, err := time.ParseDuration(v.Timeout)
	if err != nil {
		return 0
	}
	return d.Milliseconds()
}

// UnverifiedHowTo names the three ways to give a plan a check, for the
// refusals at plan time and at commit.
const UnverifiedHowTo = "add a verify check to the plan (verify: [{argv: [...]}]), set verify.default in agentos.yaml, or set verify.allow_unverified: true there to let unverified changes commit"

// validateVerify checks each default check has a program, a timeout that
// parses and a cwd inside the repository. Whether the program is allowed
// and exists is decided per plan, like any check (red line 3).
func validateVerify(c *Config) error {
	for i, v := range c.Verify.Default {
		where := fmt.Sprintf("verify.default[%d]", i)
		if v.Name != "" {
			where += " (" + v.Name + ")"
		}
		if l := lineOf(c.Raw, "verify", "default", i); l > 0 {
			where = fmt.Sprintf("line %d: %s", l, where)
		}
		if len(v.Argv) == 0 || strings.TrimSpace(v.Argv[0]) == "" {
			return fmt.Errorf("%s: argv must name a program, e.g. argv: [go, test, ./...]", where)
		}
		if v.Timeout != "" {
			if d, err := time.ParseDuration(v.Timeout); err != nil || d <= 0 {
				return fmt.Errorf("%s: timeout %q is not a positive duration (e.g. 30s, 10m)", where, v.Timeout)
			}
		}
		if v.Cwd != "" {
			cc, err := workspace.Clean(v.Cwd)
			if err != nil {
				return fmt.Errorf("%s: cwd: %s", where, agentos.ErrorMessage(err))
			}
			if cc != v.Cwd {
				return fmt.Errorf("%s: cwd %q is not normalised (use %q)", where, v.Cwd, cc)
			}
		}
	}
	return nil
}

// lineOf returns the line of the node that keys (mapping keys and list
// indexes) lead to in raw, or 0: validation errors name the line like
// decoding errors do.
func lineOf(raw []byte, keys ...any) int {
	var doc yaml.Node
	if len(raw) == 0 || yaml.Unmarshal(raw, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	n := doc.Content[0]
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return 0
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					next = n.Content[i+1]
				}
			}
			if next == nil {
				return 0
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return 0
			}
			n = n.Content[k]
		}
	}
	return n.Line
}
