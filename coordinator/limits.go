package coordinator

import (
	"fmt"
	"io"
	"os"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
)

// Size limits (agentos.yaml limits:, docs/limits.md). Each is checked
// before what it bounds is stored or audited, so an oversized input leaves
// nothing behind but the refusal.

func tooLarge(what string, n, limit int64, setting string) error {
	return agentos.Errorf(agentos.EINVALID, "%s is %s, more than the %s limit: shorten it, or raise limits.%s in %s",
		what, config.SizeOf(n), config.SizeOf(limit), setting, agentos.PolicyFile)
}

// readPlanFile reads a plan file, refusing one larger than
// limits.plan_file_bytes without reading past the limit.
func (c *Coordinator) readPlanFile(name string) ([]byte, error) {
	fh, err := os.Open(name)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, agentos.Errorf(agentos.EINVALID, "plan file %s does not exist", name)
		}
		return nil, agentos.Errorf(agentos.EINVALID, "cannot read plan file %s: %v", name, err)
	}
	defer fh.Close()
	limit := c.Config.Limits.PlanFile()
	if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, tooLarge("plan file "+name, st.Size(), limit, "plan_file_bytes")
	}
	raw, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, agentos.Errorf(agentos.EINVALID, "cannot read plan file %s: %v", name, err)
	}
	if int64(len(raw)) > limit { // grew, or not a regular file
		return nil, agentos.Errorf(agentos.EINVALID, "plan file %s is more than the %s limit: shorten it, or raise limits.plan_file_bytes in %s",
			name, config.SizeOf(limit), agentos.PolicyFile)
	}
	return raw, nil
}

// checkGoal bounds a task's goal and request text.
func (c *Coordinator) checkGoal(t *agentos.Task) error {
	limit := c.Config.Limits.Goal()
	if n := int64(len(t.Goal)); n > limit {
		return tooLarge("the goal", n, limit, "goal_bytes")
	}
	if t.Planner != "file" {
		if n := int64(len(t.Request)); n > limit {
			return tooLarge("the request", n, limit, "goal_bytes")
		}
	}
	return nil
}

// checkTaskInput bounds what a new task brings: its goal and request, and
// the answers given up front.
func (c *Coordinator) checkTaskInput(t *agentos.Task, upfront map[string]string) error {
	if err := c.checkGoal(t); err != nil {
		return err
	}
	return c.checkAnswers(upfront)
}

// checkAnswers bounds each answer value.
func (c *Coordinator) checkAnswers(values map[string]string) error {
	limit := c.Config.Limits.Answer()
	for _, id := range sortedKeys(values) {
		if n := int64(len(values[id])); n > limit {
			return tooLarge(fmt.Sprintf("the answer to %q", id), n, limit, "answer_bytes")
		}
	}
	return nil
}

// checkStepSizes bounds each step's content (a write's bytes, a patch's
// diff) in a plan from any planner.
func (c *Coordinator) checkStepSizes(p *agentos.Plan) error {
	limit := c.Config.Limits.File()
	for i, s := range p.Steps {
		n := int64(max(len(s.Content), len(s.Diff)))
		if n > limit {
			return tooLarge(fmt.Sprintf("step %d (%s %s)", i+1, s.Kind, s.Path), n, limit, "file_bytes")
		}
	}
	return nil
}
