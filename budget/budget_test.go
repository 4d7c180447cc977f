package budget_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/budget"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/storetest/memstore"
)

func f(v float64) *float64 { return &v }

func TestPrices(t *testing.T) {
	p := config.Prices{
		"claude-*":        {Input: 1, Output: 2},
		"claude-sonnet-*": {Input: 3, Output: 15, CacheRead: f(0.3)},
		"gpt-5.5":         {Input: 1.25, Output: 10},
	}
	for _, c := range []struct {
		model string
		want  int64
		ok    bool
	}{
		{"claude-sonnet-4", 3*100 + 15*10 + 0.3*1000 + 3*10, true}, // the longer pattern wins; cache_write defaults to input
		{"claude-haiku", 100 + 20 + 1000 + 10, true},
		{"gpt-5.5", 125 + 100 + 1250 + 13, true}, // 12.5 rounds to 13 in the sum
		{"gpt-5.5-mini", 0, false},
	} {
		pr, ok := p.Lookup(c.model)
		if ok != c.ok {
			t.Fatalf("Lookup(%s) ok = %v", c.model, ok)
		}
		if got := pr.CostMicroUSD(100, 10, 1000, 10); ok && got != c.want {
			t.Errorf("%s: cost %d µ$, want %d", c.model, got, c.want)
		}
	}
}

func TestParseRaise(t *testing.T) {
	for _, c := range []struct {
		id, v string
		spent int64
		want  int64
		ok    bool
	}{
		{"budget.task.cost_usd", "5", 0, 5_000_000, true},
		{"budget.task.cost_usd", "$2.50", 2_000_000, 2_500_000, true},
		{"budget.task.cost_usd", "2", 2_000_000, 0, false}, // not above the spend
		{"budget.day.tokens", "1000", 10, 1000, true},
		{"budget.day.tokens", "1e3", 0, 0, false},
		{"budget.day.tokens", "-5", 0, 0, false},
		{"budget.task.cost_usd", "NaN", 0, 0, false},
	} {
		got, err := budget.ParseRaise(c.id, c.v, c.spent)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseRaise(%s, %q, %d) = %d, %v", c.id, c.v, c.spent, got, err)
		}
	}
	if s := budget.FormatUSD(800); s != "$0.0008" {
		t.Errorf("FormatUSD(800) = %s", s)
	}
	if s := budget.FormatUSD(5_000_000); s != "$5.00" {
		t.Errorf("FormatUSD(5e6) = %s", s)
	}
}

// The meter prices by the policy, else keeps a reported cost, else counts
// tokens only; limits are reached at the limit, and a raise by a person
// replaces the policy's for the task.
func TestMeter(t *testing.T) {
	ctx := context.Background()
	st := memstore.Open()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	m := &budget.Meter{Store: st, Task: "t1", Now: func() time.Time { return now },
		Budgets: config.Budgets{Task: config.BudgetLimit{CostUSD: 0.001}, Day: config.BudgetLimit{Tokens: 10_000}},
		Prices:  config.Prices{"m": {Input: 2, Output: 10}}}
	if err := m.Check(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := m.Record(ctx, agentos.ModelUsage{Source: "openai", Model: "m", InputTokens: 100, OutputTokens: 20})
	if err != nil || u.Priced != agentos.PricedPolicy || u.CostMicroUSD != 400 || u.Tokens != 120 {
		t.Fatalf("Record = %+v, %v", u, err)
	}
	if u, _ := m.Record(ctx, agentos.ModelUsage{Source: "contractor:claude", Model: "x", InputTokens: 1, CostMicroUSD: 600}); u.Priced != agentos.PricedReported || u.CostMicroUSD != 600 {
		t.Fatalf("reported cost = %+v", u)
	}
	err = m.Check(ctx)
	e, ok := budget.AsExceeded(err)
	if !ok || e.Name() != "task.cost_usd" || e.Limit.Spent != 1000 || agentos.ErrorCode(err) != agentos.EFAILED {
		t.Fatalf("Check at the limit = %v", err)
	}
	m.Raises = map[string]budget.Raise{"budget.task.cost_usd": {Limit: 2000, By: agentos.Human("ann")}}
	if err := m.Check(ctx); err != nil {
		t.Fatalf("Check after a raise = %v", err)
	}
	if u, _ := m.Record(ctx, agentos.ModelUsage{Source: "openai", Model: "unknown", InputTokens: 10_000}); u.Priced != agentos.PricedNone || u.CostMicroUSD != 0 {
		t.Fatalf("unpriced = %+v", u)
	}
	if e, ok := budget.AsExceeded(m.Check(ctx)); !ok || e.Name() != "day.tokens" {
		t.Fatalf("the day's tokens (10121 of 10000) did not stop it: %v", e)
	}
	// Tomorrow the day limit starts again.
	now = now.Add(24 * time.Hour)
	if err := m.Check(ctx); err != nil {
		t.Fatalf("next day: %v", err)
	}
	s, err := m.Spend(ctx, "day.tokens")
	if err != nil || s.Total.Calls != 3 || s.Total.CostMicroUSD != 1000 || len(s.ByModel) != 3 || s.Exceeded != "day.tokens" {
		t.Fatalf("Spend = %+v, %v", s, err)
	}
	var nilMeter *budget.Meter
	if err := nilMeter.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
