package config

// Sandbox configures the OS sandbox every command runs in.
type Sandbox struct {
	// Require refuses to run a command when the kernel lacks what the policy
	// needs. nil means true; only an explicit false allows unconfined runs.
	Require *bool `yaml:"require"`
	// ReadOnly lists extra paths commands may read (toolchains, caches).
	ReadOnly []string `yaml:"read_only"`
	// Network allows network access for every command (default: none).
	Network bool `yaml:"network"`
}

// Required reports whether a missing sandbox feature must refuse the run.
func (s Sandbox) Required() bool { return s.Require == nil || *s.Require }
