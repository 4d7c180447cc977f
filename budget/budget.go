// Package budget enforces the policy's spending limits on model calls
// (docs/budgets.md): it prices the usage planners and contractors report,
// records it in the store (agentos.UsageStore), and says, before each model
// call and after each usage report, whether a limit is reached. A limit a
// person raised for one task (a signed answer to the question a stopped
// task asks) replaces the policy's for that task.
//
// A Meter travels in the context of a planning run (WithMeter), so the
// model clients that make the calls (planner/openai, contractor) check and
// record through it without the pipeline passing it to every function.
package budget

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
)

// Scopes and metrics of a limit.
const (
	ScopeTask       = "task"
	ScopeDay        = "day"
	ScopeRepository = "repository"
	MetricTokens    = "tokens"
	MetricCost      = "cost_usd"
)

// QuestionPrefix starts the id of the question that asks a person to raise
// a limit: budget.SCOPE.METRIC.
const QuestionPrefix = "budget."

// QuestionID is the id of the question raising scope's metric.
func QuestionID(scope, metric string) string { return QuestionPrefix + scope + "." + metric }

// IsQuestion reports whether a question id asks to raise a limit.
func IsQuestion(id string) bool { return strings.HasPrefix(id, QuestionPrefix) }

// Raise is a limit a person set for one task.
type Raise struct {
	Limit int64 // tokens, or micro-USD
	By    agentos.Actor
}

// Meter prices, records and checks one task's model usage.
type Meter struct {
	Store   agentos.UsageStore
	Task    string
	Budgets config.Budgets
	Prices  config.Prices
	// Raises are the limits people raised for this task, by question id.
	Raises map[string]Raise
	// Actor is who made the calls (the planner's agent identity), as the
	// usage events record it.
	Actor agentos.Actor
	Now   func() time.Time
}

func (m *Meter) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

// Record prices u at the policy's prices (or keeps the cost the reporter
// stated, for a model the policy has no price for), stores it with its
// audit event, and returns it as stored.
func (m *Meter) Record(ctx context.Context, u agentos.ModelUsage) (agentos.ModelUsage, error) {
	if m == nil {
		return u, nil
	}
	u.Task = m.Task
	if u.Time.IsZero() {
		u.Time = m.now() // the clock the day's window is read with
	}
	if u.Tokens == 0 {
		u.Tokens = u.InputTokens + u.OutputTokens + u.CacheReadTokens + u.CacheWriteTokens
	}
	if p, ok := m.Prices.Lookup(u.Model); ok {
		u.CostMicroUSD, u.Priced = p.CostMicroUSD(u.InputTokens, u.OutputTokens, u.CacheReadTokens, u.CacheWriteTokens), agentos.PricedPolicy
	} else if u.CostMicroUSD > 0 {
		u.Priced = agentos.PricedReported
	} else {
		u.CostMicroUSD, u.Priced = 0, agentos.PricedNone
	}
	return m.Store.AddUsage(ctx, u, m.Actor)
}

// Limits returns every limit in force for the task, with what was spent
// against it, in a fixed order (task, day, repository; tokens, cost).
func (m *Meter) Limits(ctx context.Context) ([]agentos.BudgetLimit, error) {
	day := m.now().Truncate(24 * time.Hour)
	scopes := []struct {
		name string
		l    config.BudgetLimit
		f    agentos.UsageFilter
	}{
		{ScopeTask, m.Budgets.Task, agentos.UsageFilter{Task: m.Task}},
		{ScopeDay, m.Budgets.Day, agentos.UsageFilter{Since: day, Until: day.Add(24 * time.Hour)}},
		{ScopeRepository, m.Budgets.Repository, agentos.UsageFilter{}},
	}
	var out []agentos.BudgetLimit
	for _, s := range scopes {
		limits := map[string]int64{MetricTokens: s.l.Tokens, MetricCost: config.MicroUSD(s.l.CostUSD)}
		var by map[string]agentos.Actor
		for _, metric := range []string{MetricTokens, MetricCost} {
			if r, ok := m.Raises[QuestionID(s.name, metric)]; ok {
				limits[metric] = r.Limit
				if by == nil {
					by = map[string]agentos.Actor{}
				}
				by[metric] = r.By
			}
		}
		if limits[MetricTokens] <= 0 && limits[MetricCost] <= 0 {
			continue
		}
		tot, err := m.Store.UsageTotal(ctx, s.f)
		if err != nil {
			return nil, err
		}
		for _, metric := range []string{MetricTokens, MetricCost} {
			if limits[metric] <= 0 {
				continue
			}
			spent := tot.Tokens
			if metric == MetricCost {
				spent = tot.CostMicroUSD
			}
			out = append(out, agentos.BudgetLimit{Scope: s.name, Metric: metric, Limit: limits[metric], Spent: spent, RaisedBy: by[metric]})
		}
	}
	return out, nil
}

// Check returns an error wrapping *Exceeded when a limit is reached (spent
// at or over it): no further model call may be made for the task.
func (m *Meter) Check(ctx context.Context) error {
	if m == nil {
		return nil
	}
	ls, err := m.Limits(ctx)
	if err != nil {
		return err
	}
	for _, l := range ls {
		if l.Spent >= l.Limit {
			e := &Exceeded{Limit: l, Task: m.Task}
			return agentos.WrapError(agentos.EFAILED, e, "%s", e.Error())
		}
	}
	return nil
}

