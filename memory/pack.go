package memory

import (
	"context"
	"slices"
	"strings"

	"github.com/agentos/agentos"
)

// maxScoped bounds how many scoped items a pack looks at by path alone.
const maxScoped = 5000

// BuildPack selects the items a task's plan is made with: items matching the
// task text (ranked as Search ranks them), then items scoped to q.Paths that
// no word matched. They are ordered by score, then id, and taken in that
// order while their text fits in q.BudgetBytes (an item too large is skipped,
// smaller ones after it may still fit). The same memory and query always give
// the same items in the same order. q.BudgetBytes <= 0 means
// DefaultPackBudget, and the pack records the budget it used.
func (s *Store) BuildPack(ctx context.Context, task string, q agentos.MemoryQuery) (agentos.MemoryPack, error) {
	q = normalizeQuery(q)
	hits, err := s.search(ctx, Terms(q.Text), q.Paths, 200)
	if err != nil {
		return agentos.MemoryPack{}, err
	}
	seen := make(map[string]bool, len(hits))
	for _, h := range hits {
		seen[h.Item.ID] = true
	}
	if len(q.Paths) > 0 {
		scoped, err := s.scoped(ctx, q.Paths, seen)
		if err != nil {
			return agentos.MemoryPack{}, err
		}
		// Items found by scope alone rank after every text match: their base
		// is half the lowest text score (bm25 has no fixed scale to pick from).
		base := scopeOnly
		for _, h := range hits {
			base = min(base, h.Score/2)
		}
		for _, it := range scoped {
			hits = append(hits, Hit{Item: it, Score: weigh(base, it, q.Paths)})
		}
	}
	return assemble(s.NewID("mp_"), task, q, hits), nil
}

func normalizeQuery(q agentos.MemoryQuery) agentos.MemoryQuery {
	if q.BudgetBytes <= 0 {
		q.BudgetBytes = DefaultPackBudget
	}
	paths := []string{}
	for _, p := range q.Paths {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	q.Paths = paths
	return q
}

// assemble orders hits, fills the budget and hashes the pack.
func assemble(id, task string, q agentos.MemoryQuery, hits []Hit) agentos.MemoryPack {
	slices.SortFunc(hits, func(a, b Hit) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Item.ID, b.Item.ID)
	})
	items := []agentos.PackedItem{}
	left := q.BudgetBytes
	for _, h := range hits {
		if len(h.Item.Text) > left {
			continue
		}
		left -= len(h.Item.Text)
		scope := h.Item.Scope
		if scope == nil {
			scope = []string{}
		}
		items = append(items, agentos.PackedItem{
			ID: h.Item.ID, Kind: h.Item.Kind, Text: h.Item.Text,
			Scope: scope, Source: h.Item.Source, Score: h.Score,
		})
	}
	p := agentos.MemoryPack{Version: PackVersion, ID: id, Task: task, Query: q, Items: items}
	p.Hash = p.ComputeHash()
	return p
}

// scoped returns the live items among the newest maxScoped scoped ones
// whose scope matches paths, except those in seen.
func (s *Store) scoped(ctx context.Context, paths []string, seen map[string]bool) ([]agentos.MemoryItem, error) {
	items, err := s.ix.Scoped(ctx, maxScoped, func(scope []string) bool { return scopeMatches(scope, paths) })
	if err != nil {
		return nil, err
	}
	out := make([]agentos.MemoryItem, 0, len(items))
	for _, it := range items {
		if !seen[it.ID] {
			out = append(out, it)
		}
	}
	return out, nil
}

// VerifyPack checks that a pack's hash is the hash of its content.
func VerifyPack(p agentos.MemoryPack) error {
	if got := p.ComputeHash(); got != p.Hash {
		return agentos.Errorf(agentos.ECONFLICT, "MemoryPack %s: hash %s does not match its content (%s): it was altered", p.ID, p.Hash, got)
	}
	return nil
}
