package postgres_test

import (
	"fmt"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/memory/memorytest"
	"github.com/agentos/agentos/postgres"
)

func openMemory(d *dbs) func(t *testing.T) *postgres.MemoryIndex {
	open := opener[*testing.T](d)
	return func(t *testing.T) *postgres.MemoryIndex {
		return open(t).(*postgres.DB).Memory().(*postgres.MemoryIndex)
	}
}

// TestMemory runs the memory conformance suite, the one package sqlite
// runs, on PostgreSQL: one database per subtest.
func TestMemory(t *testing.T) {
	serverURL(t)
	open := openMemory(&dbs{})
	memorytest.Run(t, func(t *testing.T) memory.Index { return open(t) })
}

// TestMemoryCommonTerm checks the tiered path: with a tiny CommonCap every
// word is common, and results still come back, rare words still win.
func TestMemoryCommonTerm(t *testing.T) {
	serverURL(t)
	ctx := t.Context()
	ix := openMemory(&dbs{})(t)
	ix.CommonCap = 3
	s := memorytest.NewStore(ix)
	var items []agentos.MemoryItem
	for i := range 20 {
		items = append(items, agentos.MemoryItem{Kind: agentos.MemoryFact, Text: fmt.Sprintf("a build step, number %d", i)})
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
	// newest CommonCap matches only (the zebra item is one of them).
	if len(hits) != 3 || hits[0].Item.Text != "the zebra build" {
		t.Fatalf("hits = %+v, want 3 with the zebra first", hits)
	}
	hits, err = s.Search(ctx, memory.Query{Text: "step build", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	// Only the newest CommonCap matches are ranked for an all-common query.
	if len(hits) != 3 {
		t.Fatalf("all-common query: %d hits, want CommonCap=3", len(hits))
	}
}

// TestMemoryAudited: a memory write and its audit event are one
// transaction on PostgreSQL too.
func TestMemoryAudited(t *testing.T) {
	serverURL(t)
	open := opener[*testing.T](&dbs{})
	memorytest.RunAudited(t, func(t *testing.T) (memory.Index, agentos.AuditStore) {
		db := open(t).(*postgres.DB)
		return db.Memory(), db
	})
}