// Spend is the task's spend for its ReviewPack: totals, by model, and the
// limits in force; exceeded names the limit that stopped it, if one did.
func (m *Meter) Spend(ctx context.Context, exceeded string) (*agentos.Spend, error) {
	rows, err := m.Store.Usage(ctx, agentos.UsageFilter{Task: m.Task})
	if err != nil {
		return nil, err
	}
	ls, err := m.Limits(ctx)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 && len(ls) == 0 {
		return nil, nil
	}
	s := &agentos.Spend{Limits: ls, Exceeded: exceeded}
	for _, u := range rows {
		s.Total.Add(u)
		if s.ByModel == nil {
			s.ByModel = map[string]agentos.UsageTotal{}
		}
		t := s.ByModel[u.Model]
		t.Add(u)
		s.ByModel[u.Model] = t
	}
	return s, nil
}

// Exceeded is a reached limit.
type Exceeded struct {
	Limit agentos.BudgetLimit
	Task  string
}

// Name is "scope.metric", as Spend.Exceeded and the question id carry it.
func (e *Exceeded) Name() string { return e.Limit.Scope + "." + e.Limit.Metric }

func (e *Exceeded) Error() string {
	what := map[string]string{ScopeTask: "the task's", ScopeDay: "today's", ScopeRepository: "the repository's"}[e.Limit.Scope]
	return fmt.Sprintf("task %s stopped: %s %s limit of %s is reached (%s spent)", e.Task, what, metricName(e.Limit.Metric), Format(e.Limit.Metric, e.Limit.Limit), Format(e.Limit.Metric, e.Limit.Spent))
}

// AsExceeded finds a reached limit in err's chain.
func AsExceeded(err error) (*Exceeded, bool) {
	var e *Exceeded
	ok := errors.As(err, &e)
	return e, ok
}

func metricName(metric string) string {
	if metric == MetricCost {
		return "cost"
	}
	return "token"
}

// Format renders an amount of metric: tokens as a count, cost in dollars.
func Format(metric string, v int64) string {
	if metric == MetricCost {
		return FormatUSD(v)
	}
	return strconv.FormatInt(v, 10) + " tokens"
}

// FormatUSD renders micro-dollars as dollars, with at least two decimals
// and no trailing zeros beyond them.
func FormatUSD(micro int64) string {
	s := strconv.FormatFloat(float64(micro)/1e6, 'f', 6, 64)
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 3 {
		s = s[:len(s)-1]
	}
	return "$" + s
}

// Question asks a person to raise the limit e reached, for this task only.
// Its default doubles the limit.
func Question(e *Exceeded) agentos.Question {
	unit := "tokens"
	def := strconv.FormatInt(2*e.Limit.Limit, 10)
	if e.Limit.Metric == MetricCost {
		unit = "US dollars"
		def = strings.TrimPrefix(FormatUSD(2*e.Limit.Limit), "$")
	}
	return agentos.Question{
		ID:   QuestionID(e.Limit.Scope, e.Limit.Metric),
		Text: fmt.Sprintf("Raise %s for task %s to how many %s?", strings.TrimPrefix(e.Error(), "task "+e.Task+" stopped: "), e.Task, unit),
		Why: fmt.Sprintf("the budget in the policy stops the task's model calls; a person's signed answer sets a higher %s limit for this task only (%s spent so far)",
			metricName(e.Limit.Metric), Format(e.Limit.Metric, e.Limit.Spent)),
		Kind: agentos.KindText, Options: []string{}, Default: def, Blocker: true,
	}
}

// ParseRaise reads a person's answer to a budget question as the new limit
// (tokens, or micro-USD for a cost); it must be above spent.
func ParseRaise(id, value string, spent int64) (int64, error) {
	metric := id[strings.LastIndexByte(id, '.')+1:]
	v := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(value), "$"))
	var limit int64
	switch metric {
	case MetricTokens:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return 0, agentos.Errorf(agentos.EINVALID, "answer to %q: %q is not a positive whole number of tokens", id, value)
		}
		limit = n
	case MetricCost:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 1e9 {
			return 0, agentos.Errorf(agentos.EINVALID, "answer to %q: %q is not an amount of US dollars (e.g. 5.00)", id, value)
		}
		limit = config.MicroUSD(f)
	default:
		return 0, agentos.Errorf(agentos.EINVALID, "answer to %q: not a budget limit", id)
	}
	if limit <= spent {
		return 0, agentos.Errorf(agentos.EINVALID, "answer to %q: %s does not raise the limit above what the task has spent (%s)", id, Format(metric, limit), Format(metric, spent))
	}
	return limit, nil
}

// RaisesFrom reads the raises among a task's answers (question id to
// value, and who gave each pack), the latest for each limit winning.
func RaisesFrom(packs []agentos.AnswerPack) map[string]Raise {
	out := map[string]Raise{}
	for _, ap := range packs {
		if !ap.Who.IsHuman() {
			continue
		}
		for _, a := range ap.Answers {
			if !IsQuestion(a.Question) {
				continue
			}
			if n, err := ParseRaise(a.Question, a.Value, 0); err == nil {
				out[a.Question] = Raise{Limit: n, By: ap.Who}
			}
		}
	}
	return out
}

// Without returns values without the budget answers (a model is not told
// them: they are AgentOS's, not the task's).
func Without(values map[string]string) map[string]string {
	out := maps.Clone(values)
	for _, k := range slices.Collect(maps.Keys(out)) {
		if IsQuestion(k) {
			delete(out, k)
		}
	}
	return out
}

type ctxKey struct{}

// WithMeter returns ctx carrying m.
func WithMeter(ctx context.Context, m *Meter) context.Context {
	return context.WithValue(ctx, ctxKey{}, m)
}

// FromContext returns the Meter ctx carries, or nil (no budgets: every
// method of a nil *Meter that callers use on the hot path is a no-op).
func FromContext(ctx context.Context) *Meter {
	m, _ := ctx.Value(ctxKey{}).(*Meter)
	return m
}
