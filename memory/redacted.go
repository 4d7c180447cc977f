package memory

import (
	"context"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/redact"
)

// Redacted is a Service through which every text that enters or leaves the
// memory passes a redactor: an item's text and source on add, the text of
// an edit or a promotion, and the items read back (a remote service's
// items come from outside; an item stored before redaction was the rule
// must not be printed raw), packs included (their hash recomputed over
// the redacted items, as the store hashes a pack it keeps).
//
// It is the memory's one redaction point: `agentos memory` (add, import,
// edit, promote, search, list, show), `agentos memory serve` and the
// pipeline's own remembering all write through it.
type Redacted struct {
	Service
	Redact func(string) string
}

var _ Service = (*Redacted)(nil)

// WithRedaction returns svc with its texts redacted by r (nil: the
// built-in rules).
func WithRedaction(svc Service, r func(string) string) *Redacted {
	if r == nil {
		r = redact.String
	}
	if w, ok := svc.(*Redacted); ok {
		svc = w.Service
	}
	return &Redacted{Service: svc, Redact: r}
}

func (s *Redacted) item(it agentos.MemoryItem) agentos.MemoryItem { return RedactItem(it, s.Redact) }

// RedactItem is it with its free text (text, source) redacted by r: what
// Redacted does to every item, for writers that hold a narrower interface
// (the coordinator's remember).
func RedactItem(it agentos.MemoryItem, r func(string) string) agentos.MemoryItem {
	it.Text, it.Source = r(it.Text), r(it.Source)
	return it
}

// Add implements Service.
func (s *Redacted) Add(ctx context.Context, item agentos.MemoryItem) (agentos.MemoryItem, error) {
	it, err := s.Service.Add(ctx, s.item(item))
	return s.item(it), err
}

// Get implements Service.
func (s *Redacted) Get(ctx context.Context, id string) (agentos.MemoryItem, error) {
	it, err := s.Service.Get(ctx, id)
	return s.item(it), err
}

// List implements Service.
func (s *Redacted) List(ctx context.Context, f ListFilter) ([]agentos.MemoryItem, error) {
	items, err := s.Service.List(ctx, f)
	for i := range items {
		items[i] = s.item(items[i])
	}
	return items, err
}

// Edit implements Service.
func (s *Redacted) Edit(ctx context.Context, id, text, actor string) (agentos.MemoryItem, error) {
	it, err := s.Service.Edit(ctx, id, s.Redact(text), actor)
	return s.item(it), err
}

// Search implements Service. The query is not stored; hits are redacted.
func (s *Redacted) Search(ctx context.Context, q Query) ([]Hit, error) {
	hits, err := s.Service.Search(ctx, q)
	for i := range hits {
		hits[i].Item = s.item(hits[i].Item)
	}
	return hits, err
}

// Promote implements Service.
func (s *Redacted) Promote(ctx context.Context, id string, kind agentos.MemoryKind, text, actor string) (agentos.MemoryItem, error) {
	it, err := s.Service.Promote(ctx, id, kind, s.Redact(text), actor)
	return s.item(it), err
}

// BuildPack implements Service: the pack's items redacted, its hash over
// what it now holds.
func (s *Redacted) BuildPack(ctx context.Context, task string, q agentos.MemoryQuery) (agentos.MemoryPack, error) {
	p, err := s.Service.BuildPack(ctx, task, q)
	if err != nil {
		return p, err
	}
	changed := false
	for i := range p.Items {
		it := &p.Items[i]
		text, source := s.Redact(it.Text), s.Redact(it.Source)
		changed = changed || text != it.Text || source != it.Source
		it.Text, it.Source = text, source
	}
	if changed {
		p.Hash = p.ComputeHash()
	}
	return p, nil
}
