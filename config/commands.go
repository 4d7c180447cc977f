package config

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
