package memory_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
	"github.com/agentos/agentos/memory"
)

func packIDs(p agentos.MemoryPack) []string {
	var ids []string
	for _, it := range p.Items {
		ids = append(ids, it.ID)
	}
	return ids
}

func TestBuildPackEmpty(t *testing.T) {
	s := MustOpenStore(t)
	p, err := s.BuildPack(t.Context(), "task1", agentos.MemoryQuery{Text: "anything at all", Paths: []string{"a.go"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.ID == "" || p.Task != "task1" || p.Version != memory.PackVersion || p.Items == nil || len(p.Items) != 0 {
		t.Fatalf("empty pack = %+v", p)
	}
	if p.Hash == "" || p.Hash != p.ComputeHash() || memory.VerifyPack(p) != nil {
		t.Fatalf("empty pack hash %q, want %q", p.Hash, p.ComputeHash())
	}
	if p.Query.BudgetBytes != memory.DefaultPackBudget {
		t.Fatalf("budget = %d, want the default recorded", p.Query.BudgetBytes)
	}
	p.Items = append(p.Items, agentos.PackedItem{ID: "forged"})
	if err := memory.VerifyPack(p); agentos.ErrorCode(err) != agentos.ECONFLICT {
		t.Fatalf("VerifyPack(tampered) = %v, want conflict", err)
	}
}

func TestBuildPack(t *testing.T) {
	ctx := t.Context()
	s := MustOpenStore(t)
	match := mustAdd(t, s, "Migrations are numbered and never edited once merged", "sqlite/migrations/**")
	byScope := mustAdd(t, s, "Every table change needs a migration test", "sqlite/**")
	mustAdd(t, s, "Frontend uses pnpm", "web/**")
	onlyScope := mustAdd(t, s, "Keep foreign keys on", "sqlite")
	global := mustAdd(t, s, "Migrations run at startup")
	big := mustAdd(t, s, "migrations "+strings.Repeat("padding ", 200))
	removed := mustAdd(t, s, "Migrations are reversible")
	if err := s.Remove(ctx, removed.ID, "human:ann"); err != nil {
		t.Fatal(err)
	}
	q := agentos.MemoryQuery{Text: "add a migration for the migrations table", Paths: []string{"sqlite/migrations/0003_x.sql"}, BudgetBytes: 200}
	p, err := s.BuildPack(ctx, "task1", q)
	if err != nil {
		t.Fatal(err)
	}
	ids := packIDs(p)
	for _, want := range []string{match.ID, byScope.ID, global.ID, onlyScope.ID} {
		if !slices.Contains(ids, want) {
			t.Errorf("pack %v lacks %s", ids, want)
		}
	}
	if slices.Contains(ids, big.ID) || slices.Contains(ids, removed.ID) {
		t.Errorf("pack %v holds the over-budget or the removed item", ids)
	}
	if len(ids) != 4 || !slices.Contains(ids[:2], match.ID) || !slices.Contains(ids[:2], byScope.ID) || ids[3] != onlyScope.ID {
		t.Errorf("pack order %v: want the two scoped text matches first, the item found by scope alone last", ids)
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
		a, _ := canonjson.Marshal(p)
		b, _ := canonjson.Marshal(p2)
		t.Fatalf("rebuild differs:\n%s\n%s", a, b)
	}
}
