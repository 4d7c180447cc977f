package coordinator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentos/agentos"
)

// Red line 5: a run that panics midway still ends with a failed task and a
// ReviewPack; the target branch is untouched.
func TestPanickingRunStillWritesReviewPack(t *testing.T) {
	c, dir := gateCoordinator(t)
	ctx := t.Context()
	plan := filepath.Join(dir, "p.yaml")
	os.WriteFile(plan, []byte("version: 1\ngoal: g\nsteps:\n  - write: {path: a.txt, content: \"a\\n\"}\nverify:\n  - argv: [\"true\"]\n"), 0o644)
	head, _ := c.Repo.BranchHead(ctx, "main")
	c.Progress = func(ev ProgressEvent) {
		if ev.Phase == "apply" && ev.Done {
			panic("boom")
		}
	}
	task, err := c.Run(ctx, PlanRequest{File: plan, Mode: agentos.ModeSemiAuto, Actor: agentos.Human("ann")})
	if agentos.ErrorCode(err) != agentos.EINTERNAL || !strings.Contains(err.Error(), "boom") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Run = %v; want a one-line internal error naming the panic", err)
	}
	got, _ := c.DB.Task(ctx, task.ID)
	if got.State != agentos.StateFailed {
		t.Fatalf("state = %s, want failed", got.State)
	}
	rp, md, err := c.DB.Review(ctx, task.ID)
	if err != nil || rp.Outcome != agentos.StateFailed || rp.Run == "" || !strings.Contains(md, "boom") {
		t.Fatalf("ReviewPack = %+v, %v", rp, err)
	}
	if _, err := os.Stat(c.ReviewPath(task.ID, rp.Run) + ".md"); err != nil {
		t.Fatalf("ReviewPack file: %v", err)
	}
	if now, _ := c.Repo.BranchHead(ctx, "main"); now != head {
		t.Fatalf("main moved from %s to %s", head, now)
	}
}
