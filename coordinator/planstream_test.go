package coordinator

import (
	"encoding/base64"
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
	p := onlyPlan(t, c, task.ID)
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

// A large block scalar is decoded over the file's text (never beside it):
// the task's source is the file read again, redacted as any source is
// (a token in a comment), the plan holds the decoded value, a file that
// does not parse is audited by its hash, and a file that changes before it
// is read again is refused with no task.
func TestLargeBlockPlanFileIsDecodedInPlace(t *testing.T) {
	c, dir := gateCoordinator(t)
	ctx := t.Context()
	line := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"
	n := agentos.StreamMin/len(line) + 64
	content := strings.Repeat(line, n)
	token := "ghp_R8xQ2mK9vL4nP7tY1wE5zC3bH6jF0dS8aG2u"
	text := "version: 1\ngoal: a large block # " + token + "\nsteps:\n  - write:\n      path: big.txt\n      content: |\n" + strings.Repeat("        "+line, n) + "verify:\n  - argv: [\"true\"]\n"
	file := filepath.Join(dir, "block.plan.yaml")
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
	src, err := c.taskSource(ctx, stored)
	if err != nil || strings.Contains(src, token) || src != strings.Replace(text, token, c.redact(token), 1) {
		t.Fatalf("the task's source is not the file as submitted, redacted (%d bytes, want %d; token kept: %v): %v", len(src), len(text), strings.Contains(src, token), err)
	}
	p := onlyPlan(t, c, task.ID)
	if len(p.Steps) != 1 || p.Steps[0].Content != content {
		t.Fatalf("the plan's content is not the block's value (%d steps)", len(p.Steps))
	}

	bad := strings.Replace(text, "steps:", "stepz:", 1)
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PlanFile(ctx, PlanRequest{File: file, Mode: agentos.ModeSemiAuto, Actor: agentos.Human("ann")}); agentos.ErrorCode(err) != agentos.EINVALID || !strings.Contains(err.Error(), "stepz") {
		t.Fatalf("a large plan file that does not parse = %v", err)
	}
	evs, err := c.DB.Events(ctx, agentos.EventFilter{Kind: agentos.EventPlanRefused})
	if err != nil || len(evs) == 0 || !strings.Contains(string(evs[len(evs)-1].Data), agentos.BlobHash(bad)) {
		t.Fatalf("the refusal is not audited with the file's hash: %v", err)
	}

	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := c.DB.Tasks(ctx, agentos.TaskFilter{})
	planTextAgainHook = func() { os.WriteFile(file, []byte(strings.Replace(text, "abcde\n", "abcdf\n", 1)), 0o644) }
	defer func() { planTextAgainHook = nil }()
	if _, err := c.PlanFile(ctx, PlanRequest{File: file, Mode: agentos.ModeSemiAuto, Actor: agentos.Human("ann")}); agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Fatalf("a plan file changed between its reads = %v, want ECONFLICT", err)
	}
	if after, _ := c.DB.Tasks(ctx, agentos.TaskFilter{}); len(after) != len(before) {
		t.Fatalf("a plan file changed between its reads left a task (%d tasks, were %d)", len(after), len(before))
	}
}

// A large quoted scalar with escapes and large !!binary content are decoded
// over the file's text too: the task's source is still the file as
// submitted (read again, redacted), and the plan holds the decoded value.
func TestLargeEscapedAndBinaryPlanFilesAreDecodedInPlace(t *testing.T) {
	c, dir := gateCoordinator(t)
	ctx := t.Context()
	token := "ghp_R8xQ2mK9vL4nP7tY1wE5zC3bH6jF0dS8aG2u"
	n := agentos.StreamMin/64 + 64
	escaped := strings.Repeat(`\tfmt.Println(\"caf\u00e9 \\ ok\", x[i]) // 0123456789abcdefghijklmnopq\n`, n)
	content := strings.Repeat("\tfmt.Println(\"caf\u00e9 \\ ok\", x[i]) // 0123456789abcdefghijklmnopq\n", n)
	b64 := base64.StdEncoding.EncodeToString([]byte(content))
	var lines strings.Builder
	for i := 0; i < len(b64); i += 76 {
		lines.WriteString("        " + b64[i:min(i+76, len(b64))] + "\n")
	}
	for name, text := range map[string]string{
		"escaped": "version: 1\ngoal: a large escaped line # " + token + "\nsteps:\n  - write: {path: big.txt, content: \"" + escaped + "\"}\nverify:\n  - argv: [\"true\"]\n",
		"binary":  "version: 1\ngoal: large binary content # " + token + "\nsteps:\n  - write:\n      path: big.txt\n      content: !!binary |\n" + lines.String() + "verify:\n  - argv: [\"true\"]\n",
	} {
		file := filepath.Join(dir, name+".plan.yaml")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		task, err := c.PlanFile(ctx, PlanRequest{File: file, Mode: agentos.ModeSemiAuto, Actor: agentos.Human("ann")})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		stored, err := c.DB.Task(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		src, err := c.taskSource(ctx, stored)
		if err != nil || src != strings.Replace(text, token, c.redact(token), 1) {
			t.Fatalf("%s: the task's source is not the file as submitted, redacted (%d bytes, want %d): %v", name, len(src), len(text), err)
		}
		p := onlyPlan(t, c, task.ID)
		if len(p.Steps) != 1 || p.Steps[0].Content != content {
			t.Fatalf("%s: the plan's content is not the decoded value (%d steps)", name, len(p.Steps))
		}
	}
}

// onlyPlan is task's one plan, with its bodies.
func onlyPlan(t *testing.T, c *Coordinator, task string) *agentos.Plan {
	t.Helper()
	plans, err := c.DB.PlansOf(t.Context(), task)
	if err != nil || len(plans) != 1 {
		t.Fatalf("plans of task %s: %v %v", task, plans, err)
	}
	p, _, err := c.DB.Plan(t.Context(), plans[0][0])
	if err != nil {
		t.Fatal(err)
	}
	return p
}
