package memory_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/memory/memorytest"
	"github.com/agentos/agentos/sqlite"
)

// MustOpenStore returns a Store on a fresh, migrated agentos.db with a fixed
// clock and sequential ids. The behaviour every adapter shares is tested by
// memorytest (run from package sqlite and package postgres); these tests
// cover the memory's own parts: ids, Markdown import, the HTTP service.
func MustOpenStore(tb testing.TB) *memory.Store {
	tb.Helper()
	db, err := sqlite.Create(context.Background(), filepath.Join(tb.TempDir(), "agentos.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return memorytest.NewStore(db.Memory())
}

func mustAdd(tb testing.TB, s memory.Service, text string, scope ...string) agentos.MemoryItem {
	tb.Helper()
	it, err := s.Add(context.Background(), agentos.MemoryItem{Kind: agentos.MemoryConvention, Text: text, Scope: scope, Author: "human:ann"})
	if err != nil {
		tb.Fatal(err)
	}
	return it
}

func searchIDs(tb testing.TB, s memory.Service, q memory.Query) []string {
	tb.Helper()
	hits, err := s.Search(context.Background(), q)
	if err != nil {
		tb.Fatalf("Search(%q): %v", q.Text, err)
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.Item.ID)
	}
	return ids
}

func TestNewID(t *testing.T) {
	newID := memory.NewStore(nil).NewID
	a := newID("mem_")
	time.Sleep(2 * time.Millisecond)
	b := newID("mem_")
	if len(a) != 20 || a >= b {
		t.Fatalf("ids %q then %q: want 20 characters, sorting by time", a, b)
	}
	seen := map[string]bool{}
	for range 10000 {
		id := newID("")
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}
