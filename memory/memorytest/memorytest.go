// Package memorytest is the conformance suite every memory.Index passes: one
// set of behaviours (add, edit and remove by supersede, list, search with
// stemming, scope and limit, packs) run against each store adapter, so the
// SQLite and PostgreSQL memories answer the same query the same way.
package memorytest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/memory"
)

// NewStore returns a Store on ix with a fixed clock, one second a tick, and
// sequential ids (mem_0001, mp_0001, ...), so tests can name what they expect.
func NewStore(ix memory.Index) *memory.Store {
	s := memory.NewStore(ix)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	n := 0
	s.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return t0.Add(time.Duration(n) * time.Second)
	}
	ids := map[string]int{}
	s.NewID = func(prefix string) string {
		mu.Lock()
		defer mu.Unlock()
		ids[prefix]++
		return fmt.Sprintf("%s%04d", prefix, ids[prefix])
	}
	return s
}

// Run runs the suite. open returns a fresh, empty index for each subtest.
func Run(t *testing.T, open func(t *testing.T) memory.Index) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, ix memory.Index)
	}{
		{"AddGet", testAddGet},
		{"Edit", testEdit},
		{"Remove", testRemove},
		{"SupersedeOnce", testSupersedeOnce},
		{"ConcurrentEdits", testConcurrentEdits},
		{"List", testList},
		{"Stemming", testStemming},
		{"Ranking", testRanking},
		{"ScopeWeight", testScopeWeight},
		{"Tags", testTags},
		{"Limit", testLimit},
		{"HostileQueries", testHostileQueries},
		{"BuildPack", testBuildPack},
		{"BuildPackEmpty", testBuildPackEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func add(tb testing.TB, s memory.Service, text string, scope ...string) agentos.MemoryItem {
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
	ids := []string{}
	for _, h := range hits {
		if h.Item.SupersededBy != "" {
			tb.Fatalf("Search(%q) returned superseded item %s", q.Text, h.Item.ID)
		}
		ids = append(ids, h.Item.ID)
	}
	return ids
}

func ids(items []agentos.MemoryItem) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func testAddGet(t *testing.T, ix memory.Index) {
	ctx := t.Context()
	s := NewStore(ix)
	it, err := s.Add(ctx, agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "  The CI runs on Go 1.26 ", Scope: []string{"./ci/", "ci"}, Tags: []string{"ci", "ci", " go "}, Source: "AGENTS.md:3", Confidence: 0.8})
	if err != nil {
		t.Fatal(err)
	}
	if it.ID == "" || it.Text != "The CI runs on Go 1.26" || !slices.Equal(it.Scope, []string{"ci"}) || !slices.Equal(it.Tags, []string{"ci", "go"}) {
		t.Fatalf("Add = %+v", it)
	}
	if it.Author != "system" {
		t.Fatalf("author %q, want system", it.Author)
	}
	got, err := s.Get(ctx, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != it.ID || got.Kind != it.Kind || got.Text != it.Text || !slices.Equal(got.Scope, it.Scope) || !slices.Equal(got.Tags, it.Tags) ||
		got.Source != it.Source || got.Author != it.Author || got.Confidence != 0.8 || got.SupersededBy != "" ||
		!got.CreatedAt.Equal(it.CreatedAt) || !got.UpdatedAt.Equal(it.UpdatedAt) {
		t.Fatalf("Get = %+v, want %+v", got, it)
	}
	// Unscoped, untagged items read back with empty lists, not null.
	plain := add(t, s, "Plain")
	if got, err := s.Get(ctx, plain.ID); err != nil || got.Scope == nil || got.Tags == nil || len(got.Scope)+len(got.Tags) != 0 {
		t.Fatalf("Get(plain) = %+v, %v: want empty scope and tags", got, err)
	}
	for _, tc := range []struct {
		name string
		it   agentos.MemoryItem
	}{
		{"ErrKind", agentos.MemoryItem{Kind: "rumour", Text: "x"}},
		{"ErrEmptyText", agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "  "}},
		{"ErrConfidence", agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "x", Confidence: 1.5}},
		{"ErrScopeEscape", agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "x", Scope: []string{"../etc"}}},
		{"ErrTag", agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "x", Tags: []string{""}}},
	} {
		if _, err := s.Add(ctx, tc.it); agentos.ErrorCode(err) != agentos.EINVALID {
			t.Errorf("%s: Add error = %v, want code invalid", tc.name, err)
		}
	}
	if _, err := s.Get(ctx, "mem_nope"); agentos.ErrorCode(err) != agentos.ENOTFOUND {
		t.Fatalf("Get(unknown) error = %v, want not_found", err)
	}
	// A batch is all or none: one bad item stores nothing.
	if _, err := s.AddBatch(ctx, []agentos.MemoryItem{{Kind: agentos.MemoryFact, Text: "batched fine"}, {Kind: "bad", Text: "x"}}); err == nil {
		t.Fatal("AddBatch with a bad item succeeded")
	}
	if got := searchIDs(t, s, memory.Query{Text: "batched"}); len(got) != 0 {
		t.Fatalf("a failed batch left %v behind", got)
	}
}

