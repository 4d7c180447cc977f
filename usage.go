package agentos

import (
	"context"
	"time"
)

// UsageStore keeps what model calls consumed: one row per call (or per
// usage report of a contractor), counted against the policy's budgets and
// reported by `agentos usage`.
type UsageStore interface {
	// AddUsage records u (its Time set to the store's clock when zero) and
	// appends its usage.recorded audit event in the same transaction. It
	// returns the row as stored, with its ID.
	AddUsage(ctx context.Context, u ModelUsage, actor Actor) (ModelUsage, error)
	// Usage lists the rows f selects, oldest first.
	Usage(ctx context.Context, f UsageFilter) ([]ModelUsage, error)
	// UsageTotal sums the rows f selects.
	UsageTotal(ctx context.Context, f UsageFilter) (UsageTotal, error)
}

// EventUsage is one model call's usage, as recorded (data: ModelUsage).
const EventUsage = "usage.recorded"

// ModelUsage is the usage one model call (a planner's) or one usage report
// (a contractor's) stated, and what it cost at the policy's prices. No
// prompt, answer or key is in it.
type ModelUsage struct {
	ID   int64     `json:"id,omitempty"`
	Time time.Time `json:"time"`
	Task string    `json:"task"`
	// Source is who called the model: "openai" (the LLM planner) or
	// "contractor:claude" (an agent CLI).
	Source           string `json:"source"`
	Model            string `json:"model"`
	InputTokens      int64  `json:"input_tokens"`
	OutputTokens     int64  `json:"output_tokens"`
	CacheReadTokens  int64  `json:"cache_read_tokens,omitempty"`
	CacheWriteTokens int64  `json:"cache_write_tokens,omitempty"`
	// Tokens is what counts against token limits: input, output and cache
	// tokens together.
	Tokens int64 `json:"tokens"`
	// CostMicroUSD is the cost in millionths of a US dollar; Priced says
	// where it comes from: "policy" (the committed prices), "reported" (the
	// contractor's own figure, for a model the policy has no price for) or
	// "unpriced" (neither: the cost is 0 and only tokens count).
	CostMicroUSD int64  `json:"cost_micro_usd"`
	Priced       string `json:"priced"`
}

// Ways a usage row is priced.
const (
	PricedPolicy   = "policy"
	PricedReported = "reported"
	PricedNone     = "unpriced"
)

// UsageFilter selects usage rows: one task's (Task), in a time window
// (Since inclusive, Until exclusive; zero means unbounded).
type UsageFilter struct {
	Task  string
	Since time.Time
	Until time.Time
}

// UsageTotal sums usage rows.
type UsageTotal struct {
	Calls        int64 `json:"calls"`
	Tokens       int64 `json:"tokens"`
	CostMicroUSD int64 `json:"cost_micro_usd"`
}

// Add adds u to the total.
func (t *UsageTotal) Add(u ModelUsage) {
	t.Calls++
	t.Tokens += u.Tokens
	t.CostMicroUSD += u.CostMicroUSD
}

// Spend is what a task's model calls consumed, against its budget, as its
// ReviewPack shows it.
type Spend struct {
	Total   UsageTotal            `json:"total"`
	ByModel map[string]UsageTotal `json:"by_model,omitempty"`
	// Limits are the task's limits in force (the policy's, or a person's
	// raise); Exceeded names the one that stopped it.
	Limits   []BudgetLimit `json:"limits,omitempty"`
	Exceeded string        `json:"exceeded,omitempty"`
}

// BudgetLimit is one limit in force: scope (task, day, repository), metric
// (tokens, cost_usd), the limit and what was spent against it.
type BudgetLimit struct {
	Scope  string `json:"scope"`
	Metric string `json:"metric"`
	Limit  int64  `json:"limit"` // tokens, or micro-USD
	Spent  int64  `json:"spent"`
	// RaisedBy is the person whose signed answer set this limit for the
	// task ("" for the policy's).
	RaisedBy Actor `json:"raised_by,omitempty"`
}

// CheckUsage refuses a usage row no store should keep: no task, source or
// model, a negative count, or an unknown pricing.
func CheckUsage(u ModelUsage) error {
	switch {
	case u.Task == "" || u.Source == "" || u.Model == "":
		return Errorf(EINVALID, "a usage row needs a task, a source and a model (got %q, %q, %q)", u.Task, u.Source, u.Model)
	case u.InputTokens < 0 || u.OutputTokens < 0 || u.CacheReadTokens < 0 || u.CacheWriteTokens < 0 || u.Tokens < 0 || u.CostMicroUSD < 0:
		return Errorf(EINVALID, "usage of task %s: token counts and cost are never negative", u.Task)
	case u.Priced != PricedPolicy && u.Priced != PricedReported && u.Priced != PricedNone:
		return Errorf(EINVALID, "usage of task %s: priced is %q, want policy, reported or unpriced", u.Task, u.Priced)
	}
	return nil
}

// EventBudgetExceeded: a task's model calls reached a limit and the task
// stopped (data: BudgetLimit, the limit reached).
const EventBudgetExceeded = "budget.exceeded"
