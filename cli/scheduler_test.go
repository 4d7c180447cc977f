package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/agentos/agentos/scheduler"
)

// TestRunRequestHeldByScheduler: a natural-language `agentos run` passes the
// scheduler rules like every run. A hold rule stops it after planning with
// exit 5 and one line naming the rule; the task stays queued, main is
// untouched, and `scheduler explain` shows the audited decision.
func TestRunRequestHeldByScheduler(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := mustGovernedRepo(t, basePolicy+`planner:
  kind: contractor
  contractor:
    name: custom
    argv: [`+exe+`, __contractor]
    timeout: 1m
verify:
  default:
    - {name: notes exist, argv: [cat, NOTES.md]}
scheduler:
  rules:
    - {id: freeze, when: "'freeze' in task.labels", effect: hold, reason: release freeze until Monday}
`)
	head := gitT(t, dir, "rev-parse", "main")
	code, out, errOut := runCLI(t, "-C", dir, "run", "--label", "freeze", "--json", "write notes")
	if code != ExitHeld {
		t.Fatalf("agentos run: exit %d, want %d\nstdout %s\nstderr %s", code, ExitHeld, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	var fail struct {
		Code     string `json:"code"`
		Error    string `json:"error"`
		ExitCode int    `json:"exit_code"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &fail); err != nil || fail.Code != "held" || fail.ExitCode != ExitHeld ||
		!strings.Contains(fail.Error, "scheduler rule freeze: release freeze until Monday") || strings.Contains(fail.Error, "\n") {
		t.Errorf("stderr = %q; want a JSON error naming the rule and its reason in one line", errOut)
	}
	var task struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &task); err != nil || task.State != "queued" {
		t.Fatalf("task = %+v (%v); want queued\n%s", task, err, out)
	}
	if got := gitT(t, dir, "rev-parse", "main"); got != head {
		t.Errorf("main moved from %s to %s", head, got)
	}
	code, out, errOut = runCLI(t, "-C", dir, "scheduler", "explain", task.ID, "--json")
	if code != 0 {
		t.Fatalf("scheduler explain: exit %d: %s", code, errOut)
	}
	var doc ExplainDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Last == nil || doc.Last.Decision.Action != scheduler.Hold || doc.Last.Decision.RuleID != "freeze" ||
		doc.Last.Decision.RulesHash != doc.RulesHash || doc.RulesChanged || doc.Last.Actor == "system" {
		t.Fatalf("explain = %s; want the run's hold by freeze under the current rules", out)
	}
}
