package config

import (
	"fmt"
	"math"
	"path"
	"sort"
)

// Budgets bound what model calls may consume (docs/budgets.md): tokens and
// cost per task, per UTC day (every task together) and per repository
// (everything this store has recorded). A zero or missing value sets no
// limit. Usage is counted from what the planners and contractors report;
// cost at the prices below.
type Budgets struct {
	Task       BudgetLimit `yaml:"task"`
	Day        BudgetLimit `yaml:"day"`
	Repository BudgetLimit `yaml:"repository"`
}

// BudgetLimit is one scope's limits.
type BudgetLimit struct {
	Tokens  int64   `yaml:"tokens"`
	CostUSD float64 `yaml:"cost_usd"`
}

// Price is a model's price in US dollars per million tokens. Cache reads
// and writes cost the input price unless set.
type Price struct {
	Input      float64  `yaml:"input"`
	Output     float64  `yaml:"output"`
	CacheRead  *float64 `yaml:"cache_read"`
	CacheWrite *float64 `yaml:"cache_write"`
}

// Prices maps a model name, or a pattern (path.Match: "claude-sonnet-*"),
// to its price.
type Prices map[string]Price

// Lookup returns the price of model: its exact entry, else the longest
// pattern matching it.
func (p Prices) Lookup(model string) (Price, bool) {
	if pr, ok := p[model]; ok {
		return pr, true
	}
	var keys []string
	for k := range p {
		if ok, _ := path.Match(k, model); ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return Price{}, false
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) > len(keys[j])
		}
		return keys[i] < keys[j]
	})
	return p[keys[0]], true
}

// CostMicroUSD is what the tokens cost at p, in millionths of a dollar (a
// price per million tokens is exactly micro-dollars per token).
func (p Price) CostMicroUSD(input, output, cacheRead, cacheWrite int64) int64 {
	cr, cw := p.Input, p.Input
	if p.CacheRead != nil {
		cr = *p.CacheRead
	}
	if p.CacheWrite != nil {
		cw = *p.CacheWrite
	}
	return int64(math.Round(float64(input)*p.Input + float64(output)*p.Output + float64(cacheRead)*cr + float64(cacheWrite)*cw))
}

// MicroUSD converts dollars to millionths of a dollar.
func MicroUSD(usd float64) int64 { return int64(math.Round(usd * 1e6)) }

// maxUSD bounds every price and cost limit: a typo of a few zeros is
// caught, not silently a budget nobody meant.
const maxUSD = 1e9

func validateBudgets(c *Config) error {
	for _, s := range []struct {
		name string
		l    BudgetLimit
	}{{"task", c.Budgets.Task}, {"day", c.Budgets.Day}, {"repository", c.Budgets.Repository}} {
		if s.l.Tokens < 0 {
			return fmt.Errorf("budgets.%s.tokens: must be 0 (no limit) or more, got %d", s.name, s.l.Tokens)
		}
		if s.l.CostUSD < 0 || s.l.CostUSD > maxUSD || math.IsNaN(s.l.CostUSD) {
			return fmt.Errorf("budgets.%s.cost_usd: must be between 0 (no limit) and %g, got %g", s.name, maxUSD, s.l.CostUSD)
		}
	}
	for model, p := range c.Prices {
		if _, err := path.Match(model, ""); err != nil {
			return fmt.Errorf("prices: %q is not a valid model pattern: %v", model, err)
		}
		for _, f := range []struct {
			name string
			v    *float64
		}{{"input", &p.Input}, {"output", &p.Output}, {"cache_read", p.CacheRead}, {"cache_write", p.CacheWrite}} {
			if f.v != nil && (*f.v < 0 || *f.v > maxUSD || math.IsNaN(*f.v)) {
				return fmt.Errorf("prices.%s.%s: must be a price in USD per million tokens between 0 and %g, got %g", model, f.name, maxUSD, *f.v)
			}
		}
	}
	return nil
}
