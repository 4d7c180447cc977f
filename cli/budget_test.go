package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/contractor/contractortest"
)

// budgetPolicy has an openai planner at url with a task token limit and a
// price for its model: $2 per million input tokens, $10 per million output.
func budgetPolicy(url, extra string) string {
	return basePolicy + `planner:
  kind: openai
  openai:
    base_url: ` + url + `/v1
    model: test-model
    api_key_env: AGENTOS_E2E_KEY
    max_retries: 0
budgets:
  task: {tokens: 100}
prices:
  test-model: {input: 2, output: 10}
` + extra
}

// latestReview returns the newest ReviewPack of task under .agentos/reviews.
func latestReview(t *testing.T, dir, task string) agentos.ReviewPack {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, ".agentos", "reviews", "*.json"))
	var rp agentos.ReviewPack
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var p agentos.ReviewPack
		if json.Unmarshal(b, &p) == nil && p.Task == task && !p.CreatedAt.Before(rp.CreatedAt) {
			rp = p
		}
	}
	if rp.Task == "" {
		t.Fatalf("no ReviewPack of %s in %v", task, files)
	}
	return rp
}

func modelCalls(fm *fakeModel) int {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	return len(fm.calls)
}

// A multi-call planner crosses the task's token limit mid-run: the intent
// (60 tokens) and a refused plan (60) reach it, so the repair call is never
// made (the model server sees 2 calls, not 3). In semi_auto the task
// blocks on a question; a person's answer below the spend is refused, one
// above it lets the task plan again and commit; the ReviewPack and
// `agentos usage` show the spend.
func TestBudgetStopsPlannerThenRaised(t *testing.T) {
	fm := &fakeModel{}
	srv := httptest.NewServer(fm)
	defer srv.Close()
	t.Setenv("AGENTOS_E2E_KEY", "sk-e2e")
	dir := mustGovernedRepo(t, budgetPolicy(srv.URL, ""))
	code, out, errOut := runCLI(t, "-C", dir, "run", "add a notes file")
	if code != ExitBlocked {
		t.Fatalf("agentos run: exit %d, want %d (blocked at the budget)\nstdout %s\nstderr %s", code, ExitBlocked, out, errOut)
	}
	if n := modelCalls(fm); n != 2 {
		t.Fatalf("the model server saw %d calls, want 2: the call after the limit was reached must not be made", n)
	}
	if !strings.Contains(errOut, "token limit of 100 tokens is reached (120 tokens spent)") || !strings.Contains(errOut, "--set budget.task.tokens=200") {
		t.Errorf("stderr does not say which limit stopped the task and how to raise it:\n%s", errOut)
	}
	task := strings.Fields(out)[1]
	code, out, _ = runCLI(t, "-C", dir, "questions", task, "--json")
	if code != 0 || !strings.Contains(out, `"id": "budget.task.tokens"`) {
		t.Fatalf("agentos questions: exit %d, want the budget question:\n%s", code, out)
	}
	code, _, errOut = runCLI(t, "-C", dir, "answer", task, "--set", "budget.task.tokens=110")
	if code == 0 || !strings.Contains(errOut, "does not raise the limit above what the task has spent (120 tokens)") {
		t.Fatalf("an answer below the spend: exit %d\n%s", code, errOut)
	}
	if n := modelCalls(fm); n != 2 {
		t.Fatalf("a refused answer made %d model calls", n-2)
	}
	code, out, errOut = runCLI(t, "-C", dir, "answer", task, "--set", "budget.task.tokens=1000")
	if code != 0 {
		t.Fatalf("agentos answer: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if got := gitT(t, dir, "show", "main:NOTES.md"); got != "# Notes" {
		t.Errorf("main:NOTES.md = %q", got)
	}
	// Planned again: intent and a good plan, 2 more calls of 60 tokens.
	if n := modelCalls(fm); n != 4 {
		t.Errorf("the model server saw %d calls in all, want 4", n)
	}
	for _, c := range fm.calls {
		if strings.Contains(c, "budget") {
			t.Errorf("the model was told the budget answer: %q", c)
		}
	}
	rp := latestReview(t, dir, task)
	// 4 calls of 50 input and 10 output tokens: 4 × (50×2 + 10×10) = 800 µ$.
	want := agentos.UsageTotal{Calls: 4, Tokens: 240, CostMicroUSD: 800}
	if rp.Spend == nil || rp.Spend.Total != want || rp.Spend.ByModel["test-model"] != want {
		t.Fatalf("ReviewPack spend = %+v, want %+v", rp.Spend, want)
	}
	raised := false
	for _, l := range rp.Spend.Limits {
		if l.Scope == "task" && l.Metric == "tokens" && l.Limit == 1000 && l.Spent == 240 && l.RaisedBy.IsHuman() {
			raised = true
		}
	}
	if !raised || rp.Spend.Exceeded != "task.tokens" {
		t.Errorf("ReviewPack limits = %+v (exceeded %q), want the raised task limit of 1000 by a person", rp.Spend.Limits, rp.Spend.Exceeded)
	}

	code, out, errOut = runCLI(t, "-C", dir, "usage", "--json")
	if code != 0 {
		t.Fatalf("agentos usage: exit %d: %s", code, errOut)
	}
	var rep usageReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("agentos usage --json: %v\n%s", err, out)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	if rep.Total.Calls != 4 || rep.Total.Tokens != 240 || rep.Total.InputTokens != 200 || rep.Total.OutputTokens != 40 || rep.Total.CostMicroUSD != 800 || rep.Total.CostUSD != 0.0008 ||
		len(rep.Days) != 1 || rep.Days[0].Key != today || rep.Days[0].Tokens != 240 ||
		len(rep.Tasks) != 1 || rep.Tasks[0].Key != task || len(rep.Models) != 1 || rep.Models[0].Key != "test-model" || rep.Models[0].CostMicroUSD != 800 {
		t.Errorf("agentos usage --json = %s", out)
	}
	code, out, _ = runCLI(t, "-C", dir, "usage")
	if code != 0 || !strings.Contains(out, "4 calls") || !strings.Contains(out, "$0.0008") || !strings.Contains(out, today) {
		t.Errorf("agentos usage:\n%s", out)
	}
	if evs := auditEvents(t, dir, agentos.EventUsage); len(evs) != 4 {
		t.Errorf("%d usage.recorded audit events, want 4", len(evs))
	}
}

// In full_auto nobody is asked: the task fails at the limit, with the spend
// and the limit reached in its ReviewPack.
func TestBudgetFullAutoFails(t *testing.T) {
	fm := &fakeModel{}
	srv := httptest.NewServer(fm)
	defer srv.Close()
	t.Setenv("AGENTOS_E2E_KEY", "sk-e2e")
	dir := mustGovernedRepo(t, budgetPolicy(srv.URL, ""))
	code, out, errOut := runCLI(t, "-C", dir, "run", "--mode", "full_auto", "add a notes file")
	if code != ExitFailed {
		t.Fatalf("agentos run: exit %d, want %d\nstdout %s\nstderr %s", code, ExitFailed, out, errOut)
	}
	if n := modelCalls(fm); n != 2 {
		t.Fatalf("the model server saw %d calls, want 2", n)
	}
	task := strings.Fields(out)[1]
	rp := latestReview(t, dir, task)
	if rp.Outcome != agentos.StateFailed || rp.Spend == nil || rp.Spend.Exceeded != "task.tokens" || rp.Spend.Total.Tokens != 120 || rp.Spend.Total.CostMicroUSD != 400 {
		t.Fatalf("ReviewPack outcome %s, spend %+v; want failed with 120 tokens, $0.0004 and task.tokens exceeded", rp.Outcome, rp.Spend)
	}
	if _, err := os.Stat(filepath.Join(dir, "NOTES.md")); err == nil {
		t.Errorf("NOTES.md exists")
	}
	mds, _ := filepath.Glob(filepath.Join(dir, ".agentos", "reviews", task+"*.md"))
	var md []byte
	for _, m := range mds {
		b, _ := os.ReadFile(m)
		md = append(md, b...)
	}
	if !strings.Contains(string(md), "## Spend") || !strings.Contains(string(md), "2 model calls, 120 tokens, $0.0004; stopped at the `task.tokens` limit") ||
		!strings.Contains(string(md), "| `test-model` | 2 | 120 | $0.0004 |") {
		t.Errorf("the ReviewPack's Markdown does not show the spend:\n%s", md)
	}
}

// A day limit counts every task: the second task of the day is stopped
// before its first model call.
func TestBudgetDayLimitAcrossTasks(t *testing.T) {
	fm := &fakeModel{plans: 1} // every plan is good: 2 calls, 120 tokens a task
	srv := httptest.NewServer(fm)
	defer srv.Close()
	t.Setenv("AGENTOS_E2E_KEY", "sk-e2e")
	dir := mustGovernedRepo(t, strings.Replace(budgetPolicy(srv.URL, ""), "task: {tokens: 100}", "day: {cost_usd: 0.0004}", 1))
	if code, out, errOut := runCLI(t, "-C", dir, "run", "add a notes file"); code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := runCLI(t, "-C", dir, "run", "add another notes file")
	if code != ExitBlocked || !strings.Contains(errOut, "today's cost limit of $0.0004 is reached ($0.0004 spent)") {
		t.Fatalf("second run: exit %d, want blocked at the day limit\n%s%s", code, out, errOut)
	}
	if n := modelCalls(fm); n != 2 {
		t.Errorf("the model server saw %d calls, want 2 (none for the second task)", n)
	}
}

// A Claude Code contractor is stopped mid-run when its usage reports cross
// the limit: each answer of the scripted model reports 1000 input tokens,
// the limit is 1500, so the run ends at the second answer and the model
// never sees the rest of the conversation.
func TestBudgetStopsContractorMidRun(t *testing.T) {
	bin := contractortest.ClaudeCLI(t)
	var script []func(string) []any
	for i := 1; i <= 4; i++ {
		script = append(script, func(cwd string) []any {
			return contractortest.ToolUse(fmt.Sprintf("toolu_%d", i), "Write", map[string]any{"file_path": filepath.Join(cwd, fmt.Sprintf("f%d.txt", i)), "content": "x\n"})
		})
	}
	f := &contractortest.FakeAnthropic{Script: script, InputTokens: 1000, OutputTokens: 10}
	srv := httptest.NewServer(f)
	defer srv.Close()
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := mustGovernedRepo(t, basePolicy+`planner:
  kind: contractor
  contractor:
    name: claude
    env:
      ANTHROPIC_BASE_URL: `+srv.URL+`
      ANTHROPIC_API_KEY: sk-ant-fake-for-a-local-server
    allow_tcp: [`+strings.TrimPrefix(srv.URL, "http://")+`]
    timeout: 2m
budgets:
  task: {tokens: 1500}
verify:
  default:
    - {name: files exist, argv: [cat, f1.txt]}
`)
	code, out, errOut := runCLI(t, "-C", dir, "run", "write four files")
	if code != ExitBlocked {
		t.Fatalf("agentos run: exit %d, want %d\nstdout %s\nstderr %s", code, ExitBlocked, out, errOut)
	}
	_, turns, _ := f.State()
	if turns > 3 {
		t.Errorf("the model served %d turns of the conversation: the contractor was not stopped at the limit", turns)
	}
	task := strings.Fields(out)[1]
	evs := auditEvents(t, dir, agentos.EventUsage)
	var tokens int64
	for _, e := range evs {
		var u agentos.ModelUsage
		json.Unmarshal(e.Data, &u)
		tokens += u.Tokens
		if u.Source != "contractor:claude" || u.Task != task {
			t.Errorf("usage row %+v", u)
		}
	}
	if tokens < 1500 || tokens > 3100 {
		t.Errorf("recorded %d tokens, want the two answers' 2002 (or a third's)", tokens)
	}
	if files := gitT(t, dir, "ls-tree", "--name-only", "main"); strings.Contains(files, "f1.txt") {
		t.Errorf("the stopped contractor's work landed: %s", files)
	}
	t.Logf("stopped after %d model turns, %d tokens recorded: %s", turns, tokens, strings.TrimSpace(errOut))
}

var _ http.Handler = (*fakeModel)(nil)
