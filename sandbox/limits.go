package sandbox

import (
	"time"

	"github.com/agentos/agentos/config"
)

// LimitsFromConfig converts the policy's sandbox.limits (zero: default).
func LimitsFromConfig(c config.SandboxLimits) Limits {
	return Limits{
		CPU:        time.Duration(c.CPUSeconds) * time.Second,
		Memory:     c.MemoryMB << 20,
		Processes:  c.Processes,
		FileSize:   c.FileSizeMB << 20,
		OpenFiles:  c.OpenFiles,
		BestEffort: c.BestEffort(),
	}
}
