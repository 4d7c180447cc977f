package memstore

import (
	"context"

	"github.com/agentos/agentos"
)

// AddUsage implements agentos.UsageStore.
func (s *Store) AddUsage(ctx context.Context, u agentos.ModelUsage, actor agentos.Actor) (agentos.ModelUsage, error) {
	if err := agentos.CheckUsage(u); err != nil {
		return u, err
	}
	if u.Time.IsZero() {
		u.Time = s.now()
	}
	u.Time = u.Time.UTC()
	d, err := s.begin(ctx)
	if err != nil {
		return u, err
	}
	defer d.mu.Unlock()
	evs, err := s.chain(d, []agentos.EventInput{{Task: u.Task, Actor: actor, Kind: agentos.EventUsage, Data: u}})
	if err != nil {
		return u, err
	}
	u.ID = d.nextSeq()
	d.usage = append(d.usage, u)
	d.commitEvents(evs)
	return u, nil
}

func usageMatch(f agentos.UsageFilter, u agentos.ModelUsage) bool {
	return (f.Task == "" || u.Task == f.Task) &&
		(f.Since.IsZero() || !u.Time.Before(f.Since)) &&
		(f.Until.IsZero() || u.Time.Before(f.Until))
}

// Usage implements agentos.UsageStore.
func (s *Store) Usage(ctx context.Context, f agentos.UsageFilter) ([]agentos.ModelUsage, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var out []agentos.ModelUsage
	for _, u := range d.usage {
		if usageMatch(f, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// UsageTotal implements agentos.UsageStore.
func (s *Store) UsageTotal(ctx context.Context, f agentos.UsageFilter) (agentos.UsageTotal, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return agentos.UsageTotal{}, err
	}
	defer d.mu.Unlock()
	var t agentos.UsageTotal
	for _, u := range d.usage {
		if usageMatch(f, u) {
			t.Add(u)
		}
	}
	return t, nil
}
