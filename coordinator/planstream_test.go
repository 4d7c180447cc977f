package coordinator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// A plan file of agentos.StreamMin or more is parsed as it is read and
// read again for its text: the task keeps the file as submitted, the plan
// the content it writes, and a file that does not parse is refused and
// audited with its text, as a small one is.
func TestLargePlanFileIsParsedAsRead(t *testing.T) {
	c, dir := gateCoordinator(t)
	ctx := t.Context()
	content := strings.Repeat("y", agentos.StreamMin+4096)
	text := "version: 1\ngoal: a large file\nsteps:\n  - write: {path: big.txt, content: \"" + content + "\"}\nverify:\n  - argv: [\"true\"]\n"
	file := filepath.Join(dir, "big.plan.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	task, err := c.PlanFile(ctx, PlanRequest{File: file, Mode: agentos.ModeSemiAuto, Actor: agentos.Human("ann")})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := c.DB.Task(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if src, err := c.taskSource(ctx, stored); err != nil || src != text {
		t.Fatalf("the task's source is not the file as submitted (%d bytes, want %d): %v", len(src), len(text), err)
	}
	plans, err := c.DB.PlansOf(ctx, task.ID)
	if err != nil || len(plans) != 1 {
		t.Fatalf("plans of the task: %v %v", plans, err)
	}
	p, _, err := c.DB.Plan(ctx, plans[0][0])
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 1 || p.Steps[0].Content != content {
		t.Fatalf("the plan's content is not the file's (%d steps)", len(p.Steps))
	}

	bad := strings.Replace(text, "steps:", "stepz:", 1)
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PlanFile(ctx, PlanRequest{File: file, Mode: agentos.ModeSemiAuto, Actor: agentos.Human("ann")}); agentos.ErrorCode(err) != agentos.EINVALID || !strings.Contains(err.Error(), "stepz") {
		t.Fatalf("a large plan file that does not parse = %v", err)
	}
}
