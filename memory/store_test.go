package memory_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/sqlite"
)

// MustOpenStore returns a Store on a fresh, migrated agentos.db with a fixed
// clock and sequential ids.
func MustOpenStore(tb testing.TB) *memory.Store {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "agentos.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	s := memory.NewStore(db.SQL())
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := 0
	s.Now = func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) }
	ids := map[string]int{}
	s.NewID = func(prefix string) string { ids[prefix]++; return fmt.Sprintf("%s%04d", prefix, ids[prefix]) }
	return s
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

func TestAddGet(t *testing.T) {
	ctx := t.Context()
	s := MustOpenStore(t)
	t.Run("OK", func(t *testing.T) {
		it, err := s.Add(ctx, agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "  The CI runs on Go 1.26 ", Scope: []string{"./ci/", "ci"}, Tags: []string{"ci", "ci", " go "}, Source: "AGENTS.md:3"})
		if err != nil {
			t.Fatal(err)
		}
		if it.ID == "" || it.Text != "The CI runs on Go 1.26" || !slices.Equal(it.Scope, []string{"ci"}) || !slices.Equal(it.Tags, []string{"ci", "go"}) {
			t.Fatalf("Add = %+v", it)
		}
		if it.Confidence != 1 || it.Author != "system" {
			t.Fatalf("defaults: confidence %v author %q, want 1 and system", it.Confidence, it.Author)
		}
		got, err := s.Get(ctx, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(it.CreatedAt) || got.Text != it.Text || got.Source != "AGENTS.md:3" || !slices.Equal(got.Tags, it.Tags) {
			t.Fatalf("Get = %+v, want %+v", got, it)
		}
	})
	for _, tc := range []struct {
		name string
		it   agentos.MemoryItem
	}{
		{"ErrKind", agentos.MemoryItem{Kind: "rumour", Text: "x"}},
		{"ErrEmptyText", agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "  "}},
		{"ErrConfidence", agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "x", Confidence: 1.5}},
		{"ErrScopeEscape", agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "x", Scope: []string{"../etc"}}},
		{"ErrScopeAbsolute", agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "x", Scope: []string{"/etc"}}},
		{"ErrScopeBadGlob", agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "x", Scope: []string{"a/[b"}}},
		{"ErrTag", agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "x", Tags: []string{""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Add(ctx, tc.it); agentos.ErrorCode(err) != agentos.EINVALID {
				t.Fatalf("Add error = %v, want code invalid", err)
			}
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := s.Get(ctx, "mem_nope"); agentos.ErrorCode(err) != agentos.ENOTFOUND {
			t.Fatalf("Get error = %v, want not_found", err)
		}
	})
}

func TestEditKeepsIndexExact(t *testing.T) {
	ctx := t.Context()
	s := MustOpenStore(t)
	old := mustAdd(t, s, "Releases are cut from the release branches only", "release/**")
	mustAdd(t, s, "Tags are signed")
	if ids := searchIDs(t, s, memory.Query{Text: "release"}); !slices.Equal(ids, []string{old.ID}) {
		t.Fatalf("before edit: search release = %v, want [%s]", ids, old.ID)
	}
	nw, err := s.Edit(ctx, old.ID, "Shipping happens from the main branch", "human:bob")
	if err != nil {
		t.Fatal(err)
	}
	if nw.ID == old.ID || nw.Author != "human:bob" || !slices.Equal(nw.Scope, old.Scope) || nw.Kind != old.Kind {
		t.Fatalf("Edit = %+v", nw)
	}
	if ids := searchIDs(t, s, memory.Query{Text: "release releases"}); len(ids) != 0 {
		t.Fatalf("after edit: the old words still find %v", ids)
	}
	if ids := searchIDs(t, s, memory.Query{Text: "shipping"}); !slices.Equal(ids, []string{nw.ID}) {
		t.Fatalf("after edit: search shipping = %v, want [%s]", ids, nw.ID)
	}
	// The old item stays readable for old packs, pointing at its successor.
	got, err := s.Get(ctx, old.ID)
	if err != nil || got.SupersededBy != nw.ID || got.Text != old.Text {
		t.Fatalf("Get(old) = %+v, %v; want superseded by %s", got, err, nw.ID)
	}
	if _, err := s.Edit(ctx, old.ID, "again", "human:bob"); agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Fatalf("Edit(superseded) error = %v, want conflict", err)
	}
	if _, err := s.Edit(ctx, nw.ID, nw.Text, "human:bob"); agentos.ErrorCode(err) != agentos.EINVALID {
		t.Fatalf("Edit(same text) error = %v, want invalid", err)
	}
	if _, err := s.Edit(ctx, "mem_nope", "x", "human:bob"); agentos.ErrorCode(err) != agentos.ENOTFOUND {
		t.Fatalf("Edit(unknown) error = %v, want not_found", err)
	}
	live, err := s.List(ctx, memory.ListFilter{})
	if err != nil || len(live) != 2 {
		t.Fatalf("List live = %d items, %v; want 2", len(live), err)
	}
	all, err := s.List(ctx, memory.ListFilter{All: true})
	if err != nil || len(all) != 3 {
		t.Fatalf("List all = %d items, %v; want 3", len(all), err)
	}
}

