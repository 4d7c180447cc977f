package memory_test

import (
	"testing"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/memory"
	"github.com/google/go-cmp/cmp"
)

func TestSplitMarkdown(t *testing.T) {
	src := `---
title: x
---
# Agents

Read this first.
It has two lines.

## Testing
<!-- hidden
note -->
- Run go test ./...
  before pushing.
  - nested detail
* Use -race in CI

1. Numbered step

After the list.

## Code
` + "```sh\ngo vet ./...\n\n```" + `
Trailing paragraph.
`
	got := memory.SplitMarkdown([]byte(src))
	want := []memory.Chunk{
		{Text: "Agents: Read this first.\nIt has two lines.", Line: 6},
		{Text: "Testing: Run go test ./...\nbefore pushing.\n- nested detail", Line: 12},
		{Text: "Testing: Use -race in CI", Line: 15},
		{Text: "Testing: Numbered step", Line: 17},
		{Text: "Testing: After the list.", Line: 19},
		{Text: "Code: ```sh\ngo vet ./...\n\n```\nTrailing paragraph.", Line: 22},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("SplitMarkdown (-want +got):\n%s", d)
	}
	if s := got[1].Source("AGENTS.md"); s != "AGENTS.md:12" {
		t.Fatalf("Source = %q", s)
	}
	if got := memory.SplitMarkdown(nil); len(got) != 0 {
		t.Fatalf("empty file gave %v", got)
	}
}

func TestImport(t *testing.T) {
	ctx := t.Context()
	s := MustOpenStore(t)
	doc := []byte("# Style\n- Use gofmt\n- Errors carry a code\n")
	added, skipped, err := memory.Import(ctx, s, "AGENTS.md", doc, agentos.MemoryConvention, "human:ann")
	if err != nil || len(added) != 2 || skipped != 0 {
		t.Fatalf("Import = %d added, %d skipped, %v", len(added), skipped, err)
	}
	if added[1].Source != "AGENTS.md:3" || added[1].Kind != agentos.MemoryConvention || added[1].Author != "human:ann" {
		t.Fatalf("item = %+v", added[1])
	}
	doc = append(doc, "- Comments say why\n"...)
	added, skipped, err = memory.Import(ctx, s, "AGENTS.md", doc, agentos.MemoryConvention, "human:ann")
	if err != nil || len(added) != 1 || skipped != 2 {
		t.Fatalf("re-import = %d added, %d skipped, %v; want 1 and 2", len(added), skipped, err)
	}
	if ids := searchIDs(t, s, memory.Query{Text: "style gofmt"}); len(ids) == 0 {
		t.Fatal("imported items are not searchable")
	}
}