func testEdit(t *testing.T, ix memory.Index) {
	ctx := t.Context()
	s := NewStore(ix)
	old := add(t, s, "Releases are cut from the release branches only", "release/**")
	add(t, s, "Tags are signed")
	if got := searchIDs(t, s, memory.Query{Text: "release"}); !slices.Equal(got, []string{old.ID}) {
		t.Fatalf("before edit: search release = %v, want [%s]", got, old.ID)
	}
	nw, err := s.Edit(ctx, old.ID, "Shipping happens from the main branch", "human:bob")
	if err != nil {
		t.Fatal(err)
	}
	if nw.ID == old.ID || nw.Author != "human:bob" || !slices.Equal(nw.Scope, old.Scope) || nw.Kind != old.Kind {
		t.Fatalf("Edit = %+v", nw)
	}
	if got := searchIDs(t, s, memory.Query{Text: "release releases"}); len(got) != 0 {
		t.Fatalf("after edit: the old words still find %v", got)
	}
	if got := searchIDs(t, s, memory.Query{Text: "shipping"}); !slices.Equal(got, []string{nw.ID}) {
		t.Fatalf("after edit: search shipping = %v, want [%s]", got, nw.ID)
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
	if live, err := s.List(ctx, memory.ListFilter{}); err != nil || len(live) != 2 {
		t.Fatalf("List live = %d items, %v; want 2", len(live), err)
	}
	if all, err := s.List(ctx, memory.ListFilter{All: true}); err != nil || len(all) != 3 {
		t.Fatalf("List all = %d items, %v; want 3", len(all), err)
	}
}

func testRemove(t *testing.T, ix memory.Index) {
	ctx := t.Context()
	s := NewStore(ix)
	a := add(t, s, "Never commit vendored code", "vendor/**")
	b := add(t, s, "Commit messages use the imperative mood")
	if err := s.Remove(ctx, a.ID, "human:ann"); err != nil {
		t.Fatal(err)
	}
	if got := searchIDs(t, s, memory.Query{Text: "commit vendored", Paths: []string{"vendor/x"}}); !slices.Equal(got, []string{b.ID}) {
		t.Fatalf("after rm: search = %v, want only [%s]", got, b.ID)
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

// testSupersedeOnce: the index itself refuses to supersede an item twice,
// so two writers racing past Store's check cannot both win.
func testSupersedeOnce(t *testing.T, ix memory.Index) {
	ctx := t.Context()
	s := NewStore(ix)
	a := add(t, s, "Deploys happen on Tuesdays")
	next := agentos.MemoryItem{ID: "mem_racer", Kind: a.Kind, Text: "Deploys happen on Thursdays", Scope: []string{}, Tags: []string{}, Author: "human:bob", Confidence: 1, CreatedAt: a.CreatedAt, UpdatedAt: a.CreatedAt}
	if err := ix.Supersede(ctx, a.ID, nil, "human:ann", a.CreatedAt); err != nil {
		t.Fatal(err)
	}
	if err := ix.Supersede(ctx, a.ID, &next, "human:bob", a.CreatedAt); agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Fatalf("second Supersede = %v, want conflict", err)
	}
	// The refused one wrote nothing: no successor, the removal stands.
	if _, ok, err := ix.Item(ctx, next.ID); ok || err != nil {
		t.Fatalf("the refused successor was stored (%v)", err)
	}
	if got, _ := s.Get(ctx, a.ID); got.SupersededBy != memory.Removed {
		t.Fatalf("Get = %+v, want removed", got)
	}
}

// testConcurrentEdits: writers editing one item at once, each through its
// own Store (as separate processes would), leave exactly one successor.
func testConcurrentEdits(t *testing.T, ix memory.Index) {
	ctx := t.Context()
	a := add(t, NewStore(ix), "Deploys happen on Tuesdays")
	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := memory.NewStore(ix)
			_, errs[i] = s.Edit(ctx, a.ID, fmt.Sprintf("Deploys happen on day %d", i), fmt.Sprintf("human:w%d", i))
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case agentos.ErrorCode(err) != agentos.ECONFLICT:
			t.Errorf("writer %d: %v, want success or conflict", i, err)
		}
	}
	live, err := NewStore(ix).List(ctx, memory.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := NewStore(ix).List(ctx, memory.ListFilter{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if won != 1 || len(live) != 1 || len(all) != 2 || live[0].ID == a.ID {
		t.Fatalf("%d writers won, %d live and %d items in all; want 1, 1 (the successor) and 2", won, len(live), len(all))
	}
}

func testList(t *testing.T, ix memory.Index) {
	ctx := t.Context()
	s := NewStore(ix)
	mk := func(it agentos.MemoryItem) agentos.MemoryItem {
		t.Helper()
		out, err := s.Add(ctx, it)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a := mk(agentos.MemoryItem{Kind: agentos.MemoryLesson, Text: "go vet failed on x", Tags: []string{"ci"}, Source: "task:t1"})
	b := mk(agentos.MemoryItem{Kind: agentos.MemoryConvention, Text: "use tabs", Source: "AGENTS.md:4"})
	c := mk(agentos.MemoryItem{Kind: agentos.MemoryConvention, Text: "use gofmt", Source: "AGENTS.md.bak:1", Tags: []string{"cix"}})
	d := mk(agentos.MemoryItem{Kind: agentos.MemoryConvention, Text: "écrire en français", Source: "docs/RÈGLES_%.md:2"})
	e := mk(agentos.MemoryItem{Kind: agentos.MemoryConvention, Text: "wildcards are literal", Source: "docs/R_GLES_x.md:2"})
	if err := s.Remove(ctx, e.ID, "human:ann"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    memory.ListFilter
		want []string
	}{
		{"Live", memory.ListFilter{}, []string{d.ID, c.ID, b.ID, a.ID}},
		{"All", memory.ListFilter{All: true}, []string{e.ID, d.ID, c.ID, b.ID, a.ID}},
		{"SourceNonASCII", memory.ListFilter{Source: "docs/RÈGLES_%.md"}, []string{d.ID}},
		{"SourceNoWildcards", memory.ListFilter{Source: "docs/R_GLES_%.md", All: true}, []string{}},
		{"Kind", memory.ListFilter{Kind: agentos.MemoryLesson}, []string{a.ID}},
		{"Tag", memory.ListFilter{Tag: "ci"}, []string{a.ID}},
		{"Source", memory.ListFilter{Source: "AGENTS.md"}, []string{b.ID}},
		{"Limit", memory.ListFilter{Limit: 1}, []string{d.ID}},
		{"KindAndTag", memory.ListFilter{Kind: agentos.MemoryConvention, Tag: "cix"}, []string{c.ID}},
	} {
		got, err := s.List(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("%s: List(%+v) = %v, want %v", tc.name, tc.f, ids(got), tc.want)
		}
	}
	if _, err := s.List(ctx, memory.ListFilter{Kind: "bogus"}); agentos.ErrorCode(err) != agentos.EINVALID {
		t.Fatalf("List bad kind error = %v", err)
	}
}

// testStemming: the query semantics the CLI documents, `agentos memory
// search "release branch"` finding "release branches".
func testStemming(t *testing.T, ix memory.Index) {
	s := NewStore(ix)
	it := add(t, s, "Releases are cut from the release/* branches only", "release/**")
	add(t, s, "Unrelated: the linter runs in CI")
	for _, q := range []string{"release branch", "branching", "RELEASED", "branches"} {
		if got := searchIDs(t, s, memory.Query{Text: q}); !slices.Equal(got, []string{it.ID}) {
			t.Errorf("search %q = %v, want [%s]", q, got, it.ID)
		}
	}
}

// testRanking: an item holding every query word ranks above items holding one.
func testRanking(t *testing.T, ix memory.Index) {
	s := NewStore(ix)
	one := add(t, s, "Release notes are written in CHANGELOG.md")
	both := add(t, s, "Cut each release from its own branch")
	other := add(t, s, "Branch names use kebab case")
	add(t, s, "Nothing to see here")
	got := searchIDs(t, s, memory.Query{Text: "release branch"})
	if len(got) != 3 || got[0] != both.ID || !slices.Contains(got, one.ID) || !slices.Contains(got, other.ID) {
		t.Fatalf("search release branch = %v, want %s first, then %s and %s", got, both.ID, one.ID, other.ID)
	}
}

// testScopeWeight: among equal text matches, an item scoped to the task's
// paths ranks first and an item scoped elsewhere last; Paths never filter.
func testScopeWeight(t *testing.T, ix memory.Index) {
	ctx := t.Context()
	s := NewStore(ix)
	generic := add(t, s, "Run the tests before pushing")
	scoped := add(t, s, "Run the sqlite tests with race", "sqlite/**")
	elsewhere := add(t, s, "Run the ui tests in a browser", "web/**")
	add(t, s, "Nothing relevant here")
	hits, err := s.Search(ctx, memory.Query{Text: "tests", Paths: []string{"sqlite/sqlite.go"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hits {
		got = append(got, h.Item.ID)
	}
	if want := []string{scoped.ID, generic.ID, elsewhere.ID}; !slices.Equal(got, want) {
		t.Fatalf("ranking = %v, want %v (scope match first, foreign scope last)", got, want)
	}
	if hits[0].Score <= hits[1].Score || hits[1].Score <= hits[2].Score || hits[2].Score <= 0 {
		t.Fatalf("scores not strictly decreasing and positive: %+v", hits)
	}
	// Without paths, every scope weighs the same: nothing is filtered out.
	if got := searchIDs(t, s, memory.Query{Text: "tests"}); len(got) != 3 {
		t.Fatalf("search without paths = %v, want all three", got)
	}
}

func testTags(t *testing.T, ix memory.Index) {
	ctx := t.Context()
	s := NewStore(ix)
	add(t, s, "We keep backups nightly")
	tagged, err := s.Add(ctx, agentos.MemoryItem{Kind: agentos.MemoryDecision, Text: "We chose WAL mode", Tags: []string{"durability"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := searchIDs(t, s, memory.Query{Text: "durability"}); !slices.Equal(got, []string{tagged.ID}) {
		t.Fatalf("tag search = %v, want [%s]", got, tagged.ID)
	}
}

func testLimit(t *testing.T, ix memory.Index) {
	ctx := t.Context()
	s := NewStore(ix)
	var items []agentos.MemoryItem
	for i := range 60 {
		items = append(items, agentos.MemoryItem{Kind: agentos.MemoryFact, Text: fmt.Sprintf("deploy step %d needs care", i)})
	}
	if _, err := s.AddBatch(ctx, items); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ limit, want int }{{1, 1}, {5, 5}, {0, 10}, {100, 60}} {
		if got := searchIDs(t, s, memory.Query{Text: "deploy", Limit: tc.limit}); len(got) != tc.want {
			t.Errorf("search limit %d: %d hits, want %d", tc.limit, len(got), tc.want)
		}
	}
	if got, err := s.List(ctx, memory.ListFilter{}); err != nil || len(got) != 60 {
		t.Errorf("List default limit: %d items, %v; want 60", len(got), err)
	}
	if got, err := s.List(ctx, memory.ListFilter{Limit: 7}); err != nil || len(got) != 7 {
		t.Errorf("List limit 7: %d items, %v", len(got), err)
	}
}

// HostileQueries are texts that would break a query language if passed on.
var HostileQueries = []string{
	"", " ", "api-key", "C++", `"unbalanced`, `"`, `""`, "NEAR", "NEAR(a b)", "a NEAR b", "*", "a*", "^start",
	"AND", "OR", "NOT", "a AND", "OR b", "NOT NOT", "(", ")", "(a OR", "text:foo", "-x", "{text tags}: x",
	"a & b", "a | b", "!a", "a <-> b", "a:*", "'a'", `\`, "$1", "?",
	"🔥", "deploy 🚀 prod", "'; DROP TABLE memory_items; --", "\x00", "\xff\xfe", "a\u0301", "日本語のテスト",
	strings.Repeat("word ", 500), strings.Repeat("x", 1000),
}

func testHostileQueries(t *testing.T, ix memory.Index) {
	ctx := t.Context()
	s := NewStore(ix)
	key := add(t, s, "Store the api-key in the vault, never in code")
	add(t, s, "C++ sources follow the Google style", "native/**")
	add(t, s, "NEAR the release, freeze the API 🚀")
	for _, q := range HostileQueries {
		if _, err := s.Search(ctx, memory.Query{Text: q, Paths: []string{q}}); err != nil {
			t.Errorf("Search(%q): %v", q, err)
		}
		if _, err := s.BuildPack(ctx, "t", agentos.MemoryQuery{Text: q, Paths: []string{q}}); err != nil {
			t.Errorf("BuildPack(%q): %v", q, err)
		}
	}
	if got := searchIDs(t, s, memory.Query{Text: "api-key"}); len(got) == 0 || got[0] != key.ID {
		t.Errorf("api-key found %v, want %s first", got, key.ID)
	}
	if got := searchIDs(t, s, memory.Query{Text: "near"}); len(got) != 1 {
		t.Errorf("NEAR as a word found %v, want the one item holding it", got)
	}
	if got := searchIDs(t, s, memory.Query{Text: "a & vault"}); !slices.Equal(got, []string{key.ID}) {
		t.Errorf("a & vault found %v, want [%s]", got, key.ID)
	}
}

func packIDs(p agentos.MemoryPack) []string {
	var out []string
	for _, it := range p.Items {
		out = append(out, it.ID)
	}
	return out
}

func testBuildPack(t *testing.T, ix memory.Index) {
	ctx := t.Context()
	s := NewStore(ix)
	match := add(t, s, "Migrations are numbered and never edited once merged", "sqlite/migrations/**")
	byScope := add(t, s, "Every table change needs a migration test", "sqlite/**")
	add(t, s, "Frontend uses pnpm", "web/**")
	onlyScope := add(t, s, "Keep foreign keys on", "sqlite")
	global := add(t, s, "Migrations run at startup")
	big := add(t, s, "migrations "+strings.Repeat("padding ", 200))
	removed := add(t, s, "Migrations are reversible")
	if err := s.Remove(ctx, removed.ID, "human:ann"); err != nil {
		t.Fatal(err)
	}
	q := agentos.MemoryQuery{Text: "add a migration for the migrations table", Paths: []string{"sqlite/migrations/0003_x.sql"}, BudgetBytes: 200}
	p, err := s.BuildPack(ctx, "task1", q)
	if err != nil {
		t.Fatal(err)
	}
	got := packIDs(p)
	for _, want := range []string{match.ID, byScope.ID, global.ID, onlyScope.ID} {
		if !slices.Contains(got, want) {
			t.Errorf("pack %v lacks %s", got, want)
		}
	}
	if slices.Contains(got, big.ID) || slices.Contains(got, removed.ID) {
		t.Errorf("pack %v holds the over-budget or the removed item", got)
	}
	if len(got) != 4 || !slices.Contains(got[:2], match.ID) || !slices.Contains(got[:2], byScope.ID) || got[3] != onlyScope.ID {
		t.Errorf("pack order %v: want the two scoped text matches first, the item found by scope alone last", got)
	}
	size := 0
	for i, it := range p.Items {
		size += len(it.Text)
		if i > 0 && it.Score > p.Items[i-1].Score {
			t.Errorf("items not ordered by score: %+v", p.Items)
		}
	}
	if size > q.BudgetBytes {
		t.Errorf("pack text is %d bytes, budget %d", size, q.BudgetBytes)
	}
	if p.Hash != p.ComputeHash() {
		t.Fatal("hash not set to ComputeHash")
	}
	// Same memory, same query: same items, scores and order.
	p2, err := s.BuildPack(ctx, "task1", q)
	if err != nil {
		t.Fatal(err)
	}
	p2.ID = p.ID
	if p2.ComputeHash() != p.Hash {
		t.Fatalf("rebuild differs:\n%+v\n%+v", p.Items, p2.Items)
	}
}

func testBuildPackEmpty(t *testing.T, ix memory.Index) {
	s := NewStore(ix)
	p, err := s.BuildPack(t.Context(), "task1", agentos.MemoryQuery{Text: "anything at all", Paths: []string{"a.go"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.ID == "" || p.Task != "task1" || p.Version != memory.PackVersion || p.Items == nil || len(p.Items) != 0 {
		t.Fatalf("empty pack = %+v", p)
	}
	if p.Hash == "" || memory.VerifyPack(p) != nil {
		t.Fatalf("empty pack hash %q, want %q", p.Hash, p.ComputeHash())
	}
	if p.Query.BudgetBytes != memory.DefaultPackBudget {
		t.Fatalf("budget = %d, want the default recorded", p.Query.BudgetBytes)
	}
}

// RunAudited is the conformance case for audited writes, on an index that
// lives in the store log belongs to (the store's own Memory()): every
// write through memory.Audited is one memory.write event in the chain, and
// a write and its event are one transaction: when the event cannot be
// appended, the write is not kept either.
func RunAudited(t *testing.T, open func(t *testing.T) (memory.Index, agentos.AuditStore)) {
	ctx := context.Background()
	ix, log := open(t)
	s := NewStore(ix)
	a := memory.WithAudit(s, log)
	count := func() int {
		t.Helper()
		evs, err := log.Events(ctx, agentos.EventFilter{Kind: agentos.EventMemoryWrite})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	it, err := a.Add(ctx, agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "the build uses make", Author: "human:ann"})
	if err != nil {
		t.Fatal(err)
	}
	ed, err := a.Edit(ctx, it.ID, "the build uses just", "human:ann")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(ctx, ed.ID, "human:ann"); err != nil {
		t.Fatal(err)
	}
	evs, err := log.Events(ctx, agentos.EventFilter{Kind: agentos.EventMemoryWrite})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].Actor != "human:ann" || !strings.Contains(string(evs[0].Data), it.ID) || !strings.Contains(string(evs[1].Data), ed.ID) {
		t.Fatalf("memory.write events = %+v, want add, edit, remove by human:ann", evs)
	}

	// One transaction: an event the chain refuses takes its write with it.
	bad := agentos.EventInput{Actor: agentos.System, Kind: agentos.EventMemoryWrite, Data: make(chan int)}
	lost := agentos.MemoryItem{ID: "mem_lost", Kind: agentos.MemoryFact, Text: "never kept", Author: "system",
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := ix.Insert(ctx, []agentos.MemoryItem{lost}, bad); err == nil {
		t.Fatal("Insert with an event that cannot be appended succeeded")
	}
	if _, ok, err := ix.Item(ctx, "mem_lost"); err != nil || ok {
		t.Fatalf("the write of a failed event was kept (ok=%v, err=%v)", ok, err)
	}
	live, err := a.Add(ctx, agentos.MemoryItem{Kind: agentos.MemoryFact, Text: "still here", Author: "human:ann"})
	if err != nil {
		t.Fatal(err)
	}
	next := live
	next.ID, next.Text = "mem_next", "replaced"
	if err := ix.Supersede(ctx, live.ID, &next, "human:ann", time.Now().UTC(), bad); err == nil {
		t.Fatal("Supersede with an event that cannot be appended succeeded")
	}
	if got, ok, err := ix.Item(ctx, live.ID); err != nil || !ok || got.SupersededBy != "" {
		t.Fatalf("a supersede whose event failed took effect: %+v, %v, %v", got, ok, err)
	}
	if _, ok, _ := ix.Item(ctx, "mem_next"); ok {
		t.Fatal("a supersede whose event failed inserted its item")
	}
	if n := count(); n != 4 {
		t.Fatalf("%d memory.write events, want 4 (add, edit, remove, add)", n)
	}
	if _, err := log.VerifyChain(ctx); err != nil {
		t.Fatal(err)
	}
}