func TestRemove(t *testing.T) {
	ctx := t.Context()
	s := MustOpenStore(t)
	a := mustAdd(t, s, "Never commit vendored code", "vendor/**")
	b := mustAdd(t, s, "Commit messages use the imperative mood")
	if err := s.Remove(ctx, a.ID, "human:ann"); err != nil {
		t.Fatal(err)
	}
	if ids := searchIDs(t, s, memory.Query{Text: "commit vendored", Paths: []string{"vendor/x"}}); !slices.Equal(ids, []string{b.ID}) {
		t.Fatalf("after rm: search = %v, want only [%s]", ids, b.ID)
	}
	got, err := s.Get(ctx, a.ID)
	if err != nil || got.SupersededBy != memory.Removed {
		t.Fatalf("Get(removed) = %+v, %v", got, err)
	}
	if err := s.Remove(ctx, a.ID, "human:ann"); agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Fatalf("Remove twice error = %v, want conflict", err)
	}
	if err := s.Remove(ctx, "mem_nope", "human:ann"); agentos.ErrorCode(err) != agentos.ENOTFOUND {
		t.Fatalf("Remove(unknown) error = %v, want not_found", err)
	}
	p, err := s.BuildPack(ctx, "t1", agentos.MemoryQuery{Text: "vendored commit", Paths: []string{"vendor/a.go"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range p.Items {
		if it.ID == a.ID {
			t.Fatalf("a removed item was packed: %+v", p.Items)
		}
	}
}

func TestSearchRanking(t *testing.T) {
	ctx := t.Context()
	s := MustOpenStore(t)
	generic := mustAdd(t, s, "Run the tests before pushing")
	scoped := mustAdd(t, s, "Run the sqlite tests with -race", "sqlite/**")
	elsewhere := mustAdd(t, s, "Run the ui tests in a browser", "web/**")
	mustAdd(t, s, "Nothing relevant here")
	hits, err := s.Search(ctx, memory.Query{Text: "tests", Paths: []string{"sqlite/sqlite.go"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.Item.ID)
	}
	if want := []string{scoped.ID, generic.ID, elsewhere.ID}; !slices.Equal(ids, want) {
		t.Fatalf("ranking = %v, want %v (scope match first, foreign scope last)", ids, want)
	}
	if hits[0].Score <= hits[1].Score {
		t.Fatalf("scores not decreasing: %+v", hits)
	}
	// Tags are searchable.
	tagged, err := s.Add(ctx, agentos.MemoryItem{Kind: agentos.MemoryDecision, Text: "We chose WAL mode", Tags: []string{"durability"}})
	if err != nil {
		t.Fatal(err)
	}
	if ids := searchIDs(t, s, memory.Query{Text: "durability"}); !slices.Equal(ids, []string{tagged.ID}) {
		t.Fatalf("tag search = %v", ids)
	}
	if ids := searchIDs(t, s, memory.Query{Text: "tests", Limit: 1}); len(ids) != 1 {
		t.Fatalf("limit 1 gave %d hits", len(ids))
	}
}

// TestSearchCommonTerm checks the tiered path: with a tiny CommonCap every
// word is common, and results still come back, rare words still win.
func TestSearchCommonTerm(t *testing.T) {
	ctx := t.Context()
	s := MustOpenStore(t)
	s.CommonCap = 3
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

func TestList(t *testing.T) {
	ctx := t.Context()
	s := MustOpenStore(t)
	a, _ := s.Add(ctx, agentos.MemoryItem{Kind: agentos.MemoryLesson, Text: "go vet failed on x", Tags: []string{"ci"}, Source: "task:t1"})
	b, _ := s.Add(ctx, agentos.MemoryItem{Kind: agentos.MemoryConvention, Text: "use tabs", Source: "AGENTS.md:4"})
	c, _ := s.Add(ctx, agentos.MemoryItem{Kind: agentos.MemoryConvention, Text: "use gofmt", Source: "AGENTS.md.bak:1"})
	d, _ := s.Add(ctx, agentos.MemoryItem{Kind: agentos.MemoryConvention, Text: "écrire en français", Source: "docs/RÈGLES_%.md:2"})
	for _, tc := range []struct {
		name string
		f    memory.ListFilter
		want []string
	}{
		{"All", memory.ListFilter{}, []string{d.ID, c.ID, b.ID, a.ID}},
		{"SourceNonASCII", memory.ListFilter{Source: "docs/RÈGLES_%.md"}, []string{d.ID}},
		{"Kind", memory.ListFilter{Kind: agentos.MemoryLesson}, []string{a.ID}},
		{"Tag", memory.ListFilter{Tag: "ci"}, []string{a.ID}},
		{"Source", memory.ListFilter{Source: "AGENTS.md"}, []string{b.ID}},
		{"Limit", memory.ListFilter{Limit: 1}, []string{d.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, it := range got {
				ids = append(ids, it.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("List(%+v) = %v, want %v", tc.f, ids, tc.want)
			}
		})
	}
	if _, err := s.List(ctx, memory.ListFilter{Kind: "bogus"}); agentos.ErrorCode(err) != agentos.EINVALID {
		t.Fatalf("List bad kind error = %v", err)
	}
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
