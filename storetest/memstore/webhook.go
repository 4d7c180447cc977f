package memstore

import (
	"cmp"
	"context"
	"maps"
	"slices"

	"github.com/agentos/agentos"
)

var _ agentos.WebhookStore = (*Store)(nil)

// WebhookCursor implements agentos.WebhookStore.
func (s *Store) WebhookCursor(ctx context.Context, endpoint string) (*agentos.WebhookCursor, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	c, ok := d.webhooks[endpoint]
	if !ok {
		return nil, nil
	}
	return &c, nil
}

// WebhookCursors implements agentos.WebhookStore.
func (s *Store) WebhookCursors(ctx context.Context) ([]agentos.WebhookCursor, error) {
	d, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	out := slices.Collect(maps.Values(d.webhooks))
	slices.SortFunc(out, func(a, b agentos.WebhookCursor) int { return cmp.Compare(a.Endpoint, b.Endpoint) })
	return out, nil
}

// SaveWebhookCursor implements agentos.WebhookStore.
func (s *Store) SaveWebhookCursor(ctx context.Context, prev *agentos.WebhookCursor, next agentos.WebhookCursor, evs ...agentos.EventInput) error {
	d, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	var stored *agentos.WebhookCursor
	if c, ok := d.webhooks[next.Endpoint]; ok {
		stored = &c
	}
	if !agentos.SameWebhookPosition(stored, prev) {
		return agentos.Errorf(agentos.ECONFLICT, "webhook %s: another deliverer moved its cursor; this one stops for it", next.Endpoint)
	}
	out, err := s.chain(d, evs)
	if err != nil {
		return err
	}
	if next.Updated.IsZero() {
		next.Updated = s.now()
	}
	// Times as the SQL stores keep them: UTC.
	next.Updated = next.Updated.UTC()
	if !next.LastTime.IsZero() {
		next.LastTime = next.LastTime.UTC()
	}
	if d.webhooks == nil {
		d.webhooks = map[string]agentos.WebhookCursor{}
	}
	d.webhooks[next.Endpoint] = next
	d.commitEvents(out)
	return nil
}
