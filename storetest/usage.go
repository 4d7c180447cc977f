package storetest

import (
	"testing"
	"time"

	"github.com/agentos/agentos"
)

// usage: rows come back as recorded, oldest first, with ids; filters by
// task and by a time window (since inclusive, until exclusive) select and
// sum the same rows; every row has its audit event; a bad row leaves
// neither row nor event.
func (s *suite) usage(t *testing.T) {
	st := s.open(t)
	day := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	rows := []agentos.ModelUsage{
		{Time: day.Add(-time.Nanosecond), Task: "t1", Source: "openai", Model: "m1", InputTokens: 10, OutputTokens: 5, Tokens: 15, CostMicroUSD: 100, Priced: agentos.PricedPolicy},
		{Time: day, Task: "t1", Source: "openai", Model: "m1", InputTokens: 20, OutputTokens: 10, Tokens: 30, CostMicroUSD: 200, Priced: agentos.PricedPolicy},
		{Time: day.Add(time.Hour), Task: "t2", Source: "contractor:claude", Model: "m2", InputTokens: 1, OutputTokens: 2, CacheReadTokens: 3, CacheWriteTokens: 4, Tokens: 10, CostMicroUSD: 7, Priced: agentos.PricedReported},
		{Time: day.Add(24 * time.Hour), Task: "t2", Source: "contractor:claude", Model: "m2", Tokens: 1, Priced: agentos.PricedNone},
	}
	var ids []int64
	for _, u := range rows {
		got, err := st.AddUsage(ctx, u, agentos.Agent("openai:m1"))
		must(t, err)
		if got.ID == 0 {
			t.Fatalf("AddUsage returned no id: %+v", got)
		}
		ids = append(ids, got.ID)
	}
	all, err := st.Usage(ctx, agentos.UsageFilter{})
	must(t, err)
	if len(all) != len(rows) {
		t.Fatalf("Usage = %d rows, want %d", len(all), len(rows))
	}
	for i, u := range all {
		want := rows[i]
		want.ID = ids[i]
		if !u.Time.Equal(want.Time) {
			t.Errorf("row %d time = %v, want %v", i, u.Time, want.Time)
		}
		u.Time = want.Time
		if u != want {
			t.Errorf("row %d = %+v, want %+v", i, u, want)
		}
	}
	for _, c := range []struct {
		name string
		f    agentos.UsageFilter
		want agentos.UsageTotal
	}{
		{"all", agentos.UsageFilter{}, agentos.UsageTotal{Calls: 4, Tokens: 56, CostMicroUSD: 307}},
		{"task", agentos.UsageFilter{Task: "t1"}, agentos.UsageTotal{Calls: 2, Tokens: 45, CostMicroUSD: 300}},
		{"day", agentos.UsageFilter{Since: day, Until: day.Add(24 * time.Hour)}, agentos.UsageTotal{Calls: 2, Tokens: 40, CostMicroUSD: 207}},
		{"task and day", agentos.UsageFilter{Task: "t1", Since: day, Until: day.Add(24 * time.Hour)}, agentos.UsageTotal{Calls: 1, Tokens: 30, CostMicroUSD: 200}},
		{"none", agentos.UsageFilter{Task: "t3"}, agentos.UsageTotal{}},
	} {
		got, err := st.UsageTotal(ctx, c.f)
		must(t, err)
		if got != c.want {
			t.Errorf("UsageTotal(%s) = %+v, want %+v", c.name, got, c.want)
		}
		list, err := st.Usage(ctx, c.f)
		must(t, err)
		var sum agentos.UsageTotal
		for _, u := range list {
			sum.Add(u)
		}
		if sum != c.want {
			t.Errorf("Usage(%s) sums to %+v, want %+v", c.name, sum, c.want)
		}
	}
	evs, err := st.Events(ctx, agentos.EventFilter{Kind: agentos.EventUsage})
	must(t, err)
	if len(evs) != len(rows) || evs[2].Task != "t2" {
		t.Fatalf("usage.recorded events = %d (want %d, in order)", len(evs), len(rows))
	}
	for _, e := range evs {
		if _, err := agentos.DecodeEvent(e); err != nil {
			t.Errorf("usage event does not decode: %v", err)
		}
	}
	_, head, err := st.ChainHead(ctx)
	must(t, err)
	for _, bad := range []agentos.ModelUsage{
		{Task: "", Source: "openai", Model: "m", Priced: agentos.PricedNone},
		{Task: "t1", Source: "openai", Model: "m", Tokens: -1, Priced: agentos.PricedNone},
		{Task: "t1", Source: "openai", Model: "m", Priced: "guessed"},
	} {
		_, err := st.AddUsage(ctx, bad, agentos.System)
		wantCode(t, err, agentos.EINVALID, "a bad usage row")
	}
	_, head2, err := st.ChainHead(ctx)
	must(t, err)
	if n, _ := st.UsageTotal(ctx, agentos.UsageFilter{}); n.Calls != 4 || head2 != head {
		t.Fatalf("a refused usage row left a trace: %d rows, chain head moved %v", n.Calls, head2 != head)
	}
}
