package config

import "fmt"

// Commands is red line 3's allowlist plus prefix rules over argv, decided
// by package cmdrule against what will really run: argv[0] resolved to its
// real path (symlinks followed), wrappers (env, nice, timeout, xargs, ...)
// unwrapped, `sh -c` scripts parsed command by command. A command neither
// allowed nor covered by a rule is denied.
type Commands struct {
	// Allow lists programs that may run with any arguments, by name (git)
	// or path; an entry matches the real executable, not the name a
	// symlink gives it.
	Allow []string `yaml:"allow"`
	// Rules are prefix rules with a decision (allow | approve | deny); the
	// strictest matching decision (allow list included) wins.
	Rules []CommandRule `yaml:"rules"`
}

// CommandRule is one prefix rule over argv. An allow rule matches the real
// program and exactly its prefix ("*" for any one argument). Deny and
// approve rules match the program by any name and are loose: a short-flag
// cluster matches in any grouping (-rf matches -r -f and -fr), a long flag
// also as --flag=value, other words in order but not necessarily adjacent
// (git push matches git -C dir push); when some arguments are only known at
// run time (xargs, $VAR, globs) the program alone matches.
//
// A prefix word may list alternatives (`status|diff|log`). Flags, NotFlags
// and MaxArgs narrow a rule to the flags and arguments it may see after
// its prefix (package cmdrule documents how), so a rule can say
// "git branch, listing only".
type CommandRule struct {
	ID       string     `yaml:"id"`
	Prefix   []string   `yaml:"prefix"`
	Decision string     `yaml:"decision"`
	Reason   string     `yaml:"reason"`
	Match    [][]string `yaml:"match"`     // example argvs that must match
	NotMatch [][]string `yaml:"not_match"` // example argvs that must not match
	// Flags, when set, are the only flags the rule covers after the
	// prefix: a command with any other flag is not matched.
	Flags []string `yaml:"flags"`
	// NotFlags are flags that take a command out of the rule.
	NotFlags []string `yaml:"not_flags"`
	// MaxArgs, when set, is how many non-flag words may follow the prefix.
	MaxArgs *int `yaml:"max_args"`
}

// The rules' examples are checked by package cmdrule (cmdrule.New, agentos
// policy test); here only their shape, so a malformed file fails at load.
func validateCommands(c *Config) error {
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
}
