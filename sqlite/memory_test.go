package sqlite

import (
	"fmt"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/memory/memorytest"
)

func TestMemory(t *testing.T) {
	memorytest.Run(t, func(t *testing.T) memory.Index { return MustOpen(t).Memory() })
}

// TestMemoryCommonTerm checks the tiered path: with a tiny CommonCap every
// word is common, and results still come back, rare words still win.
func TestMemoryCommonTerm(t *testing.T) {
	ctx := t.Context()
	ix := MustOpen(t).Memory().(*MemoryIndex)
	ix.CommonCap = 3
	s := memorytest.NewStore(ix)
	var items []agentos.MemoryItem
	for i := range 20 {
		items = append(items, agentos.MemoryItem{Kind: agentos.MemoryFact, Text: fmt.Sprintf("the build step number %d", i)})
	}
	items = append(items, agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "the zebra build"})
	if _, err := s.AddBatch(ctx, items); err != nil {
		t.Fatal(err)
	}
	hits, err := s.Search(ctx, memory.Query{Text: "build zebra", Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	// The rare word is ranked over all its matches, the common one over the
	// newest CommonCap matches only.
	if len(hits) != 3 || hits[0].Item.Text != "the zebra build" {
		t.Fatalf("hits = %+v, want 3 with the zebra first", hits)
	}
	hits, err = s.Search(ctx, memory.Query{Text: "the build", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	// Only the newest CommonCap matches are ranked for an all-common query.
	if len(hits) != 3 {
		t.Fatalf("all-common query: %d hits, want CommonCap=3", len(hits))
	}
}

func TestMemoryAudited(t *testing.T) {
	memorytest.RunAudited(t, func(t *testing.T) (memory.Index, agentos.AuditStore) {
		db := MustOpen(t)
		return db.Memory(), db
	})
}
