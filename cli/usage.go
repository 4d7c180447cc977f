package cli

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/budget"
	"github.com/agentos/agentos/config"
	"github.com/spf13/cobra"
)

// usageRow is one line of `agentos usage`: what the model calls of one
// day, task or model consumed.
type usageRow struct {
	Key              string  `json:"key"`
	Calls            int64   `json:"calls"`
	InputTokens      int64   `json:"input_tokens"`
	OutputTokens     int64   `json:"output_tokens"`
	CacheReadTokens  int64   `json:"cache_read_tokens"`
	CacheWriteTokens int64   `json:"cache_write_tokens"`
	Tokens           int64   `json:"tokens"`
	CostMicroUSD     int64   `json:"cost_micro_usd"`
	CostUSD          float64 `json:"cost_usd"`
	// Unpriced counts calls of a model with no price in the policy and no
	// cost reported: their tokens count, their cost is 0.
	Unpriced int64 `json:"unpriced,omitempty"`
}

func (r *usageRow) add(u agentos.ModelUsage) {
	r.Calls++
	r.InputTokens += u.InputTokens
	r.OutputTokens += u.OutputTokens
	r.CacheReadTokens += u.CacheReadTokens
	r.CacheWriteTokens += u.CacheWriteTokens
	r.Tokens += u.Tokens
	r.CostMicroUSD += u.CostMicroUSD
	r.CostUSD = float64(r.CostMicroUSD) / 1e6
	if u.Priced == agentos.PricedNone {
		r.Unpriced++
	}
}

// usageReport is `agentos usage --json`.
type usageReport struct {
	Since  string     `json:"since,omitempty"`
	Until  string     `json:"until,omitempty"`
	Task   string     `json:"task,omitempty"`
	Total  usageRow   `json:"total"`
	Days   []usageRow `json:"days"`
	Tasks  []usageRow `json:"tasks"`
	Models []usageRow `json:"models"`
	// Limits are the policy's day and repository limits with today's and
	// the repository's spend against them.
	Limits []agentos.BudgetLimit `json:"limits"`
}

func newCmdUsage(f *Factory) *cobra.Command {
	var asJSON bool
	var since, until, task string
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Report what model calls consumed: tokens and cost by day, task and model",
		Long: `Report the tokens and cost of the model calls planners and contractors made, as
they reported them and priced at the policy's prices (docs/budgets.md): totals, by
UTC day, by task and by model, and the day and repository budgets with what was
spent against them.`,
		Example: `  agentos usage
  agentos usage --since 2026-12-01 --json
  agentos usage --task t-1a2b`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var flt agentos.UsageFilter
			for _, d := range []struct {
				flag, v string
				dst     *time.Time
			}{{"--since", since, &flt.Since}, {"--until", until, &flt.Until}} {
				if d.v == "" {
					continue
				}
				t, err := time.Parse(time.DateOnly, d.v)
				if err != nil {
					return usageErr("%s %q: want a UTC day, YYYY-MM-DD", d.flag, d.v)
				}
				*d.dst = t
			}
			if !flt.Until.IsZero() {
				flt.Until = flt.Until.Add(24 * time.Hour) // --until names the last day included
			}
			db, err := f.DBReadOnly(ctx)
			if err != nil {
				return err
			}
			if task != "" {
				t, err := db.Task(ctx, task)
				if err != nil {
					return err
				}
				flt.Task = t.ID
			}
			rows, err := db.Usage(ctx, flt)
			if err != nil {
				return err
			}
			rep := usageReport{Since: since, Until: until, Task: flt.Task, Days: []usageRow{}, Tasks: []usageRow{}, Models: []usageRow{}, Limits: []agentos.BudgetLimit{}}
			days, tasks, models := map[string]*usageRow{}, map[string]*usageRow{}, map[string]*usageRow{}
			for _, u := range rows {
				rep.Total.add(u)
				for _, g := range []struct {
					m   map[string]*usageRow
					key string
				}{{days, u.Time.UTC().Format(time.DateOnly)}, {tasks, u.Task}, {models, u.Model}} {
					r := g.m[g.key]
					if r == nil {
						r = &usageRow{Key: g.key}
						g.m[g.key] = r
					}
					r.add(u)
				}
			}
			rep.Total.Key = "total"
			flat := func(m map[string]*usageRow, byCost bool) []usageRow {
				out := []usageRow{}
				for _, r := range m {
					out = append(out, *r)
				}
				slices.SortFunc(out, func(a, b usageRow) int {
					if byCost {
						if c := cmp.Compare(b.CostMicroUSD, a.CostMicroUSD); c != 0 {
							return c
						}
						if c := cmp.Compare(b.Tokens, a.Tokens); c != 0 {
							return c
						}
					}
					return cmp.Compare(a.Key, b.Key)
				})
				return out
			}
			rep.Days, rep.Tasks, rep.Models = flat(days, false), flat(tasks, true), flat(models, true)
			if cfg, err := f.Config(ctx); err == nil {
				// The repository-wide limits: the task scope has no task here.
				b := cfg.Budgets
				b.Task = config.BudgetLimit{}
				m := &budget.Meter{Store: db, Budgets: b, Prices: cfg.Prices}
				if ls, err := m.Limits(ctx); err == nil {
					rep.Limits = ls
				}
			}
			if asJSON {
				return printJSON(f, rep)
			}
			return printUsage(f, rep)
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "first UTC `day` included (YYYY-MM-DD)")
	cmd.Flags().StringVar(&until, "until", "", "last UTC `day` included (YYYY-MM-DD)")
	cmd.Flags().StringVar(&task, "task", "", "only this `task`'s usage")
	addJSONFlag(cmd, f, &asJSON)
	return cmd
}

func printUsage(f *Factory, rep usageReport) error {
	w := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	if rep.Total.Calls == 0 {
		fmt.Fprintln(w, "no model usage recorded")
	} else {
		fmt.Fprintf(w, "total\t%d calls\t%d tokens\t%s\n", rep.Total.Calls, rep.Total.Tokens, budget.FormatUSD(rep.Total.CostMicroUSD))
		for _, sec := range []struct {
			title string
			rows  []usageRow
		}{{"day", rep.Days}, {"task", rep.Tasks}, {"model", rep.Models}} {
			fmt.Fprintf(w, "\n%s\tcalls\tinput\toutput\tcache\ttokens\tcost\n", strings.ToUpper(sec.title))
			for _, r := range sec.rows {
				cost := budget.FormatUSD(r.CostMicroUSD)
				if r.Unpriced > 0 {
					cost += fmt.Sprintf(" (%d unpriced)", r.Unpriced)
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", r.Key, r.Calls, r.InputTokens, r.OutputTokens, r.CacheReadTokens+r.CacheWriteTokens, r.Tokens, cost)
			}
		}
	}
	if len(rep.Limits) > 0 {
		fmt.Fprintf(w, "\nLIMIT\tspent\tlimit\n")
		for _, l := range rep.Limits {
			fmt.Fprintf(w, "%s %s\t%s\t%s\n", l.Scope, l.Metric, budget.Format(l.Metric, l.Spent), budget.Format(l.Metric, l.Limit))
		}
	}
	return w.Flush()
}
