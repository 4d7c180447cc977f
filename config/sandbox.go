package config

import "fmt"

// Sandbox configures the OS sandbox every command runs in.
type Sandbox struct {
	// Require refuses to run a command when the kernel lacks what the policy
	// needs. nil means true; only an explicit false allows unconfined runs.
	Require *bool `yaml:"require"`
	// ReadOnly lists extra paths commands may read (toolchains, caches).
	ReadOnly []string `yaml:"read_only"`
	// Network allows network access for every command (default: none).
	Network bool `yaml:"network"`
	// Limits bound each command's resources; zero fields keep the defaults.
	Limits SandboxLimits `yaml:"limits"`
}

// SandboxLimits are per-command resource limits.
type SandboxLimits struct {
	// CPUSeconds is CPU time (not wall clock; the timeout is exec.default_timeout).
	CPUSeconds uint64 `yaml:"cpu_seconds"`
	// MemoryMB bounds address space; Go and JVM programs reserve far more
	// than they use, so keep it at 2048 or more for them.
	MemoryMB uint64 `yaml:"memory_mb"`
	// Processes bounds processes and threads together.
	Processes uint64 `yaml:"processes"`
	// FileSizeMB bounds the size of any file a command writes.
	FileSizeMB uint64 `yaml:"file_size_mb"`
	// OpenFiles bounds open file descriptors.
	OpenFiles uint64 `yaml:"open_files"`
}

// Required reports whether a missing sandbox feature must refuse the run.
func (s Sandbox) Required() bool { return s.Require == nil || *s.Require }

func init() {
	sectionValidators = append(sectionValidators, func(c *Config) error {
		l := c.Sandbox.Limits
		if l.MemoryMB != 0 && l.MemoryMB < 64 {
			return fmt.Errorf("sandbox.limits.memory_mb: %d is too small to start most programs; use 64 or more (0 keeps the default)", l.MemoryMB)
		}
		if l.Processes != 0 && l.Processes < 8 {
			return fmt.Errorf("sandbox.limits.processes: %d is too small for a shell pipeline; use 8 or more (0 keeps the default)", l.Processes)
		}
		if l.OpenFiles != 0 && l.OpenFiles < 16 {
			return fmt.Errorf("sandbox.limits.open_files: %d is too small; use 16 or more (0 keeps the default)", l.OpenFiles)
		}
		return nil
	})
}
